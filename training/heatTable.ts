/**
 * The heat kernel of S^{d−1} tabulated for training (BL Eq. 12 / B5): the forward
 * process is Brownian motion with generator ½Δ run for σ² = ∫β, so S_t | S_0 depends on
 * u = S_t·S_0 = cos θ only, with θ-density  f(θ) ∝ p(cos θ) sin^{d−2}θ  and conditional score
 * c(u) P_{S_t} S_0  (src/core/heatKernel.ts). Per-sample host evaluation of the eigen-series costs
 * thousands of terms, so both the inverse CDF of θ and c are tabulated on a grid of σ² levels and
 * interpolated (sampling is then "exact up to quadrature and interpolation").
 *
 * Each level σ²_k holds a uniform θ grid over u ∈ E[u] ± 16·sd(u) (exact moments:
 * E[u] = e^{−(d−1)σ²/2}, E[u²] = (1 + (d−1)e^{−dσ²})/d), the trapezoid CDF of f and c on the grid,
 * from one of two forms:
 *   series   the eigen-series of heatKernel.ts (same weights and Gegenbauer recurrences),
 *            evaluated for the whole grid at once; used when it converges within `seriesTerms`
 *            terms and is free of float64 cancellation wherever the level has mass;
 *   varadhan Varadhan's form with its curvature term, log p = −θ²/(2σ²) + ((d−2)/2) log(θ/sinθ),
 *            exponentially tilted by a·z + b·z², z = (u − E[u])/sd(u), with (a, b) solved so the
 *            first two moments are the exact ones above (the leading correction to Varadhan in
 *            high d is smooth in u, so this projection removes most of it; test/training checks
 *            E[P_3(u)] = e^{−3(d+1)σ²/2} and c against the series where both exist).
 * Between levels (geometric in σ²) the quantile log θ_q and log c are interpolated linearly in
 * log σ². All host arithmetic is float64.
 */
import gammaln from '@stdlib/math-base-special-gammaln';
import { varadhanCoeff } from '../src/core/heatKernel.js';

/** One σ² level of a {@link HeatKernelTable}. */
export interface HeatLevel {
  sigma2: number;
  method: 'series' | 'varadhan';
  /** First grid angle and spacing: θ_j = theta0 + j·dtheta, j < G. */
  theta0: number;
  dtheta: number;
  /** CDF of θ at the grid points [G]: 0 … 1. */
  cdf: Float64Array;
  /** log c(cos θ_j) [G]. */
  logCoeff: Float64Array;
}

/** Resolution of a {@link HeatKernelTable}: σ² levels, θ grid points, and the eigen-series term limit. */
export interface HeatTableOptions {
  /** Number of σ² levels (geometric). Default 160. */
  levels?: number;
  /** θ grid points per level. Default 1024. */
  grid?: number;
  /** Use the eigen-series only when it converges within this many terms. Default 1500. */
  seriesTerms?: number;
}

/** Exact first two moments of u = S_t·S_0: E[u] and Var(u) (stable for small σ²). */
export function uMoments(d: number, sigma2: number): { mean: number; variance: number } {
  const a = (d - 1) * sigma2;
  const mean = Math.exp(-a / 2);
  // Var = [1 + (d−1)e^{−dσ²}]/d − e^{−(d−1)σ²}, rearranged to avoid cancellation at small σ²
  const variance = (-Math.expm1(-a) + (d - 1) * Math.exp(-a) * Math.expm1(-sigma2)) / d;
  return { mean, variance: Math.max(variance, 0) };
}

/** E[P_l(u)] = e^{−l(l+d−2)σ²/2}, P_l the Gegenbauer polynomial normalised to P_l(1) = 1. */
export function gegenbauerMoment(d: number, l: number, sigma2: number): number {
  return Math.exp((-l * (l + d - 2) * sigma2) / 2);
}

/** Normalised Gegenbauer P_l(u) on S^{d−1} by the three-term recurrence. */
export function gegenbauer(d: number, l: number, u: number): number {
  let prev = 1;
  let cur = u;
  if (l === 0) return 1;
  for (let k = 1; k < l; k++) {
    const next = ((2 * k + d - 2) * u * cur - k * prev) / (k + d - 2);
    prev = cur;
    cur = next;
  }
  return cur;
}

/** Series weights log[N(d,l) e^{−l(l+d−2)σ²/2}] until 50 e-folds below the peak, or null past `maxTerms`. */
function seriesWeights(d: number, sigma2: number, maxTerms: number): Float64Array | null {
  const out: number[] = [];
  let maxLog = -Infinity;
  for (let l = 0; l < maxTerms; l++) {
    const logN = l === 0 ? 0 : Math.log(2 * l + d - 2) + gammaln(l + d - 2) - gammaln(l + 1) - gammaln(d - 1);
    const lw = logN - (l * (l + d - 2) * sigma2) / 2;
    out.push(lw);
    if (lw > maxLog) maxLog = lw;
    if (l > 2 && lw < out[l - 1] && lw < maxLog - 50) return Float64Array.from(out, (x) => x - maxLog);
  }
  return null;
}

