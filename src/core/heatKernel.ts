/**
 * The heat kernel of S^{d−1} for the forward noising of BL Eq. 12: Brownian motion with generator
 * ½Δ run for σ² = ∫₀ᵗ β(s) ds. Its density depends on u = S_t·S_0 only, so its score is
 *   ∇_{S_t} log p(S_t | S_0) = c(u) P_{S_t} S_0,   c = p′(u)/p(u).
 * Two forms of c:
 * - eigen-series (exact up to truncation, used at large σ²):
 *     p(u) ∝ Σ_l N(d,l) e^{−l(l+d−2)σ²/2} P_l(u),  P_l = C_l^{(d−2)/2}(u)/C_l^{(d−2)/2}(1),
 *     N(d,l) = (2l+d−2)(l+d−3)!/(l!(d−2)!),  P_l′ = l(l+d−2)/(d−1) · P_{l−1}^{(d+2)},
 *   summed in log space with the normalised three-term recurrence
 *     P_{l+1} = [(2l+d−2) u P_l − l P_{l−1}]/(l+d−2);
 * - Varadhan (small σ²): log p ≈ −θ²/(2σ²) + ((d−2)/2) log(θ/sinθ), θ = arccos u, whose leading
 *   term gives log_{S_t}(S_0)/σ² (c = θ/(σ² sinθ)); the curvature term is kept by default
 *   (c = [θ/σ² − ((d−2)/2)(1/θ − cotθ)]/sinθ).
 * `heatKernelScoreCoeff` uses the series when it converges within `maxTerms`, else Varadhan.
 * Host arithmetic in float64: one scalar per sample.
 */
import gammaln from '@stdlib/math-base-special-gammaln';

/** E[S_t·S_0] = e^{−(d−1)σ²/2} (the l = 1 eigenvalue of ½Δ is (d−1)/2). */
export function meanCosine(d: number, sigma2: number): number {
  return Math.exp((-(d - 1) * sigma2) / 2);
}

/** log N(d, l): the dimension of degree-l spherical harmonics on S^{d−1} (d ≥ 3). */
function logMultiplicity(d: number, l: number): number {
  if (l === 0) return 0;
  return Math.log(2 * l + d - 2) + gammaln(l + d - 2) - gammaln(l + 1) - gammaln(d - 1);
}

/** The eigen-series of the heat kernel at one u: score coefficient, log density and the number of terms used. */
export interface SeriesResult {
  /** p′(u)/p(u), or NaN when the series did not converge within maxTerms. */
  coeff: number;
  /** log p(u) up to the constant 1/|S^{d−1}|. */
  logDensity: number;
  terms: number;
}

/** The eigen-series score coefficient and log density at u for σ² on S^{d−1}. */
export function heatKernelSeries(u: number, d: number, sigma2: number, maxTerms = 4000): SeriesResult {
  if (d < 3) throw new RangeError('heat kernel series needs d ≥ 3');
  const x = Math.max(-1, Math.min(1, u));
  // P_l in dimension d and Q_l in dimension d+2 (for the derivative), by recurrence.
  let pPrev = 1; // P_0
  let p = x; // P_1
  let qPrev = 1; // Q_0 (dim d+2)
  let q = x; // Q_1
  const logW: number[] = [];
  const P: number[] = [];
  const dP: number[] = [];
  let maxLog = -Infinity;
  let converged = false;
  for (let l = 0; l < maxTerms; l++) {
    const lw = logMultiplicity(d, l) - (l * (l + d - 2) * sigma2) / 2;
    logW.push(lw);
    if (lw > maxLog) maxLog = lw;
    if (l === 0) {
      P.push(1);
      dP.push(0);
    } else {
      P.push(l === 1 ? x : p);
      dP.push(((l * (l + d - 2)) / (d - 1)) * (l === 1 ? 1 : l === 2 ? x : q));
    }
    // advance recurrences to l+1 (P) and l (Q)
    if (l >= 1) {
      const pNext = ((2 * l + d - 2) * x * p - l * pPrev) / (l + d - 2);
      pPrev = p;
      p = pNext;
    }
    if (l >= 2) {
      const m = l - 1; // Q_m → Q_{m+1} in dimension d+2
      const qNext = ((2 * m + d) * x * q - m * qPrev) / (m + d);
      qPrev = q;
      q = qNext;
    }
    // past the peak of the weights and 50 e-folds below it: the rest of the series is negligible
    if (l > 2 && lw < logW[l - 1] && lw < maxLog - 50) {
      converged = true;
      break;
    }
  }
  if (!converged) return { coeff: NaN, logDensity: NaN, terms: logW.length };
  let s = 0;
  let sd = 0;
  let sdAbs = 0;
  for (let l = 0; l < logW.length; l++) {
    const w = Math.exp(logW[l] - maxLog);
    s += w * P[l];
    sd += w * dP[l];
    sdAbs += w * Math.abs(dP[l]);
  }
  // Far in the tail at small σ² the terms cancel to below float64 resolution: report no result.
  const coeff = sd / s;
  if (!(s > 0) || (1e-15 * sdAbs) / s > 1e-6 * (Math.abs(coeff) + 1)) return { coeff: NaN, logDensity: NaN, terms: logW.length };
  return { coeff, logDensity: Math.log(s) + maxLog, terms: logW.length };
}

/** Varadhan's small-σ² coefficient, with (default) or without the curvature correction. */
export function varadhanCoeff(u: number, d: number, sigma2: number, curvature = true): number {
  const x = Math.max(-1, Math.min(1, u));
  const theta = Math.acos(x);
  if (theta < 1e-6) return 1 / sigma2; // θ/sinθ → 1 and the correction → 0
  const sin = Math.sin(theta);
  const corr = curvature ? ((d - 2) / 2) * (1 / theta - Math.cos(theta) / sin) : 0;
  return (theta / sigma2 - corr) / sin;
}

/** Which form of the heat-kernel score coefficient to use: chosen by σ², the eigen-series, or Varadhan (full or leading order). */
export type ScoreForm = 'auto' | 'series' | 'varadhan' | 'varadhan-leading';

/** c(u) such that the conditional score is c · P_{S_t} S_0. */
export function heatKernelScoreCoeff(u: number, d: number, sigma2: number, form: ScoreForm = 'auto'): number {
  if (form === 'varadhan') return varadhanCoeff(u, d, sigma2, true);
  if (form === 'varadhan-leading') return varadhanCoeff(u, d, sigma2, false);
  const s = heatKernelSeries(u, d, sigma2);
  if (form === 'series' || Number.isFinite(s.coeff)) return s.coeff;
  return varadhanCoeff(u, d, sigma2, true);
}
