/** Pearson r and its two-sided p-value against closed forms. */
import { describe, expect, it } from 'vitest';
import { leastSquares, pearson } from '../../src/field/stats.js';

describe('pearson', () => {
  it('matches the definition on a hand-computed case', () => {
    // x = 1..5, y = 2,4,5,4,5: Sxy = 6, Sxx = 10, Syy = 6 → r = 6/√60
    const c = pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);
    expect(c.r).toBeCloseTo(6 / Math.sqrt(60), 12);
  });

  it('gives the two-sided t-test p-value: closed form for df = 1 and df = 2', () => {
    // df = 1: t is Cauchy, p = 1 − (2/π) atan|t|.
    const x = [0, 1, 2];
    const y = [0, 2, 1];
    const c = pearson(x, y);
    const t = c.r * Math.sqrt(1 / (1 - c.r * c.r));
    expect(c.p).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(Math.abs(t)), 10);
    // df = 2: p = 1 − |t|/√(t² + 2).
    const c2 = pearson([0, 1, 2, 3], [1, 0, 3, 2]);
    const t2 = c2.r * Math.sqrt(2 / (1 - c2.r * c2.r));
    expect(c2.p).toBeCloseTo(1 - Math.abs(t2) / Math.sqrt(t2 * t2 + 2), 10);
  });

  it('is symmetric in sign and invariant to affine rescaling', () => {
    const x = [0.3, -1.2, 2.5, 0.1, 0.9, -0.4];
    const y = [1.1, -0.7, 2.0, 0.5, 0.2, -1.5];
    const a = pearson(x, y);
    const b = pearson(
      x.map((v) => 3 * v - 2),
      y.map((v) => -v),
    );
    expect(b.r).toBeCloseTo(-a.r, 12);
    expect(b.p).toBeCloseTo(a.p, 12);
  });

  it('least squares recovers an exact line', () => {
    const f = leastSquares([0, 1, 2, 3], [1, 3, 5, 7]);
    expect(f.slope).toBeCloseTo(2, 12);
    expect(f.intercept).toBeCloseTo(1, 12);
  });
});
