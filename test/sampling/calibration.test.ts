/**
 * Drift–noise calibration diagnostics (sampling/calibration.ts) on closed forms:
 *  - noiseless drift on the sphere: the angle to N̂ obeys tan(θ/2) = tan(θ₀/2)·e^{−η|N|τ}
 *    (BL Eq. 14 / B4), and a run's final alignment matches it;
 *  - LLG (BL Eq. 9): precession about N̂ at the rate γη|G| whatever λ, S·N̂ relaxing at the Gilbert rate
 *    ηγλ/(1+λ²) only;
 *  - pure noise ⇒ no commitment: with the readout fully mixed between readouts, the last readout differs
 *    from the one before with probability 1 − Σ p_t² = 1 − 1/V, and two seeds agree with probability 1/V;
 *  - strong drift ⇒ every seed reads out the field's argmax token (over-damped);
 *  - seed agreement, the commitment fraction and the Péclet number on hand-computed cases.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import type { NoiseSchedule } from '../../src/core/schedules.js';
import { makeRng, normalArray } from '../../src/rng.js';
import {
  CALIBRATION_THRESHOLDS,
  classify,
  commitmentFraction,
  driftOnlyCos,
  pecletNumber,
  quantile,
  runTrajectories,
  seedAgreement,
  summarise,
  unitRowsOf,
} from '../../sampling/calibration.js';
import { calibrationCsv, calibrationGrid, calibrationSpec } from '../../sampling/calibration-report.js';
import { GuidedDrift } from '../../sampling/drift.js';
import { INTEGRATORS } from '../../sampling/integrators/index.js';
import { TokenReadout } from '../../sampling/readout.js';

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => new Promise<void>((r) => setImmediate(r)));

const constant = (beta: number, T = 1): NoiseSchedule => ({ kind: 'constant', betaMin: beta, betaMax: beta, T });

/** A readout over V random token spins in d dimensions, or the 2d tokens ±e_i when `axes`. */
function readoutOf(V: number, d: number, axes = false): TokenReadout {
  let E = normalArray(makeRng(`cal/E/${V}/${d}`), V * d);
  if (axes) {
    E = new Float32Array(2 * d * d); // token i = +e_i, token d + i = −e_i
    for (let i = 0; i < d; i++) {
      E[i * d + i] = 1;
      E[(d + i) * d + i] = -1;
    }
  }
  const t = tf.tensor2d(E, [axes ? 2 * d : V, d]);
  const r = new TokenReadout(t);
  t.dispose();
  return r;
}

function randomFields(n: number, d: number, seed: string): Float32Array {
  return unitRowsOf(normalArray(makeRng(seed), n * d), d);
}

