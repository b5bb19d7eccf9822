/**
 * Physics of the guided reverse SDE (sampling/drift.ts) under every integrator
 * (sampling/integrators/), without any network:
 *  (1) no noise, constant N: cosθ(τ) = tanh(c_N|N|τ + artanh cosθ₀) in d = 3 and 64, every step;
 *  (2) noise √β, constant N: the stationary law is vMF with κ = 2η|N|/β, E[S·N̂] = A_d(κ) within 3
 *      standard errors (independent chains) for d = 3, 16 and 768;
 *  (3) the exact score of a one-point distribution with η = 0 concentrates the reverse run there;
 *  (4) the second-order schemes' (Heun, SIB midpoint, Depondt–Mertens) weak error is smaller than
 *      Euler–Maruyama's at equal step count, and falls as dτ²;
 *  (5) |S| = 1 within 1e-6 at every step.
 * Failure messages name the integrator and the step.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { heatKernelScoreCoeff } from '../../src/core/heatKernel.js';
import { sigma2 as sigma2At, type NoiseSchedule } from '../../src/core/schedules.js';
import { normalizeRows, tangentProjectRows, uniformSpinRows } from '../../src/core/sphere.js';
import { makeRng, normalArray } from '../../src/rng.js';
import type { ScoreModel } from '../../src/score/contract.js';
import { GuidedDrift, paramAt, plainIncrement, type DriftOptions, type Sde } from '../../sampling/drift.js';
import { INTEGRATORS, INTEGRATOR_NAMES, type IntegratorName } from '../../sampling/integrators/index.js';
import { integrateReverse } from '../../sampling/reverse.js';
import { besselRatio, vmfMeanCos } from '../../sampling/vmf.js';

// The tests are synchronous number crunching: give the worker's event loop a turn between them.
afterEach(() => new Promise<void>((r) => setImmediate(r)));

const constant = (beta: number, T = 1): NoiseSchedule => ({ kind: 'constant', betaMin: beta, betaMax: beta, T });

/** Random unit fields N̂ [n·d] and N = |N| N̂. */
function fields(n: number, d: number, norm: number, seed: number) {
  const rng = makeRng(`fields/${seed}`);
  const X = normalArray(rng, n * d);
  const Nhat = normalizeRows(X, X, d);
  return { Nhat, N: Nhat.map((x) => x * norm), rng };
}

/** Row dots a_i·b_i [n]. */
function rowDots(a: Float32Array, b: Float32Array, d: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < a.length; o += d) {
    let s = 0;
    for (let j = o; j < o + d; j++) s += a[j] * b[j];
    out.push(s);
  }
  return out;
}

/** n copies of the unit vector e₀ in d dimensions [n·d]. */
function e0Rows(n: number, d: number, scale = 1): Float32Array {
  const e = new Float32Array(n * d);
  for (let i = 0; i < n; i++) e[i * d] = scale;
  return e;
}

/** The tanh law of the noiseless flow: max error over all rows and steps. */
function tanhLawError(name: IntegratorName, d: number, K: number, drift: Omit<DriftOptions, 'N' | 'd' | 'schedule'>, cNorm: number) {
  const n = 16;
  const { Nhat, N, rng } = fields(n, d, 2, d);
  const S0 = uniformSpinRows(n, d, rng);
  const c0 = rowDots(S0, Nhat, d);
  const sde = new GuidedDrift({ fieldScale: 'raw', N, d, schedule: constant(1), rng: makeRng('prec'), ...drift });
  let worst = { err: 0, step: 0 };
  integrateReverse(S0, sde, {
    integrator: INTEGRATORS[name],
    steps: K,
    T: 1,
    tMin: 0,
    rng: null,
    onStep: (k, tau, S) => {
      const c = rowDots(S, Nhat, d);
      for (let i = 0; i < n; i++) {
        const err = Math.abs(c[i] - Math.tanh(cNorm * tau + Math.atanh(c0[i])));
        if (err > worst.err) worst = { err, step: k };
      }
    },
  });
  sde.dispose();
  return worst;
}

// Heun (2nd order) meets 1e-4 at the default K = 50 steps (dτ = T/50). Euler–Maruyama is 1st
// order: at dτ = T/50 its error is ~6e-3 (d = 3), so it is held to 1e-4 at dτ = T/5000 (error ≈ 6e-5).
const TANH_STEPS: Record<IntegratorName, number> = { heun: 50, euler: 5000, midpoint: 50, depondt: 50 };

