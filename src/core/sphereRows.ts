/**
 * Geometry of the spin sphere S^{d−1} on host rows (Float32Array [n·d], row-major; BL Eqs. 10,
 * 12–14, B2–B3): the reverse sampler's inner loop, where a step's few thousand numbers cost less on
 * the host than the dispatch of tfjs kernels. The tensor forms are in src/core/sphere.ts, which
 * re-exports these; this module has no tfjs dependency, so that the reverse SDE's worker threads
 * (sampling/reverseWorker.ts) start without loading tfjs. test/core/sphere.test.ts checks the two
 * forms equal.
 */
import { normalArray, type Rng } from '../rng.js';
import { arenaKernelsFor, assertAttached, onArena } from './kernels/rows.js';

// ---- host rows: Float32Array [n·d], row-major ----
// Each function below with a WASM kernel takes it when every array is a view on the row arena's
// memory (src/core/kernels/rows.ts; the reverse sampler allocates its rows there) and d % 4 = 0:
// float32 arithmetic, dots and squared norms summed in four float32 lanes. Otherwise it runs the
// plain loop, the reference, whose dots accumulate in float64. The two agree to float32 rounding
// (test/core/rows.test.ts).

/** Whether S, a and b (a and b at least as long as S) are arena views and d allows the SIMD kernels. */
function simd(S: Float32Array, a: Float32Array, b: Float32Array, d: number): boolean {
  return d % 4 === 0 && onArena(S) && onArena(a) && onArena(b) && a.length >= S.length && b.length >= S.length;
}

/** The ambient combination v = a·G_i + b·s_i + g·ξ_i of {@link projectCombineRows}: three row sets [n·d] and their scalars. */
export interface RowCombination {
  G: Float32Array;
  s: Float32Array;
  xi: Float32Array;
  a: number;
  b: number;
  g: number;
}

/**
 * The fused tangent projection of a combination (BL Eq. 10 applied to BL Eq. 14's increment):
 * out_i = v − (S_i·v) S_i with v = a·G_i + b·s_i + g·ξ_i. The guided drift's increment in one pass
 * (sampling/drift.ts). `out` may alias G, s or ξ, not S.
 */
export function projectCombineRows(S: Float32Array, combination: RowCombination, out: Float32Array, d: number): Float32Array {
  const { G, s, xi, a, b, g } = combination;
  if (simd(S, G, out, d) && onArena(s) && onArena(xi) && s.length >= S.length && xi.length >= S.length) {
    arenaKernelsFor(S)!.projectCombine(S.byteOffset, G.byteOffset, s.byteOffset, xi.byteOffset, out.byteOffset, a, b, g, S.length / d, d);
    return out;
  }
  assertAttached(S, 'projectCombineRows');
  assertAttached(G, 'projectCombineRows');
  assertAttached(s, 'projectCombineRows');
  assertAttached(xi, 'projectCombineRows');
  assertAttached(out, 'projectCombineRows');
  for (let o = 0; o < S.length; o += d) {
    let c = 0;
    for (let j = o; j < o + d; j++) {
      const v = a * G[j] + b * s[j] + g * xi[j];
      out[j] = v;
      c += S[j] * v;
    }
    for (let j = o; j < o + d; j++) out[j] -= c * S[j];
  }
  return out;
}

/** BL Eq. 10 / B3 on host rows: out_i = v_i − (S_i·v_i) S_i. `out` may alias `v`. */
export function tangentProjectRows(S: Float32Array, v: Float32Array, out: Float32Array, d: number): Float32Array {
  return projectCombineRows(S, { G: v, s: v, xi: v, a: 1, b: 0, g: 0 }, out, d);
}

/** Host rows projected onto the sphere: out_i = X_i/|X_i|. `out` may alias `X`. */
export function normalizeRows(X: Float32Array, out: Float32Array, d: number): Float32Array {
  return retractRows(X, X, 0, out, d);
}

/** The projection retraction on host rows: out_i = (S_i + w·v_i)/|S_i + w·v_i|. `out` may alias S or v. */
export function retractRows(S: Float32Array, v: Float32Array, w: number, out: Float32Array, d: number): Float32Array {
  if (simd(S, v, out, d)) {
    arenaKernelsFor(S)!.retract(S.byteOffset, v.byteOffset, w, out.byteOffset, S.length / d, d);
    return out;
  }
  assertAttached(S, 'retractRows');
  assertAttached(v, 'retractRows');
  assertAttached(out, 'retractRows');
  for (let o = 0; o < S.length; o += d) {
    let s = 0;
    for (let j = o; j < o + d; j++) {
      const x = S[j] + w * v[j];
      out[j] = x;
      s += x * x;
    }
    const r = 1 / Math.sqrt(s);
    for (let j = o; j < o + d; j++) out[j] *= r;
  }
  return out;
}

/**
 * Exponential map on host rows: out_i = exp_{S_i}(v_i) = cos|v| S + sin|v| v/|v|, renormalised.
 * `out` may alias `v`, not `S`. Plain loops only (float64 dots; cos/sin per row).
 */
export function expMapRows(S: Float32Array, v: Float32Array, out: Float32Array, d: number): Float32Array {
  assertAttached(S, 'expMapRows');
  assertAttached(v, 'expMapRows');
  assertAttached(out, 'expMapRows');
  for (let o = 0; o < S.length; o += d) {
    let s = 0;
    for (let j = o; j < o + d; j++) s += v[j] * v[j];
    const n = Math.sqrt(s);
    const cos = Math.cos(n);
    const sinc = n < 1e-6 ? 1 : Math.sin(n) / n; // sin|v|/|v| → 1 as |v| → 0
    let q = 0;
    for (let j = o; j < o + d; j++) {
      const x = cos * S[j] + sinc * v[j];
      out[j] = x;
      q += x * x;
    }
    const r = 1 / Math.sqrt(q);
    for (let j = o; j < o + d; j++) out[j] *= r;
  }
  return out;
}

/** Uniform spins on S^{d−1} as host rows [n·d] (the draws of `uniformSpins`). */
export function uniformSpinRows(n: number, d: number, rng: Rng): Float32Array {
  const X = normalArray(rng, n * d);
  return normalizeRows(X, X, d);
}