/**
 * The eigen-series on a whole u grid: log p (up to a constant), c = p′/p, and whether each point is
 * free of cancellation (same criterion as heatKernelSeries). w are log weights relative to their peak.
 */
function seriesOnGrid(u: Float64Array, d: number, w: Float64Array): { logP: Float64Array; coeff: Float64Array; ok: Uint8Array } {
  const G = u.length;
  const s = new Float64Array(G);
  const sAbs = new Float64Array(G);
  const sd = new Float64Array(G);
  const sdAbs = new Float64Array(G);
  const pPrev = new Float64Array(G).fill(1); // P_{l−1}
  const p = Float64Array.from(u); // P_l
  const qPrev = new Float64Array(G).fill(1); // Q_{l−2} (dimension d+2)
  const q = Float64Array.from(u); // Q_{l−1}
  for (let j = 0; j < G; j++) {
    const w0 = Math.exp(w[0]);
    s[j] = w0;
    sAbs[j] = w0;
  }
  for (let l = 1; l < w.length; l++) {
    const wl = Math.exp(w[l]);
    const dScale = (l * (l + d - 2)) / (d - 1);
    for (let j = 0; j < G; j++) {
      const Pl = l === 1 ? u[j] : p[j];
      const Ql1 = l === 1 ? 1 : l === 2 ? u[j] : q[j]; // Q_{l−1}
      s[j] += wl * Pl;
      sAbs[j] += wl * Math.abs(Pl);
      const dP = dScale * Ql1;
      sd[j] += wl * dP;
      sdAbs[j] += wl * Math.abs(dP);
    }
    // advance P to l+1 (valid from l ≥ 1) and Q to l (from l ≥ 2)
    for (let j = 0; j < G; j++) {
      const x = u[j];
      const pn = ((2 * l + d - 2) * x * p[j] - l * pPrev[j]) / (l + d - 2);
      pPrev[j] = p[j];
      p[j] = pn;
      if (l >= 2) {
        const m = l - 1;
        const qn = ((2 * m + d) * x * q[j] - m * qPrev[j]) / (m + d);
        qPrev[j] = q[j];
        q[j] = qn;
      }
    }
  }
  const logP = new Float64Array(G);
  const coeff = new Float64Array(G);
  const ok = new Uint8Array(G);
  for (let j = 0; j < G; j++) {
    const c = sd[j] / s[j];
    coeff[j] = c;
    logP[j] = s[j] > 0 ? Math.log(s[j]) : -Infinity;
    ok[j] = s[j] > 0 && 1e-15 * sAbs[j] <= 1e-7 * s[j] && (1e-15 * sdAbs[j]) / s[j] <= 1e-6 * (Math.abs(c) + 1) ? 1 : 0;
  }
  return { logP, coeff, ok };
}

/** Trapezoid CDF of exp(logF) (normalised to end at 1). */
function cdfOf(logF: Float64Array): Float64Array {
  let mx = -Infinity;
  for (const v of logF) if (v > mx) mx = v;
  const G = logF.length;
  const cdf = new Float64Array(G);
  let prev = Math.exp(logF[0] - mx);
  for (let j = 1; j < G; j++) {
    const cur = Math.exp(logF[j] - mx);
    cdf[j] = cdf[j - 1] + 0.5 * (prev + cur);
    prev = cur;
  }
  const total = cdf[G - 1];
  for (let j = 0; j < G; j++) cdf[j] /= total;
  return cdf;
}

