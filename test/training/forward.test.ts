/**
 * Forward noising (Eq. 12) by the samplers of training/forward.ts: E[S_t·S_0] = e^{−(d−1)σ²/2}
 * (constant β: σ² = βt) within 3 standard errors for d = 3, 16, 768, higher Gegenbauer moments
 * E[P_l(u)] = e^{−l(l+d−2)σ²/2} for the exact sampler, the uniform limit at large t, and the exact
 * sampler against the geodesic random walk.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { meanCosine } from '../../src/core/heatKernel.js';
import { rowDot, uniformSpins } from '../../src/core/sphere.js';
import { makeRng } from '../../src/rng.js';
import { noiseSpins, walkBias, type ForwardSampler } from '../../training/forward.js';
import { gegenbauer, gegenbauerMoment, HeatKernelTable } from '../../training/heatTable.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Mean and standard error of xs. */
function meanSe(xs: ArrayLike<number>): { mean: number; se: number } {
  const n = xs.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += xs[i];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i] - m) ** 2;
  return { mean: m, se: Math.sqrt(v / (n - 1) / n) };
}

async function noised(d: number, n: number, s2: number, sampler: ForwardSampler, table: HeatKernelTable, seed: string, substeps = 64) {
  const rng = makeRng(seed);
  const S0 = uniformSpins(n, d, rng);
  const r = await noiseSpins(S0, new Float64Array(n).fill(s2), rng, { sampler, table, substeps });
  const dev = tf.tidy(() => tf.squeeze(rowDot(r.St, S0)).dataSync());
  const norms = tf.tidy(() => tf.norm(r.St, 'euclidean', -1).dataSync());
  tf.dispose([S0, r.St]);
  return { u: r.u, dev, norms, coeff: r.coeff };
}

describe('exact sampler (tabulated heat kernel)', () => {
  for (const d of [3, 16, 768]) {
    it(`E[P_l(S_t·S_0)] = e^{−l(l+d−2)σ²/2}, l = 1, 2, 3, within 3 standard errors, d = ${d}`, async () => {
      const n = d === 768 ? 3000 : 6000;
      // σ² chosen between the table's levels, so interpolation is exercised
      const xs = [0.5, 2];
      const table = new HeatKernelTable(d, 0.37 / (d - 1), 2.9 / (d - 1), { levels: 9, grid: 1024 });
      for (const x of xs) {
        const s2 = x / (d - 1);
        const r = await noised(d, n, s2, 'exact', table, `exact-${d}-${x}`);
        for (let i = 0; i < n; i++) {
          expect(Math.abs(r.norms[i] - 1)).toBeLessThan(1e-5);
          expect(Math.abs(r.dev[i] - r.u[i])).toBeLessThan(2e-5); // the tensor S_t carries the sampled u
        }
        for (const l of [1, 2, 3]) {
          const { mean, se } = meanSe(Array.from(r.u, (u) => gegenbauer(d, l, u)));
          const want = l === 1 ? meanCosine(d, s2) : gegenbauerMoment(d, l, s2);
          expect(Math.abs(mean - want), `d=${d} x=${x} l=${l}: ${mean} vs ${want} (se ${se})`).toBeLessThan(3 * se);
        }
      }
    });
  }

  it('at large t the mean resultant length goes to 0 (uniform prior)', async () => {
    const d = 16;
    const n = 4000;
    const s2 = 30 / (d - 1);
    const table = new HeatKernelTable(d, s2 * 0.9, s2 * 1.1, { levels: 3, grid: 512 });
    const rng = makeRng('uniform-limit');
    const S0 = tf.tile(tf.cast(tf.oneHot([0], d), 'float32'), [n, 1]);
    const r = await noiseSpins(S0, new Float64Array(n).fill(s2), rng, { sampler: 'exact', table });
    const R = tf.tidy(() => tf.norm(tf.mean(r.St, 0)).dataSync()[0]);
    expect(R).toBeLessThan(4 / Math.sqrt(n)); // uniform: E|mean|² = 1/n
    tf.dispose([S0, r.St]);
  });

  it('matches the geodesic random walk in distribution (two-sample Kolmogorov–Smirnov, d = 16)', async () => {
    const d = 16;
    const n = 3000;
    const s2 = 1 / (d - 1);
    const table = new HeatKernelTable(d, s2 * 0.95, s2 * 1.05, { levels: 3 });
    const substeps = Math.ceil(((d - 1) * s2) ** 2 / (12 * 0.001)); // walk bias ≤ 0.1%
    const a = Array.from((await noised(d, n, s2, 'exact', table, 'ks-a')).u).sort((x, y) => x - y);
    const b = Array.from((await noised(d, n, s2, 'walk', table, 'ks-b', substeps)).u).sort((x, y) => x - y);
    let i = 0;
    let j = 0;
    let D = 0;
    while (i < n && j < n) {
      if (a[i] <= b[j]) i++;
      else j++;
      D = Math.max(D, Math.abs(i / n - j / n));
    }
    expect(D).toBeLessThan(1.95 * Math.sqrt(2 / n)); // 0.1% critical value
  });
});

describe('walk sampler (geodesic random walk + tabulated c)', () => {
  for (const d of [3, 16, 768]) {
    it(`mean of S_t·S_0 follows exp(−(d−1)βt/2) within 3 standard errors, d = ${d}`, async () => {
      const n = d === 768 ? 512 : 3000;
      // d = 768 only at x = 0.5 here (the walk needs ((d−1)σ²)²/(12·0.002) substeps; test/core/sphere.test.ts covers x = 2)
      for (const x of d === 768 ? [0.5] : [0.5, 2]) {
        const s2 = x / (d - 1);
        const substeps = Math.max(8, Math.ceil(((d - 1) * s2) ** 2 / (12 * 0.002)));
        expect(walkBias(d, s2, substeps)).toBeLessThanOrEqual(0.002);
        const table = new HeatKernelTable(d, s2 * 0.95, s2 * 1.05, { levels: 3, grid: 512 });
        const r = await noised(d, n, s2, 'walk', table, `walk-${d}-${x}`, substeps);
        const { mean, se } = meanSe(r.u);
        expect(Math.abs(mean - meanCosine(d, s2)), `d=${d} x=${x}: ${mean} (se ${se})`).toBeLessThan(3 * se);
        for (let i = 0; i < n; i++) expect(r.coeff[i]).toBeGreaterThan(0);
      }
    });
  }
});