describe('(1) noiseless flow with constant N: cosθ(τ) = tanh(η|N|τ + artanh cosθ₀)', () => {
  for (const name of INTEGRATOR_NAMES) {
    for (const d of [3, 64]) {
      it(`${name}, d = ${d}, K = ${TANH_STEPS[name]}: error ≤ 1e-4 at every step`, () => {
        const w = tanhLawError(name, d, TANH_STEPS[name], { eta: 0.5 }, 0.5 * 2);
        expect(w.err, `${name} d=${d}: error ${w.err.toExponential(2)} at step ${w.step}`).toBeLessThanOrEqual(1e-4);
      });
    }
    it(`${name}, LLG mode (λ = γ = 1, precession about N̂ at twice the damping rate): the same law with η_eff = ηγλ/(1+λ²)`, () => {
      for (const d of [3, 64]) {
        const llg = { lambda: 1, gamma: 1 }; // γλ/(1+λ²) = 1/2; cross (d = 3) / orthogonal (d = 64) precession
        const w = tanhLawError(name, d, TANH_STEPS[name], { eta: 0.5, llg }, 0.5 * 0.5 * 2);
        expect(w.err, `${name} LLG d=${d}: error ${w.err.toExponential(2)} at step ${w.step}`).toBeLessThanOrEqual(1e-4);
      }
    });
  }
});

/** Stationary E[S·N̂] from `n` independent chains: per-chain time averages after burn-in. */
function stationaryMean(
  name: IntegratorName,
  d: number,
  kappa: number,
  o: { n: number; dtau: number; burn: number; collect: number; every: number; llg?: boolean },
) {
  // time unit: the faster of the diffusive rate (d−1)β/2 and the drift rate κβ/2 is 1
  const beta = 2 / Math.max(d - 1, kappa);
  const etaN = (kappa * beta) / 2;
  const { n } = o;
  const N = e0Rows(n, d, etaN);
  const llg = o.llg ? { lambda: 1, gamma: 2 } : null; // γλ/(1+λ²) = 1
  const sde = new GuidedDrift({ fieldScale: 'raw', N, d, eta: 1, schedule: constant(beta, 1e9), llg, rng: makeRng('prec') });
  const rng = makeRng(`vmf/${name}/${d}`);
  const S0 = uniformSpinRows(n, d, rng);
  const Kb = Math.round(o.burn / o.dtau);
  const Kc = Math.round(o.collect / o.dtau);
  const sums = new Float64Array(n);
  let count = 0;
  integrateReverse(S0, sde, {
    integrator: INTEGRATORS[name],
    steps: Kb + Kc,
    T: (Kb + Kc) * o.dtau,
    tMin: 0,
    rng,
    onStep: (k, _tau, S) => {
      if (k <= Kb || k % o.every !== 0) return;
      for (let i = 0; i < n; i++) sums[i] += S[i * d]; // S·N̂ = S₀ (N̂ = e₀)
      count++;
    },
  });
  sde.dispose();
  const means = Array.from(sums, (s) => s / count);
  const mean = means.reduce((a, b) => a + b, 0) / n;
  const se = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
  return { mean, se, exact: vmfMeanCos(d, kappa) };
}