/** Tilt (a, b) of exp(a z + b z²) matching E[z] = 0, E[z²] = 1 under the weights exp(logF). Newton. */
function solveTilt(z: Float64Array, logF: Float64Array): [number, number] {
  let a = 0;
  let b = 0;
  const G = z.length;
  for (let it = 0; it < 50; it++) {
    let mx = -Infinity;
    for (let j = 0; j < G; j++) mx = Math.max(mx, logF[j] + a * z[j] + b * z[j] * z[j]);
    let m0 = 0,
      m1 = 0,
      m2 = 0,
      m3 = 0,
      m4 = 0;
    for (let j = 0; j < G; j++) {
      const zj = z[j];
      const wj = Math.exp(logF[j] + a * zj + b * zj * zj - mx) * (j === 0 || j === G - 1 ? 0.5 : 1);
      m0 += wj;
      m1 += wj * zj;
      m2 += wj * zj * zj;
      m3 += wj * zj * zj * zj;
      m4 += wj * zj * zj * zj * zj;
    }
    const [e1, e2, e3, e4] = [m1 / m0, m2 / m0, m3 / m0, m4 / m0];
    const f1 = e1;
    const f2 = e2 - 1;
    if (Math.abs(f1) < 1e-12 && Math.abs(f2) < 1e-12) break;
    // Jacobian of (E z, E z²) w.r.t. (a, b): covariances
    const j11 = e2 - e1 * e1;
    const j12 = e3 - e1 * e2;
    const j22 = e4 - e2 * e2;
    const det = j11 * j22 - j12 * j12;
    if (!(det > 0)) break;
    let da = (j22 * f1 - j12 * f2) / det;
    let db = (-j12 * f1 + j11 * f2) / det;
    const step = Math.max(Math.abs(da), Math.abs(db));
    if (step > 1) {
      da /= step;
      db /= step;
    }
    a -= da;
    b -= db;
  }
  return [a, b];
}

/** One σ² level: grid, CDF of θ and log c, by the series when it is usable, else tilted Varadhan. */
export function buildLevel(d: number, sigma2: number, grid: number, seriesTerms: number, trySeries = true): HeatLevel {
  const { variance } = uMoments(d, sigma2);
  const sdU = Math.sqrt(variance);
  const K = 16;
  const wMean = -Math.expm1(-((d - 1) * sigma2) / 2); // E[1 − u]
  const wLo = Math.max(0, wMean - K * sdU);
  const wHi = Math.min(2, wMean + K * sdU);
  const thLo = 2 * Math.asin(Math.sqrt(wLo / 2));
  const thHi = 2 * Math.asin(Math.min(1, Math.sqrt(wHi / 2)));
  const dtheta = (thHi - thLo) / (grid - 1);
  const theta = new Float64Array(grid);
  const u = new Float64Array(grid);
  const oneMinusU = new Float64Array(grid);
  const logSin = new Float64Array(grid);
  for (let j = 0; j < grid; j++) {
    theta[j] = thLo + j * dtheta;
    const h = Math.sin(theta[j] / 2);
    oneMinusU[j] = 2 * h * h;
    u[j] = Math.cos(theta[j]);
    logSin[j] = Math.log(Math.sin(theta[j]));
  }
  // Varadhan with the curvature term, tilted to the exact first two moments (always built: it is the
  // fallback, and it measures which grid points carry mass)
  const logF = new Float64Array(grid);
  const z = new Float64Array(grid);
  for (let j = 0; j < grid; j++) {
    const th = theta[j];
    const logRatio = th < 1e-8 ? 0 : Math.log(th) - logSin[j];
    logF[j] = (-th * th) / (2 * sigma2) + ((d - 2) / 2) * logRatio + (d - 2) * logSin[j];
    z[j] = (wMean - oneMinusU[j]) / sdU;
  }
  const [a, b] = sdU > 0 ? solveTilt(z, logF) : [0, 0];
  const logCoeff = new Float64Array(grid);
  let mx = -Infinity;
  for (let j = 0; j < grid; j++) {
    logF[j] += a * z[j] + b * z[j] * z[j];
    if (logF[j] > mx) mx = logF[j];
    const c = varadhanCoeff(u[j], d, sigma2) + (a + 2 * b * z[j]) / sdU;
    logCoeff[j] = Math.log(Math.max(c, 1e-300));
  }
  if (trySeries) {
    const w = seriesWeights(d, sigma2, seriesTerms);
    if (w) {
      const r = seriesOnGrid(u, d, w);
      // the series is used when its points with cancellation carry (by the tilted form) ≤ 1e-8 of the mass
      let all = 0;
      let bad = 0;
      for (let j = 0; j < grid; j++) {
        const m = Math.exp(logF[j] - mx);
        all += m;
        if (!r.ok[j]) bad += m;
      }
      if (bad <= 1e-8 * all) {
        const logFs = new Float64Array(grid);
        const logCs = new Float64Array(grid);
        for (let j = 0; j < grid; j++) {
          logFs[j] = r.ok[j] ? r.logP[j] + (d - 2) * logSin[j] : -Infinity;
          logCs[j] = r.ok[j] ? Math.log(Math.max(r.coeff[j], 1e-300)) : logCoeff[j];
        }
        return { sigma2, method: 'series', theta0: thLo, dtheta, cdf: cdfOf(logFs), logCoeff: logCs };
      }
    }
  }
  return { sigma2, method: 'varadhan', theta0: thLo, dtheta, cdf: cdfOf(logF), logCoeff };
}