describe('hand-computed diagnostics', () => {
  it('commitment fraction is τ of the last readout that differs from the final token', () => {
    const taus = [0.25, 0.5, 0.75, 1];
    expect(commitmentFraction([3, 3, 3, 3], taus)).toBe(0);
    expect(commitmentFraction([1, 3, 3, 3], taus)).toBe(0.25);
    expect(commitmentFraction([3, 1, 3, 3], taus)).toBe(0.5);
    expect(commitmentFraction([3, 3, 1, 3], taus)).toBe(0.75);
  });

  it('seed agreement is the share of equal seed pairs, averaged over contexts', () => {
    expect(seedAgreement([7, 7, 7, 1, 2, 3], 3)).toBeCloseTo((1 + 0) / 2, 12);
    expect(seedAgreement([7, 7, 9], 3)).toBeCloseTo(2 / 6, 12);
    expect(seedAgreement([1, 1, 2, 2], 4)).toBeCloseTo(4 / 12, 12);
    expect(() => seedAgreement([1, 2, 3], 2)).toThrow(/seed agreement/);
  });

  it('drift-only law: tan(θ/2) = tan(θ₀/2)·e^{−I}', () => {
    for (const c0 of [-0.9, -0.2, 0, 0.3, 0.95])
      for (const I of [0.1, 1, 3]) {
        const th = Math.acos(driftOnlyCos(c0, I));
        expect(Math.tan(th / 2)).toBeCloseTo(Math.tan(Math.acos(c0) / 2) * Math.exp(-I), 10);
      }
  });

  it('Péclet number is κ/(d − 1) = 2c_N/((d − 1)β) for constant coefficients, c_N = ηλ/(1+λ²) under LLG', () => {
    const d = 16;
    const N = randomFields(2, d, 'pe');
    const plain = new GuidedDrift({ N, d, eta: 3, schedule: constant(0.5) });
    expect(pecletNumber(plain, 0.9)).toBeCloseTo((2 * 3) / (15 * 0.5), 10);
    const llg = new GuidedDrift({ N, d, eta: 3, schedule: constant(0.5), llg: { lambda: 2, precession: { kind: 'orthogonal' } }, rng: makeRng('pe') });
    expect(pecletNumber(llg, 0.9)).toBeCloseTo((2 * 3 * (2 / 5)) / (15 * 0.5), 10);
    // a linear β from 0.2 (τ = 0) to 0.1·… : ∫β dτ by Simpson is exact for a linear schedule
    const lin = new GuidedDrift({ N, d, eta: 1, schedule: { kind: 'linear', betaMin: 0.1, betaMax: 0.3, T: 1 } });
    expect(pecletNumber(lin, 1)).toBeCloseTo(2 / (15 * 0.2), 10);
  });

  it('classify applies the stated thresholds in order', () => {
    const th = CALIBRATION_THRESHOLDS;
    expect(classify({ seedAgreement: th.overDampedAgreement, margin: 0, commitment: 1 }, 0.05)).toBe('over-damped');
    expect(classify({ seedAgreement: 0.5, margin: 0.05, commitment: 0.2 }, 0.05)).toBe('wandering');
    expect(classify({ seedAgreement: 0.5, margin: 0.2, commitment: th.wanderCommitment }, 0.05)).toBe('wandering');
    expect(classify({ seedAgreement: 0.5, margin: 0.2, commitment: 0.5 }, 0.05)).toBe('well-calibrated');
  });

  it('quantile interpolates linearly', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6, 12);
  });
});

