/**
 * Depondt–Mertens rotation scheme (Ph. Depondt & F. G. Mertens, "Spin dynamics simulations of
 * two-dimensional clusters with Heisenberg and dipole-dipole interactions", J. Phys.: Condens.
 * Matter 21, 336005 (2009)) for the Stratonovich SDE dS = a dτ + g P_S ∘ dW̄ on S^{d−1}
 * (BL Eq. 14 / B6), in d dimensions.
 *
 * Depondt & Mertens integrate dS/dt = Ω(S) × S by exact rotations (Rodrigues' formula) in a Heun
 * predictor–corrector: rotate S by Ω(S) dt to S̄, then rotate S by the mean ½(Ω(S) + Ω(S̄)) dt;
 * every stage is a rotation, so |S| is conserved without renormalisation. Both stages use the SAME
 * increment ΔW̄ (Stratonovich). In d dimensions a rotation generator is a skew matrix; the generator
 * of a tangent increment f at a unit X is A = f Xᵀ − X fᵀ (A X = f; drift.ts's skew form):
 *
 *   f₀ = f(S, τ),        S̄  = exp(A₀) S = cos|f₀| S + sin|f₀| f̂₀       (the geodesic step)
 *   f₁ = f(S̄, τ + dτ),   S' = exp(½(A₀ + A₁)) S,   A₁ = f₁ S̄ᵀ − S̄ f₁ᵀ
 *
 * with f = a dτ + g P ΔW̄ from `sde.increment`. S̄ lies in span(S, f̂₀), so ½(A₀ + A₁) acts in the
 * three-dimensional span of e₁ = S, e₂ = f̂₀ and e₃ ∝ f₁'s remainder, where it is a 3 × 3 skew matrix
 * [ω×]: the mean rotation is Depondt & Mertens' own Rodrigues formula in that frame. To first
 * order its tangent part at S is ½(f₀ + P_S f₁), Heun's trapezoid: deterministic global error
 * O(dτ²), and the same Stratonovich limit as Heun.
 */
import { expMapRows } from '../../src/core/sphereRows.js';
import { scratch, type Integrator } from './types.js';

/** out = exp(½(A₀ + A₁)) S per row (see the file comment); S̄ = exp(A₀) S given. Rows [n·d]. */
function meanRotationRows(S: Float32Array, f0: Float32Array, Sb: Float32Array, f1: Float32Array, out: Float32Array, d: number): Float32Array {
  const e2 = new Float64Array(d);
  const e3 = new Float64Array(d);
  for (let o = 0; o < S.length; o += d) {
    // e₂ = f̂₀ (P_S f₀ against rounding); with f₀ = 0, e₂ comes from f₁ below
    let sf0 = 0;
    for (let j = 0; j < d; j++) sf0 += S[o + j] * f0[o + j];
    let n0 = 0;
    for (let j = 0; j < d; j++) {
      e2[j] = f0[o + j] - sf0 * S[o + j];
      n0 += e2[j] * e2[j];
    }
    n0 = Math.sqrt(n0); // |f₀|
    const hasE2 = n0 > 1e-30;
    if (hasE2) for (let j = 0; j < d; j++) e2[j] /= n0;
    // coordinates of f₁ in (e₁, e₂, e₃) by Gram–Schmidt
    let a1 = 0;
    let a2 = 0;
    for (let j = 0; j < d; j++) a1 += f1[o + j] * S[o + j];
    if (hasE2) for (let j = 0; j < d; j++) a2 += f1[o + j] * e2[j];
    let a3 = 0;
    for (let j = 0; j < d; j++) {
      e3[j] = f1[o + j] - a1 * S[o + j] - (hasE2 ? a2 * e2[j] : 0);
      a3 += e3[j] * e3[j];
    }
    a3 = Math.sqrt(a3);
    if (!hasE2) {
      // no first stage: the residual of f₁ is the second axis
      if (a3 > 1e-30) for (let j = 0; j < d; j++) e2[j] = e3[j] / a3;
      a2 = a3;
      a3 = 0;
    } else if (a3 > 1e-30) for (let j = 0; j < d; j++) e3[j] /= a3;
    else a3 = 0;
    // S̄ = (c, s, 0); ω₀ = e₁ × f₀ = (0, 0, |f₀|); ω₁ = S̄ × f₁ (u vᵀ − v uᵀ = [(v × u)×])
    const c = Math.cos(n0);
    const s = Math.sin(n0);
    const w1 = 0.5 * (s * a3);
    const w2 = 0.5 * (-c * a3);
    const w3 = 0.5 * (n0 + c * a2 - s * a1);
    const phi = Math.hypot(w1, w2, w3);
    let r1 = 1;
    let r2 = 0;
    let r3 = 0;
    if (phi > 1e-30) {
      // Rodrigues: R e₁ = cosφ e₁ + sinφ (k × e₁) + (1 − cosφ) k₁ k
      const k1 = w1 / phi;
      const k2 = w2 / phi;
      const k3 = w3 / phi;
      const cp = Math.cos(phi);
      const sp = Math.sin(phi);
      r1 = cp + (1 - cp) * k1 * k1;
      r2 = sp * k3 + (1 - cp) * k1 * k2;
      r3 = -sp * k2 + (1 - cp) * k1 * k3;
    }
    let n2 = 0;
    for (let j = 0; j < d; j++) {
      const v = r1 * S[o + j] + r2 * e2[j] + r3 * (a3 > 0 ? e3[j] : 0); // [d]
      e3[j] = v;
      n2 += v * v;
    }
    const r = 1 / Math.sqrt(n2); // 1 to rounding
    for (let j = 0; j < d; j++) out[o + j] = e3[j] * r;
  }
  return out;
}

export const depondt: Integrator = {
  name: 'depondt',
  step(S, tau, dtau, sde, noise, out) {
    const len = S.length;
    const f0 = sde.increment(S, tau, dtau, noise, scratch('depondt', 0, len)); // f(S, τ) [n·d]
    const Sb = expMapRows(S, f0, scratch('depondt', 1, len), sde.d); // S̄ = exp(A₀) S
    const f1 = sde.increment(Sb, tau + dtau, dtau, noise, scratch('depondt', 2, len)); // f(S̄, τ + dτ), same ΔW̄
    return meanRotationRows(S, f0, Sb, f1, out, sde.d);
  },
};