describe('(2) stationary law with noise: von Mises–Fisher, E[S·N̂] = I_{d/2}(κ)/I_{d/2−1}(κ)', () => {
  it('the Bessel ratio matches closed forms and asymptotics', () => {
    for (const k of [0.01, 0.5, 2, 30, 300]) expect(vmfMeanCos(3, k)).toBeCloseTo(1 / Math.tanh(k) - 1 / k, 12);
    // ν = 1/2: I_{1/2}/I_{−1/2} = tanh κ (d = 1, the two-point "sphere")
    expect(besselRatio(0.5, 1.3)).toBeCloseTo(Math.tanh(1.3), 12);
    // large d: A ≈ κ/(ν − ½ + √((ν + ½)² + κ²)) to O(1/d²)
    const a = (d: number, k: number) => k / (d / 2 - 0.5 + Math.sqrt((d / 2 + 0.5) ** 2 + k * k));
    expect(Math.abs(vmfMeanCos(768, 1000) - a(768, 1000))).toBeLessThan(1e-4);
  });

  // dτ is chosen so that each scheme's O(dτ) stationary bias stays below ~0.5 standard errors
  // (measured in these time units: Heun ≈ +0.35·dτ, Euler ≈ −0.18·dτ in d = 3; +0.17·dτ and
  // −0.10·dτ in d = 16; +0.09·dτ and −0.12·dτ in d = 768 at κ = 1000).
  const cases = [
    { d: 3, kappa: 2, n: 2048, dtau: 0.006, burn: 3, collect: 6, every: 4 },
    { d: 16, kappa: 10, n: 512, dtau: 0.008, burn: 3, collect: 5, every: 4 },
    { d: 768, kappa: 1000, n: 16, dtau: 0.008, burn: 3, collect: 3, every: 4 },
  ];
  for (const name of INTEGRATOR_NAMES) {
    for (const c of cases) {
      it(`${name}, d = ${c.d}, κ = ${c.kappa}: within 3 standard errors`, () => {
        const r = stationaryMean(name, c.d, c.kappa, c);
        const msg = `${name} d=${c.d}: mean ${r.mean.toFixed(5)} vs A_d(κ) = ${r.exact.toFixed(5)}, se ${r.se.toExponential(2)} (dτ = ${c.dtau})`;
        // informative: a 10% error in κ would move E[S·N̂] by more than 5 standard errors
        expect(Math.abs(vmfMeanCos(c.d, 1.1 * c.kappa) - r.exact), msg).toBeGreaterThan(5 * r.se);
        expect(Math.abs(r.mean - r.exact), msg).toBeLessThanOrEqual(3 * r.se);
      });
    }
  }
  it('heun, LLG mode with precession about N̂ (d = 16): the vMF law is unchanged (κ = 2η_eff|N|/β)', () => {
    const c = cases[1];
    const r = stationaryMean('heun', c.d, c.kappa, { ...c, llg: true });
    expect(Math.abs(r.mean - r.exact), `mean ${r.mean} vs ${r.exact}, se ${r.se}`).toBeLessThanOrEqual(3 * r.se);
  });
});

/** The exact heat-kernel score of the one-point distribution δ(x₀): c(u) P_S x₀. */
function onePointScore(x0: Float32Array, schedule: NoiseSchedule): ScoreModel {
  const d = x0.length;
  return {
    meta: { format: 'spinbath-score/1', d, vocab: 1, fieldSource: 'final', schedule, eta: 0, modelHash: 'test', tMin: 1e-3 * schedule.T, fieldScaling: 'unit' },
    bind: (_N, n) => {
      const X = new Float32Array(n * d);
      for (let i = 0; i < n; i++) X.set(x0, i * d);
      return {
        score(S, t, out) {
          tangentProjectRows(S, X, out, d);
          const u = rowDots(S, X, d);
          for (let i = 0; i < n; i++) {
            const c = heatKernelScoreCoeff(u[i], d, sigma2At(schedule, t));
            for (let j = i * d; j < (i + 1) * d; j++) out[j] *= c;
          }
        },
        dispose() {},
      };
    },
    dispose() {},
  };
}

describe('(3) exact score of a one-point distribution, η = 0: the reverse run ends at the point', () => {
  const schedule: NoiseSchedule = { kind: 'linear', betaMin: 0.1, betaMax: 20, T: 1 };
  const tMin = 0.01; // σ²(t_min) ≈ 2.0e-3
  for (const name of INTEGRATOR_NAMES) {
    for (const d of [3, 16]) {
      it(`${name}, d = ${d}, K = 200 from uniform: mean cos(S, x₀) ≥ 0.95 (exact at t_min: e^{−(d−1)σ²/2} ≈ ${Math.exp((-(d - 1) * sigma2At(schedule, tMin)) / 2).toFixed(3)})`, () => {
        const n = 64;
        const rng = makeRng(`onepoint/${d}`);
        const x0 = uniformSpinRows(1, d, rng);
        const X0 = new Float32Array(n * d);
        for (let i = 0; i < n; i++) X0.set(x0, i * d);
        const score = onePointScore(x0, schedule);
        const sde = new GuidedDrift({ fieldScale: 'raw', N: new Float32Array(n * d), d, eta: 0, schedule, score });
        const S0 = uniformSpinRows(n, d, rng);
        const start = rowDots(S0, X0, d).reduce((a, b) => a + b, 0) / n;
        const run = integrateReverse(S0, sde, { integrator: INTEGRATORS[name], steps: 200, T: 1, tMin, rng });
        const cos = rowDots(run.S, X0, d);
        const mean = cos.reduce((a: number, b: number) => a + b, 0) / n;
        expect(Math.abs(start), 'uniform start').toBeLessThan(0.3);
        expect(run.nonFinite).toBeNull();
        expect(mean, `${name} d=${d}: final mean cos ${mean.toFixed(4)} (min ${Math.min(...cos).toFixed(3)})`).toBeGreaterThanOrEqual(0.95);
        sde.dispose();
      });
    }
  }
});

