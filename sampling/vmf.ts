/**
 * Von Mises–Fisher facts for checking the guided sampler (BL Eq. 14): with
 * constant N and β and no score, the stationary law of dS = η P_S N dτ + √β P_S ∘ dW̄ on S^{d−1} is
 * vMF(N̂, κ = 2η|N|/β), whose mean cosine is the Bessel ratio
 *
 *   A_d(κ) = E[S·N̂] = I_{d/2}(κ) / I_{d/2−1}(κ).
 *
 * Computed by the backward recurrence of the Gauss continued fraction
 *   r_ν = I_ν/I_{ν−1} = 1 / (2ν/κ + r_{ν+1})
 * (Abramowitz & Stegun 9.1.73; all terms positive, so stable), started far above ν and κ from the
 * Amos-type estimate r_M ≈ κ / (M + √(M² + κ²)).
 */

/** I_ν(κ)/I_{ν−1}(κ) for ν > 0, κ ≥ 0. */
export function besselRatio(nu: number, kappa: number): number {
  if (!(nu > 0) || !(kappa >= 0)) throw new RangeError(`besselRatio needs ν > 0 and κ ≥ 0 (got ν = ${nu}, κ = ${kappa})`);
  if (kappa === 0) return 0;
  const J = Math.ceil(2 * kappa + 200); // start J orders above ν
  const top = nu + J;
  let r = kappa / (top + Math.sqrt(top * top + kappa * kappa)); // ≈ r_{ν+J}
  for (let j = J - 1; j >= 0; j--) r = 1 / ((2 * (nu + j)) / kappa + r); // r_{ν+j}
  return r;
}

/** A_d(κ) = E[S·N̂] under vMF(N̂, κ) on S^{d−1}. */
export function vmfMeanCos(d: number, kappa: number): number {
  return besselRatio(d / 2, kappa);
}
