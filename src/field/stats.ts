/**
 * Correlation statistics for the head analysis (Bhattacharjee & Lee, Sec. III): Pearson's r
 * between ΔL_theory and ΔL_actual across prompts, with the two-sided p-value of the t test
 * t = r √((n − 2)/(1 − r²)) on n − 2 degrees of freedom (t CDF from @stdlib).
 */
import tcdf from '@stdlib/stats-base-dists-t-cdf';

/** Pearson's r, its two-sided p-value and the sample size. */
export interface Correlation {
  r: number;
  p: number;
  n: number;
}

/** Centred second moments of paired samples: Σ(x−x̄)(y−ȳ), Σ(x−x̄)², Σ(y−ȳ)², and the means. */
function moments(x: ArrayLike<number>, y: ArrayLike<number>): { mx: number; my: number; sxy: number; sxx: number; syy: number } {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`paired samples differ in length (${n} vs ${y.length})`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return { mx, my, sxy, sxx, syy };
}

/** Pearson's r of paired samples with the two-sided t-test p-value (n − 2 degrees of freedom). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  const n = x.length;
  const { sxy, sxx, syy } = moments(x, y);
  if (n < 3 || sxx === 0 || syy === 0) return { r: NaN, p: NaN, n };
  const r = Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  const df = n - 2;
  if (Math.abs(r) === 1) return { r, p: 0, n };
  const t = r * Math.sqrt(df / (1 - r * r));
  const p = 2 * (1 - tcdf(Math.abs(t), df));
  return { r, p: Math.max(0, Math.min(1, p)), n };
}

/** Ordinary least-squares line y = a + b x (for the scatter plot's fit). */
export function leastSquares(x: ArrayLike<number>, y: ArrayLike<number>): { intercept: number; slope: number } {
  const { mx, my, sxy, sxx } = moments(x, y);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { intercept: my - slope * mx, slope };
}
