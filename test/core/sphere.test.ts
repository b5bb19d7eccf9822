/**
 * Sphere geometry and the heat kernel: exp/log maps, the forward process's closed-form mean
 * E[S_t·S_0] = e^{−(d−1)σ²/2} for d = 3, 16, 768, and the score forms on S².
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { heatKernelSeries, meanCosine, varadhanCoeff } from '../../src/core/heatKernel.js';
import { beta, sigma2, SCHEDULE_KINDS } from '../../src/core/schedules.js';
import {
  expMap,
  expMapRows,
  geodesicRandomWalk,
  logMap,
  normalizeRows,
  normalizeSpins,
  rowDot,
  tangentProject,
  tangentProjectRows,
  uniformSpinRows,
  uniformSpins,
} from '../../src/core/sphere.js';
import { makeRng } from '../../src/rng.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('maps', () => {
  it('log is the inverse of exp, and tangent projection is idempotent and orthogonal to S', () => {
    const rng = makeRng(1);
    const S = uniformSpins(64, 10, rng);
    const v = tf.mul(tangentProject(S, uniformSpins(64, 10, rng)), 0.7);
    const T = expMap(S, v);
    expect(tf.max(tf.abs(tf.sub(logMap(S, T), v))).dataSync()[0]).toBeLessThan(1e-4);
    expect(tf.max(tf.abs(tf.sub(tf.norm(T, 'euclidean', -1), 1))).dataSync()[0]).toBeLessThan(1e-6);
    const P = tangentProject(S, v);
    expect(tf.max(tf.abs(rowDot(S, P))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(tf.sub(tangentProject(S, P), P))).dataSync()[0]).toBeLessThan(1e-6);
  });
});

describe('host rows equal the tensor maps', () => {
  it('tangentProjectRows, normalizeRows, expMapRows and uniformSpinRows match their tensor forms (d = 3, 128)', () => {
    for (const d of [3, 128]) {
      const n = 9;
      const S = uniformSpins(n, d, makeRng(`h${d}`));
      const Sh = uniformSpinRows(n, d, makeRng(`h${d}`));
      const x = tf.mul(uniformSpins(n, d, makeRng(`x${d}`)), 1.7);
      const v = tf.mul(tangentProject(S, x), 0.9); // tangent, |v| ~ 0.9
      const tiny = tf.mul(v, 1e-8); // the sinc limit of expMap
      const cases: [string, tf.Tensor, Float32Array][] = [
        ['uniformSpinRows', S, Sh],
        ['tangentProjectRows', tangentProject(S, x), tangentProjectRows(Sh, x.dataSync() as Float32Array, new Float32Array(n * d), d)],
        ['normalizeRows', normalizeSpins(x), normalizeRows(x.dataSync() as Float32Array, new Float32Array(n * d), d)],
        ['expMapRows', expMap(S, v), expMapRows(Sh, v.dataSync() as Float32Array, new Float32Array(n * d), d)],
        ['expMapRows (|v| = 1e-8)', expMap(S, tiny), expMapRows(Sh, tiny.dataSync() as Float32Array, new Float32Array(n * d), d)],
      ];
      for (const [name, want, got] of cases) {
        const w = want.dataSync();
        const err = Math.max(...got.map((g, i) => Math.abs(g - w[i])));
        expect(err, `${name}, d = ${d}`).toBeLessThan(2e-6);
      }
      // aliasing: out = v in place
      const a = x.dataSync() as Float32Array;
      const b = Float32Array.from(a);
      tangentProjectRows(Sh, b, b, d);
      const ref = tangentProjectRows(Sh, a, new Float32Array(n * d), d);
      expect(Math.max(...b.map((g, i) => Math.abs(g - ref[i])))).toBe(0);
      tf.dispose([S, x, v, tiny, ...cases.map((c) => c[1])]);
    }
  });
});

describe('forward noising (Eq. 12) with constant β', () => {
  for (const d of [3, 16, 768]) {
    it(`mean of S_t·S_0 follows exp(−(d−1)βt/2) within 3 standard errors, d = ${d}`, () => {
      const n = d === 768 ? 512 : 2000;
      const rng = makeRng(`fwd${d}`);
      const S0 = uniformSpins(n, d, rng);
      for (const s2 of [0.5 / (d - 1), 2 / (d - 1)]) {
        // relative bias of the walk ≈ ((d−1)σ²)²/(12·substeps) (see src/core/sphere.ts): keep it ≤ 0.2%
        const substeps = Math.max(20, Math.ceil(((d - 1) * s2) ** 2 / (12 * 0.002)));
        const St = geodesicRandomWalk(S0, s2, substeps, rng);
        const u = Array.from(tf.squeeze(rowDot(St, S0)).dataSync());
        const mean = u.reduce((a, b) => a + b, 0) / n;
        const sd = Math.sqrt(u.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
        const se = sd / Math.sqrt(n);
        expect(Math.abs(mean - meanCosine(d, s2)), `d=${d} σ²=${s2}: mean ${mean} vs ${meanCosine(d, s2)} (se ${se})`).toBeLessThan(3 * se);
        St.dispose();
      }
    });
  }

  it('at large t the mean resultant length goes to 0', () => {
    const d = 16;
    const n = 4000;
    const rng = makeRng('res');
    const S0 = tf.tile(tf.cast(tf.oneHot([0], d), 'float32'), [n, 1]);
    const St = geodesicRandomWalk(S0, 3, 30, rng);
    const R = tf.norm(tf.mean(St, 0)).dataSync()[0];
    // uniform on S^{d−1}: E|mean|² = 1/n
    expect(R).toBeLessThan(4 / Math.sqrt(n));
  });
});

describe('heat-kernel score on S² (d = 3)', () => {
  it('Varadhan agrees with the exact eigen-series at small σ² (relative error ≤ 1% at σ² ≤ 0.05)', () => {
    for (const s2 of [0.01, 0.02, 0.05]) {
      for (const theta of [0.05, 0.1, 0.2, 0.3]) {
        const u = Math.cos(theta);
        const exact = heatKernelSeries(u, 3, s2).coeff;
        expect(Number.isFinite(exact)).toBe(true);
        expect(Math.abs(varadhanCoeff(u, 3, s2) - exact) / exact).toBeLessThan(0.01);
        // the leading form log_{S_t}(S_0)/σ² (no curvature term) is within σ²/6 + 1%
        expect(Math.abs(varadhanCoeff(u, 3, s2, false) - exact) / exact).toBeLessThan(s2 / 6 + 0.01);
      }
    }
  });

  it('at large σ² the truncated series agrees with the closed l ≤ 1 form 3e^{−σ²}(…)', () => {
    for (const s2 of [3, 5]) {
      for (const u of [-0.5, 0, 0.7]) {
        // p ∝ 1 + 3 e^{−σ²} u + 5 e^{−3σ²} P₂(u) + …; c = p′/p
        const a = 3 * Math.exp(-s2);
        const b = 5 * Math.exp(-3 * s2);
        const closed = (a + b * 3 * u) / (1 + a * u + b * (1.5 * u * u - 0.5));
        expect(heatKernelSeries(u, 3, s2).coeff).toBeCloseTo(closed, 6);
      }
    }
  });

  it('the series density integrates to 1 over S² (normalisation 1/4π)', () => {
    const s2 = 0.3;
    let integral = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const u = -1 + (2 * (i + 0.5)) / n;
      integral += (Math.exp(heatKernelSeries(u, 3, s2).logDensity) / (4 * Math.PI)) * 2 * Math.PI * (2 / n);
    }
    expect(integral).toBeCloseTo(1, 4);
  });
});

describe('schedules', () => {
  it('σ²(t) is the integral of β(t)', () => {
    for (const kind of SCHEDULE_KINDS) {
      const s = { kind, betaMin: 0.1, betaMax: 3, T: 2 };
      let acc = 0;
      const n = 20000;
      for (let i = 0; i < n; i++) acc += beta(s, ((i + 0.5) / n) * 1.3) * (1.3 / n);
      expect(sigma2(s, 1.3)).toBeCloseTo(acc, 6);
    }
  });
});
