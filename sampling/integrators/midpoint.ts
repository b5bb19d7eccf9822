/**
 * Semi-implicit spin-preserving midpoint scheme ("SIB") of Mentink, Tretyakov, Fasolino, Katsnelson
 * & Rasing, J. Phys.: Condens. Matter 22, 176001 (2010), for the Stratonovich SDE
 * dS = a dτ + g P_S ∘ dW̄ on S^{d−1} (BL Eq. 14 / B6), in d dimensions.
 *
 * Mentink et al. write the stochastic LLG equation as dS = A(S) S with A skew (in d = 3, A = [Ω×]),
 * and take the implicit midpoint rule S' = S + A(M)(S + S')/2, M = (S + S')/2: for a skew A this is
 * the Cayley transform S' = (I − A/2)⁻¹(I + A/2) S, a rotation, so |S'| = |S| exactly. SIB makes it
 * semi-implicit with one predictor, both stages using the SAME increment ΔW̄ (Stratonovich):
 *
 *   S̄  = Cay(A(S)) S                 predictor (the field frozen at S)
 *   M  = (S + S̄)/|S + S̄|             midpoint, at τ + dτ/2
 *   S' = Cay(A(M)) S                 corrector
 *
 * In d dimensions the generator of a tangent increment f at a unit X is the rank-2 skew matrix
 * A = f Xᵀ − X fᵀ (A X = f, the same d-dimensional skew form drift.ts uses for precession), with
 * f = a(X, τ) dτ + g P_X ΔW̄ from `sde.increment`. Its Cayley transform is the rotation in the plane
 * (X, f̂) by the angle θ = 2 atan(|f|/2), which is what `cayleyRows` applies (components of S outside
 * the plane are unchanged). Deterministic part: the implicit midpoint rule, global error O(dτ²).
 * No Itô correction is added: as in Heun, the rotation of a tangent Gaussian step yields the
 * curvature drift −½g²(d−1)S of the Itô form by itself.
 */
import { scratch, type Integrator } from './types.js';

/**
 * out = Cay(A) S per row, A = f Xᵀ − X fᵀ with X unit and f tangent at X (its X-component is
 * removed first, against rounding): the rotation in the plane (X, f̂) by θ = 2 atan(|f|/2).
 * Rows [n·d]; `out` may alias X but not S or f. The result is renormalised (rounding only).
 */
export function cayleyRows(S: Float32Array, X: Float32Array, f: Float32Array, out: Float32Array, d: number): Float32Array {
  const fh = new Float64Array(d);
  const xs = new Float64Array(d);
  for (let o = 0; o < S.length; o += d) {
    let xf = 0;
    for (let j = 0; j < d; j++) xf += X[o + j] * f[o + j];
    let nf = 0;
    for (let j = 0; j < d; j++) {
      xs[j] = X[o + j];
      fh[j] = f[o + j] - xf * xs[j]; // P_X f
      nf += fh[j] * fh[j];
    }
    nf = Math.sqrt(nf);
    if (nf < 1e-30) {
      for (let j = 0; j < d; j++) out[o + j] = S[o + j];
      continue;
    }
    let x = 0; // S·X
    let y = 0; // S·f̂
    for (let j = 0; j < d; j++) {
      fh[j] /= nf;
      x += S[o + j] * xs[j];
      y += S[o + j] * fh[j];
    }
    const theta = 2 * Math.atan(nf / 2);
    const c = Math.cos(theta) - 1;
    const s = Math.sin(theta);
    let n2 = 0;
    for (let j = 0; j < d; j++) {
      const v = S[o + j] + c * (x * xs[j] + y * fh[j]) + s * (x * fh[j] - y * xs[j]); // [d]
      fh[j] = v; // reuse as the output row
      n2 += v * v;
    }
    const r = 1 / Math.sqrt(n2);
    for (let j = 0; j < d; j++) out[o + j] = fh[j] * r;
  }
  return out;
}

export const midpoint: Integrator = {
  name: 'midpoint',
  step(S, tau, dtau, sde, noise, out) {
    const len = S.length;
    const d = sde.d;
    const f0 = sde.increment(S, tau, dtau, noise, scratch('midpoint', 0, len)); // f(S, τ) [n·d]
    const M = cayleyRows(S, S, f0, scratch('midpoint', 1, len), d); // predictor S̄
    for (let o = 0; o < len; o += d) {
      // M = (S + S̄)/|S + S̄| in place
      let n2 = 0;
      for (let j = o; j < o + d; j++) {
        M[j] += S[j];
        n2 += M[j] * M[j];
      }
      const r = 1 / Math.sqrt(n2);
      for (let j = o; j < o + d; j++) M[j] *= r;
    }
    const fM = sde.increment(M, tau + dtau / 2, dtau, noise, scratch('midpoint', 2, len)); // f(M, τ + dτ/2), same ΔW̄
    return cayleyRows(S, M, fM, out, d); // corrector Cay(A(M)) S
  },
};
