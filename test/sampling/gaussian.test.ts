/**
 * The Wiener increments' normals (sampling/gaussian.ts, xoshiro128** + ziggurat) against the
 * standard normal law: moments, the tail beyond the ziggurat's base R, a Kolmogorov–Smirnov distance
 * to Φ, no lag-1 correlation, that `fill` and `normal` draw the same stream, and that the WASM
 * fill gives the same bytes as the plain-JS `fillJs` (so a seed's noise is the same as before it).
 */
import erfc from '@stdlib/math-base-special-erfc';
import { describe, expect, it } from 'vitest';
import { onArena, rowBuffer, withRowScope } from '../../src/core/kernels/rows.js';
import { makeRng } from '../../src/rng.js';
import { FastNormal } from '../../sampling/gaussian.js';

const Phi = (x: number) => 0.5 * erfc(-x / Math.SQRT2);

describe('FastNormal', () => {
  const n = 1_000_000;
  const x = new FastNormal(makeRng('gauss-test')).fill(n);

  it('mean 0, variance 1, kurtosis 3 and lag-1 correlation 0 within 4.5 standard errors', () => {
    let m1 = 0,
      m2 = 0,
      m4 = 0,
      lag = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      m1 += v;
      m2 += v * v;
      m4 += v ** 4;
      if (i > 0) lag += v * x[i - 1];
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    lag /= n - 1;
    expect(Math.abs(m1)).toBeLessThan(4.5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(4.5 * Math.sqrt(2 / n));
    expect(Math.abs(m4 - 3)).toBeLessThan(4.5 * Math.sqrt(96 / n));
    expect(Math.abs(lag)).toBeLessThan(4.5 / Math.sqrt(n));
  });

  it('P(|x| > R) and P(|x| > 4.5) match 2(1 − Φ) (the ziggurat tail and its base layer)', () => {
    for (const r of [1, 2.5, 3.442619855899, 4.5]) {
      const p = 2 * (1 - Phi(r));
      let k = 0;
      for (let i = 0; i < n; i++) if (Math.abs(x[i]) > r) k++;
      expect(Math.abs(k / n - p), `|x| > ${r}: ${k / n} vs ${p}`).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / n) + 1 / n);
    }
  });

  it('Kolmogorov–Smirnov distance to Φ below the 1% critical value 1.63/√n', () => {
    const s = Float64Array.from(x).sort();
    let D = 0;
    for (let i = 0; i < n; i++) {
      const F = Phi(s[i]);
      D = Math.max(D, Math.abs(F - i / n), Math.abs((i + 1) / n - F));
    }
    expect(D).toBeLessThan(1.63 / Math.sqrt(n));
  });

  it('fill and normal() draw the same stream; the same seed gives the same draws', () => {
    const a = new FastNormal(makeRng(7)).fill(5000, 2);
    const g = new FastNormal(makeRng(7));
    const b = Float32Array.from({ length: 5000 }, () => 2 * g.normal());
    expect(Array.from(a)).toEqual(Array.from(b));
    const out = new Float32Array(5000);
    new FastNormal(makeRng(7)).fill(5000, 2, out);
    expect(Array.from(out)).toEqual(Array.from(a));
  });

  it('the WASM fill gives the bytes of fillJs: across chunk edges, both paths, calls in a row, into arena rows', () => {
    const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    for (const [seed, std] of [
      [1, 1],
      [2, 0.37],
      [3, 1e-3],
    ] as const) {
      const a = new FastNormal(makeRng(seed));
      const b = new FastNormal(makeRng(seed));
      let slow = 0;
      for (const n of [0, 3, 4095, 4096, 4097, 12_289, 100_000]) {
        const x = a.fill(n, std);
        const y = b.fillJs(n, std);
        expect(bytes(x).equals(bytes(y)), `seed ${seed}, n ${n}`).toBe(true);
        slow += y.filter((v) => Math.abs(v / std) > 3.442619855899).length; // tail draws: the rejection path ran
        expect(a.normal()).toBe(b.normal()); // the state after a fill is the same
      }
      expect(slow).toBeGreaterThan(10);
    }
    withRowScope(4 * 1024, () => {
      const row = rowBuffer(1027); // a view on the kernels' arena memory, written with out.set
      expect(onArena(row)).toBe(true);
      new FastNormal(makeRng(9)).fill(1027, 0.5, row);
      expect(bytes(row).equals(bytes(new FastNormal(makeRng(9)).fillJs(1027, 0.5)))).toBe(true);
    });
  });
});