describe('trajectories on closed forms', () => {
  it('noiseless plain drift: the final alignment follows tan(θ/2) = tan(θ₀/2)·e^{−η|N|τ}', () => {
    const d = 16;
    const n = 24;
    const readout = readoutOf(40, d);
    const { rows } = runTrajectories({
      setting: { eta: 1.5, lambda: null, schedule: constant(0) },
      N: randomFields(n, d, 'noiseless'),
      d,
      readout,
      integrator: INTEGRATORS.heun,
      steps: 200,
      tMin: 0.2, // τ_end = 0.8: η τ_end = 1.2, far from alignment
      score: null,
      every: 20,
      rng: makeRng('noiseless'),
    });
    readout.dispose();
    for (const r of rows) {
      expect(Math.abs(r.cosField - r.cosDrift)).toBeLessThan(2e-5);
      expect(r.winding).toBe(0);
    }
    expect(new Set(rows.map((r) => r.cosDrift.toFixed(4))).size).toBeGreaterThan(n / 2); // varied starts
  });

  it('LLG: winding at γη|G|τ/2π about N̂ for every λ; S·N̂ relaxes at the Gilbert rate ηλ/(1+λ²) only (BL Eq. 9)', () => {
    const d = 8;
    const n = 16;
    const eta = 2.5;
    const readout = readoutOf(30, d);
    for (const lambda of [0, 0.25, 4]) {
      const { rows } = runTrajectories({
        setting: { eta, lambda, schedule: constant(0) },
        N: randomFields(n, d, `llg/${lambda}`),
        d,
        readout,
        integrator: INTEGRATORS.heun,
        steps: 400,
        tMin: 0,
        score: null,
        every: 40,
        rng: makeRng(`llg/${lambda}`),
      });
      for (const r of rows) {
        expect(r.winding).toBeCloseTo((eta * 1) / (2 * Math.PI), 3); // τ_end = 1, γ = 1
        expect(Math.abs(r.cosField - r.cosDrift)).toBeLessThan(1e-4);
      }
    }
    readout.dispose();
  });

  it('pure noise ⇒ no commitment: last two readouts differ with probability 1 − 1/V; seeds agree with probability 1/V', () => {
    const d = 3;
    const V = 2 * d; // ±e_i: equal cells by symmetry
    const seeds = 4;
    const contexts = 500;
    const n = contexts * seeds;
    const readout = readoutOf(V, d, true);
    const { rows } = runTrajectories({
      setting: { eta: 0, lambda: null, schedule: constant(60) },
      N: randomFields(n, d, 'noise'),
      d,
      readout,
      integrator: INTEGRATORS.heun,
      steps: 800,
      tMin: 0,
      score: null,
      every: 80, // 0.1 time units between readouts: e^{−(d−1)β/2·0.1} = e^{−6} of the l = 1 mode left
      rng: makeRng('pure-noise'),
    });
    readout.dispose();
    const last = rows.filter((r) => Math.abs(r.commitment - 0.9) < 1e-9).length / n;
    const p = 1 - 1 / V;
    expect(Math.abs(last - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    const s = summarise(rows, seeds, new Array<number>(contexts).fill(0), 0);
    expect(Math.abs(s.seedAgreement - 1 / V)).toBeLessThan(0.04); // s.e. ≈ 0.013 over 500 contexts
    expect(s.commitment).toBeCloseTo(0.9, 9);
    expect(classify(s, 0)).toBe('wandering');
  });

  it('strong drift, weak noise ⇒ every seed reads out the field argmax (over-damped)', () => {
    const d = 3;
    const seeds = 4;
    const contexts = 50;
    const readout = readoutOf(2 * d, d, true);
    // fields whose nearest axis beats the runner-up by ≥ 0.1 in cosine (≫ the vMF spread √(2/κ) ≈ 0.016)
    const pool = randomFields(8 * contexts, d, 'strong');
    const clear = (o: number) => {
      const a = Array.from(pool.subarray(o, o + d), Math.abs).sort((x, y) => y - x);
      return a[0] - a[1] >= 0.1;
    };
    const F = new Float32Array(contexts * d);
    for (let o = 0, c = 0; c < contexts; o += d) if (clear(o)) F.set(pool.subarray(o, o + d), d * c++);
    const N = new Float32Array(contexts * seeds * d);
    for (let c = 0; c < contexts; c++) for (let s = 0; s < seeds; s++) N.set(F.subarray(c * d, (c + 1) * d), (c * seeds + s) * d);
    const argmax = Array.from({ length: contexts }, (_, c) => {
      const f = Array.from(F.subarray(c * d, (c + 1) * d));
      const i = f.map(Math.abs).indexOf(Math.max(...f.map(Math.abs)));
      return f[i] > 0 ? i : d + i; // token i is +e_i, token d + i is −e_i
    });
    const { rows } = runTrajectories({
      setting: { eta: 40, lambda: null, schedule: constant(0.01) },
      N,
      d,
      readout,
      integrator: INTEGRATORS.heun,
      steps: 200,
      tMin: 0,
      score: null,
      every: 20,
      rng: makeRng('strong'),
    });
    readout.dispose();
    const s = summarise(rows, seeds, argmax, 0);
    expect(s.seedAgreement).toBe(1);
    expect(s.fieldArgmaxShare).toBe(1);
    expect(s.cosField).toBeGreaterThan(0.999);
    expect(classify(s, 0)).toBe('over-damped');
  });
});

describe('report', () => {
  it('grid covers η × mode × β once each; CSV and phase-diagram spec carry every row', () => {
    const grid = calibrationGrid({ kind: 'linear', betaMin: 1e-4, betaMax: 0.2, T: 1 });
    expect(grid.length).toBe(8 * 4 * 4);
    expect(new Set(grid.map((g) => `${g.etaLabel}|${g.lambda}|${g.scheduleLabel}`)).size).toBe(grid.length);
    const x4 = grid.find((g) => g.scheduleLabel === 'linear ×4')!;
    expect(x4.schedule.betaMax).toBeCloseTo(0.8, 12);
    const row = {
      eta: '2',
      mode: 'plain',
      schedule: 'linear ×1',
      seedAgreement: 0.5,
      fieldArgmaxShare: 0.25,
      commitment: 0.6,
      cosField: 0.8,
      cosDrift: 0.9,
      margin: 0.1,
      winding: 0,
      windingExpected: 0,
      peclet: 1.5,
      regime: 'well-calibrated' as const,
    };
    const csv = calibrationCsv([row, { ...row, eta: '4' }])
      .trim()
      .split('\n');
    expect(csv.length).toBe(3);
    expect(csv[1].split(',')).toHaveLength(csv[0].split(',').length);
    const spec = calibrationSpec([row]) as { data: { values: unknown[] } };
    expect(spec.data.values).toHaveLength(1);
  });
});
