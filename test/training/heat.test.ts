/**
 * Score targets of the forward process (Eqs. 12–13): the tabulated heat-kernel coefficient c(u, σ²)
 * (training/heatTable.ts) against the exact eigen-series, the Varadhan target log_{S_t}(S_0)/σ²
 * against the exact score as tangent vectors on S² at small t, the l ≤ 2 closed form at large t in
 * d = 16 and 128, and the moment-tilted Varadhan form that replaces the series where it cancels.
 * (test/core/sphere.test.ts checks the scalar Varadhan and l ≤ 1 forms on S²; this extends them.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { heatKernelSeries, varadhanCoeff } from '../../src/core/heatKernel.js';
import { logMap, uniformSpins } from '../../src/core/sphere.js';
import { makeRng } from '../../src/rng.js';
import { noiseSpins } from '../../training/forward.js';
import { buildLevel, HeatKernelTable } from '../../training/heatTable.js';
import { heatKernelScore } from '../../training/objectives.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('tabulated c(u, σ²)', () => {
  for (const d of [3, 16, 128]) {
    it(`agrees with the eigen-series: median relative error ≤ 1e-5, max ≤ 5e-3 over (d−1)σ² ∈ [1e-4, 5], d = ${d}`, () => {
      const lo = 1e-4 / (d - 1);
      const hi = 5 / (d - 1);
      const table = new HeatKernelTable(d, lo, hi, { levels: 160, grid: 1024 });
      const rng = makeRng(`tab-${d}`);
      const errs: number[] = [];
      for (let k = 0; k < 600; k++) {
        const s2 = Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * rng.uniform());
        const th = table.quantile(s2, 0.001 + 0.998 * rng.uniform());
        const exact = heatKernelSeries(Math.cos(th), d, s2, 20000).coeff;
        if (Number.isFinite(exact)) errs.push(Math.abs(table.coeff(s2, th) - exact) / exact);
      }
      errs.sort((a, b) => a - b);
      expect(errs.length).toBeGreaterThan(300);
      expect(errs[errs.length >> 1]).toBeLessThan(1e-5);
      expect(errs[errs.length - 1]).toBeLessThan(5e-3);
    });
  }
});

describe('Varadhan and large-t forms', () => {
  it('on S² at small t the target log_{S_t}(S_0)/σ² equals c P_{S_t} S_0 of the leading form, and is within σ²/6 + 1% of the exact score', async () => {
    const d = 3;
    const n = 400;
    const rng = makeRng('varadhan-s2');
    for (const s2 of [0.005, 0.02]) {
      const table = new HeatKernelTable(d, s2 * 0.99, s2 * 1.01, { levels: 2 });
      const S0 = uniformSpins(n, d, rng);
      const r = await noiseSpins(S0, new Float64Array(n).fill(s2), rng, { sampler: 'exact', table });
      const lead = tf.tensor2d(
        Float32Array.from(r.u, (u) => varadhanCoeff(u, d, s2, false)),
        [n, 1],
      );
      const exact = tf.tensor2d(
        Float32Array.from(r.u, (u) => heatKernelSeries(u, d, s2).coeff),
        [n, 1],
      );
      const viaLog = tf.div(logMap(r.St, S0), s2); // [n, d]
      const viaCoeff = heatKernelScore(r.St, S0, lead); // [n, d]
      const exactScore = heatKernelScore(r.St, S0, exact); // [n, d]
      // rows with θ > 0.02 (float32 arccos of S_t·S_0 loses digits below that)
      const keep = tf.tensor1d(Float32Array.from(r.u, (u) => (u < Math.cos(0.02) ? 1 : 0)));
      const rel = (a: tf.Tensor, b: tf.Tensor) =>
        tf.tidy(() => tf.max(tf.mul(keep, tf.div(tf.norm(tf.sub(a, b), 'euclidean', -1), tf.norm(b, 'euclidean', -1)))).dataSync()[0]);
      expect(rel(viaLog, viaCoeff)).toBeLessThan(2e-3);
      expect(rel(viaLog, exactScore)).toBeLessThan(s2 / 6 + 0.01);
      keep.dispose();
      tf.dispose([S0, r.St, lead, exact, viaLog, viaCoeff, exactScore]);
    }
  });

  for (const d of [16, 128]) {
    it(`at large t ((d−1)σ² ≥ 2 ln(1000 d)) the series equals the closed l ≤ 2 form to 1e-6, d = ${d}`, () => {
      // the l-th term is ~ (d e^{−(d−1)σ²/2})^l / l!: negligible from l = 3 on only once d e^{−x/2} ≪ 1
      const x0 = 2 * Math.log(1000 * d);
      for (const x of [x0, x0 + 6]) {
        const s2 = x / (d - 1);
        // p ∝ 1 + N₁ e^{−λ₁σ²} P₁ + N₂ e^{−λ₂σ²} P₂,  N₁ = d, N₂ = (d+2)(d−1)/2, λ_l = l(l+d−2)/2
        const a = d * Math.exp(-((d - 1) * s2) / 2);
        const b = (((d + 2) * (d - 1)) / 2) * Math.exp(-d * s2);
        for (const u of [-0.3, 0, 0.4]) {
          const P2 = (d * u * u - 1) / (d - 1);
          const closed = (a + (b * 2 * d * u) / (d - 1)) / (1 + a * u + b * P2);
          expect(Math.abs(heatKernelSeries(u, d, s2).coeff - closed) / closed).toBeLessThan(1e-6);
        }
      }
    });
  }

  it('the moment-tilted Varadhan form is within 0.3% of the series over the central 96% where plain Varadhan is off by > 4% (d = 128, x = 2; d = 768, x = 3)', () => {
    for (const [d, x] of [
      [128, 2],
      [768, 3],
    ]) {
      const s2 = x / (d - 1);
      const L = buildLevel(d, s2, 1024, 1500, false);
      expect(L.method).toBe('varadhan');
      let worstTilt = 0;
      let worstPlain = 0;
      for (let j = 0; j < L.cdf.length; j += 4) {
        if (L.cdf[j] < 0.02 || L.cdf[j] > 0.98) continue;
        const u = Math.cos(L.theta0 + j * L.dtheta);
        const exact = heatKernelSeries(u, d, s2, 20000).coeff;
        if (!Number.isFinite(exact)) continue;
        worstTilt = Math.max(worstTilt, Math.abs(Math.exp(L.logCoeff[j]) - exact) / exact);
        worstPlain = Math.max(worstPlain, Math.abs(varadhanCoeff(u, d, s2) - exact) / exact);
      }
      expect(worstTilt).toBeLessThan(3e-3);
      expect(worstPlain).toBeGreaterThan(0.04);
    }
  });
});
