/**
 * WebAssembly SIMD kernels (src/core/kernels): gemm against a float64 product (m = 6 mixes the
 * 4-row blocks with single rows; n = 4, 20 the 4-column strips; broadcast and
 * per-row bias, in-place bias), silu against x/(1 + e^−x) over a grid with extremes, accumulate
 * mode, the allocator across memory growth, and the committed kernels.wasm.ts against a fresh wabt
 * compile of kernels.wat.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNELS_WASM_BASE64 } from '../../src/core/kernels/kernels.wasm.js';
import { WasmKernels } from '../../src/core/kernels/wasm.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { compileWat, GENERATED_PATH, renderModule, WAT_PATH } from '../../scripts/build-wasm.js';

function naive(A: Float32Array, B: Float32Array, bias: Float32Array, stride: number, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias[i * stride + j];
      for (let p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
      C[i * n + j] = s;
    }
  }
  return C;
}

/** max |C − ref| / scale (scale = max(1, max|ref|)). */
function relErr(C: Float32Array, ref: Float64Array, scale: number): number {
  let e = 0;
  for (let i = 0; i < ref.length; i++) e = Math.max(e, Math.abs(C[i] - ref[i]));
  return e / scale;
}

describe('gemm', () => {
  const shapes: [number, number, number][] = [];
  for (const m of [1, 3, 6, 16, 64]) for (const k of [5, 128, 129]) for (const n of [4, 20, 64, 128]) shapes.push([m, k, n]);

  it.each(['broadcast', 'per-row'] as const)('matches a float64 product (%s bias)', (mode) => {
    const rng = makeRng(`gemm/${mode}`);
    const K = new WasmKernels();
    for (const [m, k, n] of shapes) {
      const mark = K.mark();
      const stride = mode === 'broadcast' ? 0 : n;
      const A = normalArray(rng, m * k);
      const B = normalArray(rng, k * n);
      const bias = normalArray(rng, mode === 'broadcast' ? n : m * n);
      const pA = K.alloc(m * k);
      const pB = K.alloc(k * n);
      const pb = K.alloc(bias.length);
      const pC = K.alloc(m * n);
      K.f32(pA, m * k).set(A);
      K.f32(pB, k * n).set(B);
      K.f32(pb, bias.length).set(bias);
      K.gemm(pA, pB, pb, stride, pC, m, k, n);
      const ref = naive(A, B, bias, stride, m, k, n);
      let scale = 1;
      for (const r of ref) scale = Math.max(scale, Math.abs(r));
      expect(relErr(K.f32(pC, m * n), ref, scale), `m ${m} k ${k} n ${n}`).toBeLessThanOrEqual(1e-5);
      // in place: C = bias rows (per-row)
      if (mode === 'per-row') {
        K.gemm(pA, pB, pb, n, pb, m, k, n);
        expect(relErr(K.f32(pb, m * n), ref, scale), `in place m ${m} k ${k} n ${n}`).toBeLessThanOrEqual(1e-5);
      }
      K.reset(mark);
    }
  });

  it('leaves memory outside C untouched and rejects n not a multiple of 4', () => {
    const K = new WasmKernels();
    const pA = K.alloc(8),
      pB = K.alloc(8 * 12),
      pb = K.alloc(12),
      pC = K.alloc(2 * 12),
      guard = K.alloc(4);
    K.f32(pA, 8).fill(1);
    K.f32(pB, 96).fill(2);
    K.f32(pb, 12).fill(0.5);
    K.f32(guard, 4).fill(7);
    K.gemm(pA, pB, pb, 0, pC, 2, 4, 12);
    expect(Array.from(K.f32(pC, 24))).toEqual(new Array(24).fill(8.5));
    expect(Array.from(K.f32(guard, 4))).toEqual([7, 7, 7, 7]);
    expect(() => K.gemm(pA, pB, pb, 0, pC, 2, 4, 10)).toThrow(/multiple of 4/);
  });
});

describe('silu', () => {
  const grid: number[] = [0, 1e-3, -1e-3, 100, -100, 87, -87, 88, -88, 89, -89, 1e-30, -1e-30];
  for (let x = -30; x <= 30; x += 0.0371) grid.push(x);
  for (let x = -120; x <= 120; x += 0.77) grid.push(x);
  while (grid.length % 4 !== 0) grid.push(0.5);
  const X = Float32Array.from(grid);
  const ref = (x: number) => x / (1 + Math.exp(-x));

  it('matches x/(1 + e^−x) to 1e-6·max(1, |x|), and accumulates', () => {
    const K = new WasmKernels();
    const n = X.length;
    const pX = K.alloc(n),
      pY = K.alloc(n);
    K.f32(pX, n).set(X);
    K.silu(pX, pY, n, false);
    const Y = K.f32(pY, n).slice();
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const err = Math.abs(Y[i] - ref(X[i])) / Math.max(1, Math.abs(X[i]));
      worst = Math.max(worst, err);
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(Y[0]).toBe(0);
    // accumulate: Y += silu(X) onto a known base
    const base = normalArray(makeRng('silu-acc'), n);
    K.f32(pY, n).set(base);
    K.silu(pX, pY, n, true);
    const Z = K.f32(pY, n);
    for (let i = 0; i < n; i++)
      expect(Math.abs(Z[i] - (base[i] + ref(X[i])))).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(X[i])) + 1e-6 * Math.abs(base[i]));
    // in place (X = Y)
    K.silu(pX, pX, n, false);
    expect(Array.from(K.f32(pX, n))).toEqual(Array.from(Y));
    expect(() => K.silu(pX, pY, 6)).toThrow(/multiple of 4/);
  });

  it('exp is accurate to ~2e-7 relative (via 1/(1 + e^−x) − 1 at large −x)', () => {
    // For x ≤ −20, silu(x)/x = 1/(1 + e^−x) ≈ e^x: the ratio exposes the kernel's exp directly.
    const K = new WasmKernels();
    const xs = Float32Array.from({ length: 400 }, (_, i) => -20 - (i * 60) / 400);
    const pX = K.alloc(xs.length),
      pY = K.alloc(xs.length);
    K.f32(pX, xs.length).set(xs);
    K.silu(pX, pY, xs.length);
    const Y = K.f32(pY, xs.length);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(Y[i] / xs[i] / (1 / (1 + Math.exp(-xs[i]))) - 1));
    expect(worst).toBeLessThan(5e-7);
  });
});

describe('WasmKernels memory', () => {
  it('grows across allocations, keeps data, and frees back to a mark', () => {
    const K = new WasmKernels();
    const p0 = K.alloc(3);
    expect(p0 % 16).toBe(0);
    K.f32(p0, 3).set([1, 2, 3]);
    const mark = K.mark();
    const before = K.buffer;
    const big = K.alloc(1 << 20); // 4 MiB: grows
    expect(big % 16).toBe(0);
    expect(K.buffer).not.toBe(before);
    expect(before.byteLength).toBe(0); // the old buffer detached
    expect(Array.from(K.f32(p0, 3))).toEqual([1, 2, 3]);
    K.reset(mark);
    expect(K.alloc(1)).toBe(big);
  });
});

describe('kernels.wasm.ts', () => {
  it('is a fresh wabt compile of kernels.wat (run `npx tsx scripts/build-wasm.ts` after editing the WAT)', async () => {
    const fresh = await compileWat(readFileSync(WAT_PATH, 'utf8'));
    expect(Buffer.from(KERNELS_WASM_BASE64, 'base64').equals(Buffer.from(fresh))).toBe(true);
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(renderModule(fresh));
  });
});