describe('(4) Heun, midpoint and Depondt–Mertens have a smaller weak error than Euler–Maruyama at equal step count', () => {
  it('on the noiseless tanh law at K = 50 (d = 3 and 64): Heun, SIB midpoint and Depondt–Mertens at least 20× smaller', () => {
    for (const d of [3, 64]) {
      const e = tanhLawError('euler', d, 50, { eta: 0.5 }, 1);
      for (const name of ['heun', 'midpoint', 'depondt'] as const) {
        const h = tanhLawError(name, d, 50, { eta: 0.5 }, 1);
        expect(h.err * 20, `d=${d}: ${name} ${h.err.toExponential(2)} (step ${h.step}), euler ${e.err.toExponential(2)} (step ${e.step})`).toBeLessThan(e.err);
      }
    }
  });

  it('second order: the noiseless tanh error of midpoint and depondt falls ≥ 3× when K doubles (25 → 50, d = 16)', () => {
    for (const name of ['midpoint', 'depondt'] as const) {
      const a = tanhLawError(name, 16, 25, { eta: 0.5 }, 1);
      const b = tanhLawError(name, 16, 50, { eta: 0.5 }, 1);
      expect(b.err * 3, `${name}: K=25 ${a.err.toExponential(2)}, K=50 ${b.err.toExponential(2)}`).toBeLessThan(a.err);
    }
  });

  it('on E[S·N̂] at τ = 0.4 from uniform, with noise (d = 16, η|N| = 5, β = 0.2), K = 4', () => {
    const d = 16;
    const n = 8192;
    const sde = new GuidedDrift({ fieldScale: 'raw', N: e0Rows(n, d, 5), d, eta: 1, schedule: constant(0.2, 0.4) });
    const meanCos = (name: IntegratorName, K: number, seed: string) => {
      const rng = makeRng(seed);
      const S0 = uniformSpinRows(n, d, rng);
      const run = integrateReverse(S0, sde, { integrator: INTEGRATORS[name], steps: K, T: 0.4, tMin: 0, rng });
      let m = 0;
      let m2 = 0;
      for (let i = 0; i < n; i++) {
        const x = run.S[i * d];
        m += x;
        m2 += x * x;
      }
      m /= n;
      return { m, se: Math.sqrt((m2 / n - m * m) / n) };
    };
    const ref = meanCos('heun', 128, 'ref'); // dτ/32: its bias is far below the noise
    const e = meanCos('euler', 4, 'coarse');
    // the second-order schemes (Heun, SIB midpoint, Depondt–Mertens): less than half Euler's bias
    for (const name of ['heun', 'midpoint', 'depondt'] as const) {
      const h = meanCos(name, 4, 'coarse');
      const se = Math.hypot(ref.se, h.se);
      const msg = `ref ${ref.m.toFixed(4)}, ${name} ${h.m.toFixed(4)}, euler ${e.m.toFixed(4)}, se ${se.toExponential(1)}`;
      expect(Math.abs(e.m - ref.m), msg).toBeGreaterThan(5 * se); // Euler's bias is resolved
      expect(Math.abs(h.m - ref.m), msg).toBeLessThan(Math.abs(e.m - ref.m) / 2);
    }
    sde.dispose();
  });
});

describe('(5) unit norm', () => {
  for (const name of INTEGRATOR_NAMES) {
    it(`${name}: |S| = 1 within 1e-6 at every step (d = 768, strong drift, noise, precession)`, () => {
      const n = 8;
      const d = 768;
      const { N, rng } = fields(n, d, 40, 768);
      const sde = new GuidedDrift({
        fieldScale: 'raw',
        N,
        d,
        eta: 1,
        schedule: { kind: 'linear', betaMin: 0.1, betaMax: 20, T: 1 },
        llg: { lambda: 0.3 },
        rng: makeRng('p'),
      });
      const S0 = uniformSpinRows(n, d, rng);
      let worst = { dev: 0, step: 0 };
      integrateReverse(S0, sde, {
        integrator: INTEGRATORS[name],
        steps: 50,
        T: 1,
        rng,
        onStep: (k, _t, S) => {
          for (const s of rowDots(S, S, d)) {
            const dev = Math.abs(Math.sqrt(s) - 1);
            if (dev > worst.dev) worst = { dev, step: k };
          }
        },
      });
      expect(worst.dev, `${name}: |S| − 1 = ${worst.dev.toExponential(2)} at step ${worst.step}`).toBeLessThanOrEqual(1e-6);
      sde.dispose();
    });
  }
});