/** θ at quantile q of a level (binary search in the CDF, linear within the cell). */
function levelQuantile(L: HeatLevel, q: number): number {
  const cdf = L.cdf;
  let lo = 0;
  let hi = cdf.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] <= q) lo = mid;
    else hi = mid;
  }
  const span = cdf[hi] - cdf[lo];
  const f = span > 0 ? (q - cdf[lo]) / span : 0;
  return L.theta0 + (lo + Math.min(1, Math.max(0, f))) * L.dtheta;
}

/** log c of a level at θ (linear in θ, clamped to the grid). */
function levelLogCoeff(L: HeatLevel, theta: number): number {
  const G = L.logCoeff.length;
  const x = Math.min(G - 1, Math.max(0, (theta - L.theta0) / L.dtheta));
  const j = Math.min(G - 2, Math.floor(x));
  const f = x - j;
  return (1 - f) * L.logCoeff[j] + f * L.logCoeff[j + 1];
}

/** The heat kernel of S^{d−1} tabulated over σ² levels: inverse CDF of the angle and the score coefficient c(u) (BL Eq. 12 / B5). */
export class HeatKernelTable {
  readonly levels: HeatLevel[];
  private readonly logS2Min: number;
  private readonly step: number;

  constructor(
    readonly d: number,
    readonly sigma2Min: number,
    readonly sigma2Max: number,
    opts: HeatTableOptions = {},
  ) {
    if (!(d >= 3)) throw new RangeError('the heat-kernel table needs d ≥ 3');
    if (!(sigma2Min > 0 && sigma2Max > sigma2Min)) throw new RangeError(`need 0 < σ²_min < σ²_max, got ${sigma2Min}, ${sigma2Max}`);
    const n = Math.max(2, opts.levels ?? 160);
    const grid = opts.grid ?? 1024;
    const terms = opts.seriesTerms ?? 1500;
    this.logS2Min = Math.log(sigma2Min);
    this.step = (Math.log(sigma2Max) - this.logS2Min) / (n - 1);
    const levels: HeatLevel[] = new Array<HeatLevel>(n);
    // from large σ² down: once the series fails, smaller σ² (more terms, more cancellation) skip it
    let trySeries = true;
    for (let k = n - 1; k >= 0; k--) {
      const s2 = k === n - 1 ? sigma2Max : Math.exp(this.logS2Min + k * this.step);
      levels[k] = buildLevel(d, s2, grid, terms, trySeries);
      if (levels[k].method !== 'series') trySeries = false;
    }
    this.levels = levels;
  }

  /** Level index k and weight α with σ² between levels k and k+1 (log-linear). */
  private locate(sigma2: number): [number, number] {
    const x = (Math.log(sigma2) - this.logS2Min) / this.step;
    const n = this.levels.length;
    if (!(x >= -1e-9 && x <= n - 1 + 1e-9)) {
      throw new RangeError(`σ² = ${sigma2} is outside the table's range [${this.sigma2Min}, ${this.sigma2Max}]`);
    }
    const k = Math.min(n - 2, Math.max(0, Math.floor(x)));
    return [k, Math.min(1, Math.max(0, x - k))];
  }

  /** θ at quantile q ∈ [0, 1] of the angle distribution at σ². */
  quantile(sigma2: number, q: number): number {
    const [k, a] = this.locate(sigma2);
    const t0 = levelQuantile(this.levels[k], q);
    const t1 = levelQuantile(this.levels[k + 1], q);
    if (a === 0) return t0;
    if (t0 <= 0 || t1 <= 0) return (1 - a) * t0 + a * t1;
    return Math.exp((1 - a) * Math.log(t0) + a * Math.log(t1));
  }

  /** The score coefficient c(cos θ) at σ². */
  coeff(sigma2: number, theta: number): number {
    const [k, a] = this.locate(sigma2);
    return Math.exp((1 - a) * levelLogCoeff(this.levels[k], theta) + a * levelLogCoeff(this.levels[k + 1], theta));
  }

  /**
   * Batched: θ and c for per-sample σ² and uniforms q (both [n]). One pass over the batch, no
   * tensors: the sample's u = cos θ and its score coefficient c(u).
   */
  sample(sigma2: Float64Array, q: Float64Array): { theta: Float64Array; coeff: Float64Array } {
    const n = sigma2.length;
    const theta = new Float64Array(n);
    const coeff = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      theta[i] = this.quantile(sigma2[i], q[i]);
      coeff[i] = this.coeff(sigma2[i], theta[i]);
    }
    return { theta, coeff };
  }

  /** Counts of levels by form (for reports). */
  methods(): { series: number; varadhan: number } {
    const series = this.levels.filter((l) => l.method === 'series').length;
    return { series, varadhan: this.levels.length - series };
  }
}
