;; Hand-written WebAssembly SIMD kernels for host inference (src/core/kernels/wasm.ts wraps them).
;; Build: `npx tsx scripts/build-wasm.ts` compiles this file with wabt into kernels.wasm.ts.
;;
;; Conventions: every pointer is a byte offset into the exported memory, 16-byte aligned; matrices
;; are row-major float32. Nothing is allocated here: the host lays out its buffers and grows the
;; memory itself.
(module
  (memory (export "memory") 1)

  ;; gemm: C[m,n] = bias_i + A[m,k] · B[k,n], bias_i the n floats at bias + i·biasStride·4 bytes
  ;; (biasStride 0: one [n] bias broadcast to every row; biasStride n: per-row biases [m,n]).
  ;; n must be a multiple of 4; k ≥ 0 any. Rows go four at a time (8-column blocks, then a 4-column
  ;; strip: every B vector loaded feeds four rows, which quarters the traffic over B; ~2x at
  ;; [16,512]x[512,512]), the last m mod 4 one at a time (16-column blocks, then 4). Each output
  ;; block is finished (over all of k) before it is stored, so C may alias the bias rows (C = bias
  ;; with biasStride n updates them in place), but not A or B.
  (func (export "gemm") (param $A i32) (param $B i32) (param $bias i32) (param $biasStride i32)
                        (param $C i32) (param $m i32) (param $k i32) (param $n i32)
    (local $i i32) (local $nb i32) (local $kb i32) (local $bs i32) (local $jb i32) (local $arow i32)
    (local $aend i32) (local $crow i32) (local $brow i32) (local $ap i32) (local $bp i32)
    (local $a v128) (local $b0 v128) (local $b1 v128) (local $c0 v128) (local $c1 v128) (local $c2 v128)
    (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))            ;; row strides in bytes: B and C,
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))            ;; A,
    (local.set $bs (i32.shl (local.get $biasStride) (i32.const 2)))   ;; and the bias
    (local.set $arow (local.get $A))
    (local.set $crow (local.get $C))
    (local.set $brow (local.get $bias))
    ;; blocks of 4 rows × 8 columns: c0,c1 row i, c2,c3 row i+1, c4,c5 row i+2, c6,c7 row i+3
    (block $quadDone (loop $quad
      (br_if $quadDone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
      (local.set $aend (i32.add (local.get $arow) (local.get $kb)))
      (local.set $jb (i32.const 0))                                    ;; column offset in bytes
      (block $q8Done (loop $q8
        (br_if $q8Done (i32.gt_u (i32.add (local.get $jb) (i32.const 32)) (local.get $nb)))
        (local.set $bp (i32.add (local.get $brow) (local.get $jb)))
        (local.set $c0 (v128.load offset=0 (local.get $bp)))
        (local.set $c1 (v128.load offset=16 (local.get $bp)))
        (local.set $bp (i32.add (local.get $bp) (local.get $bs)))
        (local.set $c2 (v128.load offset=0 (local.get $bp)))
        (local.set $c3 (v128.load offset=16 (local.get $bp)))
        (local.set $bp (i32.add (local.get $bp) (local.get $bs)))
        (local.set $c4 (v128.load offset=0 (local.get $bp)))
        (local.set $c5 (v128.load offset=16 (local.get $bp)))
        (local.set $bp (i32.add (local.get $bp) (local.get $bs)))
        (local.set $c6 (v128.load offset=0 (local.get $bp)))
        (local.set $c7 (v128.load offset=16 (local.get $bp)))
        (local.set $bp (i32.add (local.get $B) (local.get $jb)))
        (local.set $ap (local.get $arow))
        (block $qkDone (loop $qk                                       ;; over p < k
          (br_if $qkDone (i32.ge_u (local.get $ap) (local.get $aend)))
          (local.set $b0 (v128.load offset=0 (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $a (v128.load32_splat (local.get $ap)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $a) (local.get $b0))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $a) (local.get $b1))))
          (local.set $a (v128.load32_splat (i32.add (local.get $ap) (local.get $kb))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $a) (local.get $b0))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $a) (local.get $b1))))
          (local.set $a (v128.load32_splat (i32.add (local.get $ap) (i32.shl (local.get $kb) (i32.const 1)))))
          (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $a) (local.get $b0))))
          (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $a) (local.get $b1))))
          (local.set $a (v128.load32_splat (i32.add (local.get $ap) (i32.mul (local.get $kb) (i32.const 3)))))
          (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $a) (local.get $b0))))
          (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $a) (local.get $b1))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (br $qk)))
        (local.set $bp (i32.add (local.get $crow) (local.get $jb)))
        (v128.store offset=0 (local.get $bp) (local.get $c0))
        (v128.store offset=16 (local.get $bp) (local.get $c1))
        (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
        (v128.store offset=0 (local.get $bp) (local.get $c2))
        (v128.store offset=16 (local.get $bp) (local.get $c3))
        (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
        (v128.store offset=0 (local.get $bp) (local.get $c4))
        (v128.store offset=16 (local.get $bp) (local.get $c5))
        (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
        (v128.store offset=0 (local.get $bp) (local.get $c6))
        (v128.store offset=16 (local.get $bp) (local.get $c7))
        (local.set $jb (i32.add (local.get $jb) (i32.const 32)))
        (br $q8)))
      ;; n ≡ 4 (mod 8): the last 4 columns of these rows, one accumulator per row
      (if (i32.lt_u (local.get $jb) (local.get $nb)) (then
        (local.set $bp (i32.add (local.get $brow) (local.get $jb)))
        (local.set $c0 (v128.load (local.get $bp)))
        (local.set $c2 (v128.load (i32.add (local.get $bp) (local.get $bs))))
        (local.set $c4 (v128.load (i32.add (local.get $bp) (i32.shl (local.get $bs) (i32.const 1)))))
        (local.set $c6 (v128.load (i32.add (local.get $bp) (i32.mul (local.get $bs) (i32.const 3)))))
        (local.set $bp (i32.add (local.get $B) (local.get $jb)))
        (local.set $ap (local.get $arow))
        (block $q4Done (loop $q4
          (br_if $q4Done (i32.ge_u (local.get $ap) (local.get $aend)))
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (v128.load32_splat (local.get $ap)) (local.get $b0))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (v128.load32_splat
            (i32.add (local.get $ap) (local.get $kb))) (local.get $b0))))
          (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (v128.load32_splat
            (i32.add (local.get $ap) (i32.shl (local.get $kb) (i32.const 1)))) (local.get $b0))))
          (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (v128.load32_splat
            (i32.add (local.get $ap) (i32.mul (local.get $kb) (i32.const 3)))) (local.get $b0))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (br $q4)))
        (local.set $bp (i32.add (local.get $crow) (local.get $jb)))
        (v128.store (local.get $bp) (local.get $c0))
        (v128.store (i32.add (local.get $bp) (local.get $nb)) (local.get $c2))
        (v128.store (i32.add (local.get $bp) (i32.shl (local.get $nb) (i32.const 1))) (local.get $c4))
        (v128.store (i32.add (local.get $bp) (i32.mul (local.get $nb) (i32.const 3))) (local.get $c6))))
      ;; next four rows of A, C and (unless broadcast) the bias
      (local.set $arow (i32.add (local.get $arow) (i32.shl (local.get $kb) (i32.const 2))))
      (local.set $crow (i32.add (local.get $crow) (i32.shl (local.get $nb) (i32.const 2))))
      (local.set $brow (i32.add (local.get $brow) (i32.shl (local.get $bs) (i32.const 2))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $quad)))
    ;; remaining rows one at a time
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $aend (i32.add (local.get $arow) (local.get $kb)))
      (local.set $jb (i32.const 0))
      ;; blocks of 16 columns: c0..c3 = bias, then c += A[i,p] · B[p, j..j+16] for p < k
      (block $b16Done (loop $b16
        (br_if $b16Done (i32.gt_u (i32.add (local.get $jb) (i32.const 64)) (local.get $nb)))
        (local.set $bp (i32.add (local.get $brow) (local.get $jb)))
        (local.set $c0 (v128.load offset=0 (local.get $bp)))
        (local.set $c1 (v128.load offset=16 (local.get $bp)))
        (local.set $c2 (v128.load offset=32 (local.get $bp)))
        (local.set $c3 (v128.load offset=48 (local.get $bp)))
        (local.set $bp (i32.add (local.get $B) (local.get $jb)))
        (local.set $ap (local.get $arow))
        (block $k16Done (loop $k16
          (br_if $k16Done (i32.ge_u (local.get $ap) (local.get $aend)))
          (local.set $a (v128.load32_splat (local.get $ap)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $a) (v128.load offset=0 (local.get $bp)))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $a) (v128.load offset=16 (local.get $bp)))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $a) (v128.load offset=32 (local.get $bp)))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $a) (v128.load offset=48 (local.get $bp)))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (br $k16)))
        (local.set $bp (i32.add (local.get $crow) (local.get $jb)))
        (v128.store offset=0 (local.get $bp) (local.get $c0))
        (v128.store offset=16 (local.get $bp) (local.get $c1))
        (v128.store offset=32 (local.get $bp) (local.get $c2))
        (v128.store offset=48 (local.get $bp) (local.get $c3))
        (local.set $jb (i32.add (local.get $jb) (i32.const 64)))
        (br $b16)))
      ;; remaining columns in blocks of 4, one accumulator
      (block $b4Done (loop $b4
        (br_if $b4Done (i32.gt_u (i32.add (local.get $jb) (i32.const 16)) (local.get $nb)))
        (local.set $c0 (v128.load (i32.add (local.get $brow) (local.get $jb))))
        (local.set $bp (i32.add (local.get $B) (local.get $jb)))
        (local.set $ap (local.get $arow))
        (block $k4Done (loop $k4
          (br_if $k4Done (i32.ge_u (local.get $ap) (local.get $aend)))
          (local.set $c0 (f32x4.add (local.get $c0)
            (f32x4.mul (v128.load32_splat (local.get $ap)) (v128.load (local.get $bp)))))
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
          (br $k4)))
        (v128.store (i32.add (local.get $crow) (local.get $jb)) (local.get $c0))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $b4)))
      ;; next row of A, C and (unless broadcast) the bias
      (local.set $arow (local.get $aend))
      (local.set $crow (i32.add (local.get $crow) (local.get $nb)))
      (local.set $brow (i32.add (local.get $brow) (local.get $bs)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

  ;; silu: Y[i] = silu(X[i]) (accumulate 0) or Y[i] += silu(X[i]) (accumulate 1), 4 lanes at a
  ;; time; len must be a multiple of 4 (the host pads its buffers). X = Y is allowed.
  ;; silu(x) = x / (1 + e), e = exp(−x) computed as
  ;;   u = clamp(−x, −87, 88)              (2^n below stays a normal float, e + 1 stays finite)
  ;;   n = nearest(u · log2 e),  r = u − n·ln2_hi − n·ln2_lo     (|r| ≤ ln2/2; ln2_hi has 9 bits,
  ;;                                                            so n·ln2_hi is exact)
  ;;   exp(r) ≈ Σ_{j≤6} r^j/j!  (Horner; truncation ≤ 1e-7 relative at |r| = ln2/2)
  ;;   e = exp(r) · 2^n,  2^n built as the bits (n + 127) << 23.
  ;; Relative error of e ≈ 2e-7. Clamping: x > 87 gives x/(1 + e^−87) = x, x < −88 gives
  ;; x/(1 + e^88) ≈ 0 (−∞ gives −∞, NaN stays NaN).
  (func (export "silu") (param $X i32) (param $Y i32) (param $len i32) (param $accumulate i32)
    (local $end i32) (local $x v128) (local $u v128) (local $nf v128) (local $r v128) (local $p v128)
    (local $lo v128) (local $hi v128) (local $log2e v128) (local $ln2hi v128) (local $ln2lo v128)
    (local $one v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $c6 v128)
    ;; constants, splatted once
    (local.set $lo (f32x4.splat (f32.const -87.0)))
    (local.set $hi (f32x4.splat (f32.const 88.0)))
    (local.set $log2e (f32x4.splat (f32.const 1.44269504088896341)))
    (local.set $ln2hi (f32x4.splat (f32.const 0.693359375)))
    (local.set $ln2lo (f32x4.splat (f32.const -2.12194440e-4)))
    (local.set $one (f32x4.splat (f32.const 1.0)))
    (local.set $c2 (f32x4.splat (f32.const 0.5)))
    (local.set $c3 (f32x4.splat (f32.const 0.166666666666666667)))
    (local.set $c4 (f32x4.splat (f32.const 0.0416666666666666667)))
    (local.set $c5 (f32x4.splat (f32.const 0.00833333333333333333)))
    (local.set $c6 (f32x4.splat (f32.const 0.00138888888888888889)))
    (local.set $end (i32.add (local.get $X) (i32.shl (local.get $len) (i32.const 2))))
    (block $done (loop $lanes
      (br_if $done (i32.ge_u (local.get $X) (local.get $end)))
      (local.set $x (v128.load (local.get $X)))
      ;; range reduction of u = −x
      (local.set $u (f32x4.min (f32x4.max (f32x4.neg (local.get $x)) (local.get $lo)) (local.get $hi)))
      (local.set $nf (f32x4.nearest (f32x4.mul (local.get $u) (local.get $log2e))))
      (local.set $r (f32x4.sub (f32x4.sub (local.get $u) (f32x4.mul (local.get $nf) (local.get $ln2hi)))
                               (f32x4.mul (local.get $nf) (local.get $ln2lo))))
      ;; p = exp(r): Horner on 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
      (local.set $p (f32x4.add (local.get $c5) (f32x4.mul (local.get $r) (local.get $c6))))
      (local.set $p (f32x4.add (local.get $c4) (f32x4.mul (local.get $r) (local.get $p))))
      (local.set $p (f32x4.add (local.get $c3) (f32x4.mul (local.get $r) (local.get $p))))
      (local.set $p (f32x4.add (local.get $c2) (f32x4.mul (local.get $r) (local.get $p))))
      (local.set $p (f32x4.add (local.get $one) (f32x4.mul (local.get $r) (local.get $p))))
      (local.set $p (f32x4.add (local.get $one) (f32x4.mul (local.get $r) (local.get $p))))
      ;; e = p · 2^n, then silu = x / (1 + e)
      (local.set $p (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $nf)) (i32x4.splat (i32.const 127))) (i32.const 23))))
      (local.set $x (f32x4.div (local.get $x) (f32x4.add (local.get $one) (local.get $p))))
      (if (local.get $accumulate) (then (local.set $x (f32x4.add (local.get $x) (v128.load (local.get $Y))))))
      (v128.store (local.get $Y) (local.get $x))
      (local.set $X (i32.add (local.get $X) (i32.const 16)))
      (local.set $Y (i32.add (local.get $Y) (i32.const 16)))
      (br $lanes)))
  )

  ;; ---- sampler rows (src/core/kernels/rows.ts, the host row functions of src/core/sphere.ts) ----
  ;; Rows of d floats, d a multiple of 4; n rows back to back. Dot products and squared norms are
  ;; accumulated in the four f32 lanes of one vector and the lanes summed at the end of the row.

  ;; project_combine: for each row i, v = a·G_i + b·s_i + g·ξ_i, out_i = v − (S_i·v) S_i (the tangent
  ;; projection of a combination of three ambient rows). Pass 1 stores v into out while it sums S·v,
  ;; pass 2 subtracts (S·v) S; every element is read before it is written at the same index, so out
  ;; may alias G, s or ξ, but not S.
  (func (export "project_combine") (param $S i32) (param $G i32) (param $s i32) (param $xi i32) (param $out i32)
                                   (param $a f32) (param $b f32) (param $g f32) (param $n i32) (param $d i32)
    (local $rb i32) (local $end i32) (local $j i32)
    (local $va v128) (local $vb v128) (local $vg v128) (local $v v128) (local $acc v128) (local $c v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $b)))
    (local.set $vg (f32x4.splat (local.get $g)))
    (local.set $rb (i32.shl (local.get $d) (i32.const 2)))                         ;; row stride in bytes
    (local.set $end (i32.add (local.get $S) (i32.mul (local.get $n) (local.get $rb))))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $S) (local.get $end)))
      ;; pass 1: out = v, acc += S·v lane-wise
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $p1Done (loop $p1
        (br_if $p1Done (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $v (f32x4.add
          (f32x4.add (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $G) (local.get $j))))
                     (f32x4.mul (local.get $vb) (v128.load (i32.add (local.get $s) (local.get $j)))))
          (f32x4.mul (local.get $vg) (v128.load (i32.add (local.get $xi) (local.get $j))))))
        (v128.store (i32.add (local.get $out) (local.get $j)) (local.get $v))
        (local.set $acc (f32x4.add (local.get $acc)
          (f32x4.mul (v128.load (i32.add (local.get $S) (local.get $j))) (local.get $v))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $p1)))
      ;; c = S·v (the four lanes summed), splatted
      (local.set $c (f32x4.splat (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
        (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
      ;; pass 2: out −= c S
      (local.set $j (i32.const 0))
      (block $p2Done (loop $p2
        (br_if $p2Done (i32.ge_u (local.get $j) (local.get $rb)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.sub (v128.load (i32.add (local.get $out) (local.get $j)))
                     (f32x4.mul (local.get $c) (v128.load (i32.add (local.get $S) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $p2)))
      ;; next row of every array
      (local.set $S (i32.add (local.get $S) (local.get $rb)))
      (local.set $G (i32.add (local.get $G) (local.get $rb)))
      (local.set $s (i32.add (local.get $s) (local.get $rb)))
      (local.set $xi (i32.add (local.get $xi) (local.get $rb)))
      (local.set $out (i32.add (local.get $out) (local.get $rb)))
      (br $rows)))
  )

  ;; retract: for each row i, x = S_i + w v_i, out_i = x/|x| (the projection retraction; w = 0 with
  ;; v = S normalises S). Pass 1 stores x into out while it sums x², pass 2 scales by 1/|x|, taken in
  ;; f64 from the f64 sum of the four lanes. out may alias S or v.
  (func (export "retract") (param $S i32) (param $v i32) (param $w f32) (param $out i32) (param $n i32) (param $d i32)
    (local $rb i32) (local $end i32) (local $j i32)
    (local $vw v128) (local $x v128) (local $acc v128) (local $r v128)
    (local.set $vw (f32x4.splat (local.get $w)))
    (local.set $rb (i32.shl (local.get $d) (i32.const 2)))
    (local.set $end (i32.add (local.get $S) (i32.mul (local.get $n) (local.get $rb))))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $S) (local.get $end)))
      ;; pass 1: out = S + w v, acc += x² lane-wise
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $p1Done (loop $p1
        (br_if $p1Done (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $x (f32x4.add (v128.load (i32.add (local.get $S) (local.get $j)))
                                 (f32x4.mul (local.get $vw) (v128.load (i32.add (local.get $v) (local.get $j))))))
        (v128.store (i32.add (local.get $out) (local.get $j)) (local.get $x))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $x) (local.get $x))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $p1)))
      ;; r = 1/√(Σ lanes), in f64, splatted as f32
      (local.set $r (f32x4.splat (f32.demote_f64 (f64.div (f64.const 1) (f64.sqrt (f64.add
        (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $acc))))
        (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $acc))))))))))
      ;; pass 2: out *= r
      (local.set $j (i32.const 0))
      (block $p2Done (loop $p2
        (br_if $p2Done (i32.ge_u (local.get $j) (local.get $rb)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.mul (v128.load (i32.add (local.get $out) (local.get $j))) (local.get $r)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $p2)))
      (local.set $S (i32.add (local.get $S) (local.get $rb)))
      (local.set $v (i32.add (local.get $v) (local.get $rb)))
      (local.set $out (i32.add (local.get $out) (local.get $rb)))
      (br $rows)))
  )

  ;; axpy: y += a·x over len floats (4 lanes at a time, then the last len mod 4 one by one). y may
  ;; alias x.
  (func (export "axpy") (param $x i32) (param $y i32) (param $a f32) (param $len i32)
    (local $end i32) (local $end4 i32) (local $va v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $len) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $lanes
      (br_if $done4 (i32.ge_u (local.get $x) (local.get $end4)))
      (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y))
                                            (f32x4.mul (local.get $va) (v128.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $lanes)))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (local.get $a) (f32.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $tail)))
  )

  ;; sum: Σ x over len floats, in four f32 lanes (then the tail), lanes summed at the end. Meant
  ;; for detecting non-finite values (any NaN or ±∞ makes the sum non-finite; a finite sum can
  ;; still overflow, which the host treats as "look closer").
  (func (export "sum") (param $x i32) (param $len i32) (result f32)
    (local $end i32) (local $end4 i32) (local $acc v128) (local $t f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $len) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $lanes
      (br_if $done4 (i32.ge_u (local.get $x) (local.get $end4)))
      (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $lanes)))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $t (f32.add (local.get $t) (f32.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $tail)))
    (f32.add (local.get $t)
      (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
               (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
  )

  ;; ---- seeded normals (sampling/gaussian.ts FastNormal.fill: same draws, same bytes) ----
  ;; gauss_fill: out[i] = f32(hz·WN[iz]·std) for i = 0.. n−1, two xoshiro128** words per draw (the
  ;; layer index iz = w1 & 127, then the signed value hz), the ziggurat's fast path |hz| < KN[iz]
  ;; (Marsaglia & Tsang 2000). Tables: KN (128 u32) at $tab, WN (128 f64) at $tab + 512. State:
  ;; s0..s3 (i32) at $st, read at entry and written back at exit. On a draw outside the fast path
  ;; it stores hz at $st + 16 and iz at $st + 20 and returns that draw's index i (the host runs the
  ;; rejection path, writes out[i] and calls again from i + 1); returns n when all n are written.
  ;; Integer ops are the JS ones (Math.imul, <<, rotl wrap the same way), |hz| is compared exactly
  ;; in i64, and the value is formed in f64 then rounded to f32 as the JS Float32Array store does.
  (func (export "gauss_fill") (param $tab i32) (param $st i32) (param $out i32) (param $n i32) (param $std f64) (result i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $t i32)
    (local $w1 i32) (local $hz i32) (local $iz i32) (local $ahz i64) (local $i i32)
    (local.set $s0 (i32.load (local.get $st)))
    (local.set $s1 (i32.load offset=4 (local.get $st)))
    (local.set $s2 (i32.load offset=8 (local.get $st)))
    (local.set $s3 (i32.load offset=12 (local.get $st)))
    (block $stop (loop $draws
      (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
      ;; word 1: the layer index
      (local.set $t (i32.shl (local.get $s1) (i32.const 9)))
      (local.set $w1 (i32.mul (i32.rotl (i32.mul (local.get $s1) (i32.const 5)) (i32.const 7)) (i32.const 9)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $s0)))
      (local.set $s3 (i32.xor (local.get $s3) (local.get $s1)))
      (local.set $s1 (i32.xor (local.get $s1) (local.get $s2)))
      (local.set $s0 (i32.xor (local.get $s0) (local.get $s3)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $t)))
      (local.set $s3 (i32.rotl (local.get $s3) (i32.const 11)))
      ;; word 2: the value
      (local.set $t (i32.shl (local.get $s1) (i32.const 9)))
      (local.set $hz (i32.mul (i32.rotl (i32.mul (local.get $s1) (i32.const 5)) (i32.const 7)) (i32.const 9)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $s0)))
      (local.set $s3 (i32.xor (local.get $s3) (local.get $s1)))
      (local.set $s1 (i32.xor (local.get $s1) (local.get $s2)))
      (local.set $s0 (i32.xor (local.get $s0) (local.get $s3)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $t)))
      (local.set $s3 (i32.rotl (local.get $s3) (i32.const 11)))
      (local.set $iz (i32.and (local.get $w1) (i32.const 127)))
      (local.set $ahz (i64.extend_i32_s (local.get $hz)))
      (if (i64.lt_s (local.get $ahz) (i64.const 0)) (then (local.set $ahz (i64.sub (i64.const 0) (local.get $ahz)))))
      (if (i64.ge_s (local.get $ahz)
                    (i64.extend_i32_u (i32.load (i32.add (local.get $tab) (i32.shl (local.get $iz) (i32.const 2))))))
        (then
          ;; outside the fast path: hand the draw to the host
          (i32.store offset=16 (local.get $st) (local.get $hz))
          (i32.store offset=20 (local.get $st) (local.get $iz))
          (br $stop)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (f32.demote_f64 (f64.mul
          (f64.mul (f64.convert_i32_s (local.get $hz))
                   (f64.load offset=512 (i32.add (local.get $tab) (i32.shl (local.get $iz) (i32.const 3)))))
          (local.get $std))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $draws)))
    (i32.store (local.get $st) (local.get $s0))
    (i32.store offset=4 (local.get $st) (local.get $s1))
    (i32.store offset=8 (local.get $st) (local.get $s2))
    (i32.store offset=12 (local.get $st) (local.get $s3))
    (local.get $i)
  )
)