describe('drift pieces', () => {
  it('the fused increment equals the plain one (a dτ + g P_S ΔW̄) and is tangent', () => {
    const { N, rng } = fields(6, 3, 2, 3);
    const sde: Sde = new GuidedDrift({ fieldScale: 'raw', N, d: 3, eta: 0.7, schedule: constant(0.5), llg: { lambda: 0.4, gamma: 1.5 }, rng: makeRng('p') });
    const S = uniformSpinRows(6, 3, rng);
    const W = normalArray(rng, 18, 0.1);
    const fused = sde.increment(S, 0.3, 0.01, W, new Float32Array(18));
    const plain = plainIncrement(sde, S, 0.3, 0.01, W, new Float32Array(18));
    const diff = Math.max(...fused.map((x, i) => Math.abs(x - plain[i])));
    const tang = Math.max(...rowDots(S, fused, 3).map(Math.abs));
    expect(diff).toBeLessThan(1e-7);
    expect(tang).toBeLessThan(1e-6);
    (sde as GuidedDrift).dispose();
  });

  it('d = 3: the orthogonal precession equals the cross product −γη S × N', () => {
    const { N, rng } = fields(5, 3, 1.7, 33);
    const S = uniformSpinRows(5, 3, rng);
    const base = { N, d: 3, eta: 0.8, schedule: constant(1), rng: makeRng('p') };
    const a = new GuidedDrift({ fieldScale: 'raw', ...base, llg: { lambda: 0, gamma: 1.3, precession: { kind: 'cross' } } });
    const b = new GuidedDrift({ fieldScale: 'raw', ...base, llg: { lambda: 0, gamma: 1.3, precession: { kind: 'orthogonal' } } });
    const da = a.drift(S, 0, new Float32Array(15));
    const db = b.drift(S, 0, new Float32Array(15));
    expect(Math.max(...da.map((x) => Math.abs(x)))).toBeGreaterThan(0.1);
    expect(Math.max(...da.map((x, i) => Math.abs(x - db[i])))).toBeLessThan(1e-5);
    a.dispose();
    b.dispose();
  });

  it('a user skew matrix gives −γ A S; a non-skew one is refused', () => {
    const A = [
      [0, 1, 0],
      [-1, 0, 2],
      [0, -2, 0],
    ];
    const { N, rng } = fields(2, 3, 1, 4);
    const S = uniformSpinRows(2, 3, rng);
    const sde = new GuidedDrift({ fieldScale: 'raw', N, d: 3, eta: 1, schedule: constant(1), llg: { lambda: 0, gamma: 2, precession: { kind: 'matrix', A } } });
    const got = sde.drift(S, 0, new Float32Array(6));
    for (let r = 0; r < 2; r++)
      for (let i = 0; i < 3; i++) expect(got[r * 3 + i]).toBeCloseTo(-2 * (A[i][0] * S[r * 3] + A[i][1] * S[r * 3 + 1] + A[i][2] * S[r * 3 + 2]), 5);
    expect(
      () =>
        new GuidedDrift({
          fieldScale: 'raw',
          N,
          d: 3,
          schedule: constant(1),
          llg: {
            lambda: 0,
            precession: {
              kind: 'matrix',
              A: [
                [0, 1, 0],
                [1, 0, 0],
                [0, 0, 0],
              ],
            },
          },
        }),
    ).toThrow(/skew/);
    sde.dispose();
  });

  it('parameter schedules run from `from` at τ = 0 to `to` at τ = T', () => {
    expect(paramAt(0.3, 0.5, 1)).toBe(0.3);
    expect(paramAt({ kind: 'linear', from: 0, to: 2 }, 0.25, 1)).toBeCloseTo(0.5, 12);
    expect(paramAt({ kind: 'cosine', from: 1, to: 3 }, 1, 1)).toBeCloseTo(3, 12);
    expect(paramAt({ kind: 'constant', from: 1, to: 3 }, 0, 1)).toBe(3);
  });
});
