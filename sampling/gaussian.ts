/**
 * Fast seeded standard normals for the Wiener increments of the reverse SDE (Bhattacharjee & Lee,
 * BL Eq. 14): one draw of d numbers per row and step, ~600k per token at batch 16, d = 768, K = 50,
 * where src/rng.ts's alea + Box–Muller (~35 ns a number) would cost more than the SDE arithmetic.
 *
 * Generator: xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
 * ACM TOMS 2021), seeded with four 32-bit words drawn from a src/rng.ts `Rng` (so every draw still
 * follows --seed). Normals: the ziggurat of Marsaglia & Tsang, J. Stat. Softw. 5(8) (2000), 128
 * layers, with the layer index and the value taken from separate 32-bit words (avoiding the
 * index/value correlation of the original single-word version, Doornik 2005).
 * The bulk fill runs the fast path in WebAssembly (gauss_fill of src/core/kernels/kernels.wat, ~4×
 * the JS loop) and the rare rejection path here; `fillJs` is the same generator in plain JS, and the
 * two give the same bytes for the same state (tested), so the noise stream of a seed is unchanged.
 * test/sampling/gaussian.test.ts checks moments, the tails, a Kolmogorov–Smirnov distance to Φ.
 */
import { WasmKernels } from '../src/core/kernels/wasm.js';
import type { Rng } from '../src/rng.js';

const KN = new Uint32Array(128);
const WN = new Float64Array(128);
const FN = new Float64Array(128);
const R = 3.442619855899;
(() => {
  const m1 = 2147483648; // 2^31
  const vn = 9.91256303526217e-3;
  let dn = R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * m1);
  KN[1] = 0;
  WN[0] = q / m1;
  WN[127] = dn / m1;
  FN[0] = 1;
  FN[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / m1;
  }
})();

/** Floats per gauss_fill call (the kernel memory's output chunk). */
const CHUNK = 4096;

/** The process's ziggurat kernel: its own WASM memory with the tables, the state words and an output chunk. */
interface ZigguratKernel {
  k: WasmKernels;
  tab: number;
  st: number;
  buf: number;
  /** s0..s3, then hz and iz of a draw handed back (views stay valid: this memory never grows after setup). */
  state: Int32Array;
  chunk: Float32Array;
}
let zig: ZigguratKernel | null = null;

function ziggurat(): ZigguratKernel {
  if (zig) return zig;
  const k = new WasmKernels();
  const tab = k.alloc(128 + 256); // KN [128 u32] then WN [128 f64]
  const st = k.alloc(8);
  const buf = k.alloc(CHUNK);
  new Uint32Array(k.buffer, tab, 128).set(KN);
  new Float64Array(k.buffer, tab + 512, 128).set(WN);
  zig = { k, tab, st, buf, state: new Int32Array(k.buffer, st, 6), chunk: k.f32(buf, CHUNK) };
  return zig;
}

export class FastNormal {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(rng: Rng) {
    const word = () => Math.floor(rng.uniform() * 4294967296) >>> 0;
    this.s0 = word();
    this.s1 = word();
    this.s2 = word();
    this.s3 = word() | 1; // never the all-zero state
  }

  /** A uniform 32-bit word (xoshiro128**). */
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform on (0, 1). */
  uniform(): number {
    return ((this.next() >>> 8) + 0.5) / 16777216;
  }

  /** One standard normal. */
  normal(): number {
    const iz = this.next() & 127;
    const hz = this.next() | 0; // signed 32-bit
    const ahz = hz < 0 ? -hz : hz;
    return ahz < KN[iz] ? hz * WN[iz] : this.slow(hz, iz);
  }

  /** The ziggurat's rejection path for a draw (hz, iz) outside the layer's inner rectangle. */
  private slow(hz: number, iz: number): number {
    for (;;) {
      const x = hz * WN[iz];
      if (iz === 0) {
        // the tail beyond R (Marsaglia 1964)
        let xt: number;
        let y: number;
        do {
          xt = -Math.log(this.uniform()) / R;
          y = -Math.log(this.uniform());
        } while (y + y < xt * xt);
        return hz > 0 ? R + xt : -R - xt;
      }
      if (FN[iz] + this.uniform() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
      iz = this.next() & 127;
      hz = this.next() | 0;
      const ahz = hz < 0 ? -hz : hz;
      if (ahz < KN[iz]) return hz * WN[iz];
    }
  }

  /**
   * `n` normals times `std` into `out` (a new Float32Array by default): the fast path in WASM, in
   * chunks, the rejection path (≈ 1.2% of draws) here. Same values as `fillJs`.
   */
  fill(n: number, std = 1, out: Float32Array = new Float32Array(n)): Float32Array {
    const z = ziggurat();
    const st = z.state;
    this.store(st);
    for (let i = 0; i < n; i += CHUNK) {
      const m = Math.min(CHUNK, n - i);
      let j = 0;
      for (;;) {
        j += z.k.gaussFill(z.tab, z.st, z.buf + 4 * j, m - j, std);
        if (j >= m) break;
        // draw j left the fast path: finish it here on the same state, then resume after it
        this.load(st);
        z.chunk[j] = this.slow(st[4], st[5]) * std;
        this.store(st);
        j++;
      }
      out.set(m === CHUNK ? z.chunk : z.chunk.subarray(0, m), i);
    }
    this.load(st);
    return out;
  }

  /** The generator state from words 0..3 of `st`. */
  private load(st: Int32Array): void {
    this.s0 = st[0];
    this.s1 = st[1];
    this.s2 = st[2];
    this.s3 = st[3];
  }

  /** The generator state into words 0..3 of `st`. */
  private store(st: Int32Array): void {
    st[0] = this.s0;
    st[1] = this.s1;
    st[2] = this.s2;
    st[3] = this.s3;
  }

  /** `fill` in plain JS (the reference the WASM path is tested against): the ziggurat's fast path inlined, state in locals. */
  fillJs(n: number, std = 1, out: Float32Array = new Float32Array(n)): Float32Array {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < n; i++) {
      // two xoshiro128** words: layer index, then value
      let t = s1 << 9;
      const w1 = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      t = s1 << 9;
      const hz = Math.imul(rotl(Math.imul(s1, 5), 7), 9); // signed 32-bit
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const iz = w1 & 127;
      const ahz = hz < 0 ? -hz : hz;
      if (ahz < KN[iz]) {
        out[i] = hz * WN[iz] * std;
        continue;
      }
      // rare slow path (≈ 1.2%): hand the state back and use the general method
      this.s0 = s0;
      this.s1 = s1;
      this.s2 = s2;
      this.s3 = s3;
      out[i] = this.slow(hz, iz) * std;
      ({ s0, s1, s2, s3 } = this);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
