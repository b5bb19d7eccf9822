/**
 * Drift–noise calibration of the guided reverse SDE (issue 14 point 3; BL Sec. V E(a): "Incorrect
 * relative scaling can overdamp the token spin or, conversely, leave it wandering"). For one setting
 * (η or an η schedule, plain drift or LLG damping λ, β schedule and scale) the reverse SDE of
 * sampling/drift.ts runs from uniform spins in fixed context fields N (one row per context × seed)
 * and every trajectory is measured:
 *
 *   commitment   τ/τ_end of the last readout that differed from the final token (readouts of the
 *                nearest token, BL Sec. V D, every `every` steps; 0: every readout was the final token;
 *                (m−1)/m with m readouts: it still changed in the last interval)
 *   cosField     cos(S_final, N̂), against cosDrift = the drift-only (noiseless, score-free) value from
 *                the same start: tan(θ/2) = tan(θ₀/2)·e^{−∫c_N|G|dτ} (BL Eq. 14 / B4), i.e.
 *                cos θ = tanh(∫c_N|G|dτ + artanh cos θ₀); precession about N̂ leaves it unchanged
 *   margin       cos(S, ê_chosen) − cos(S, ê_runner-up) at the readout (wandering ⇒ S ends between tokens)
 *   winding      turns of S about N̂ in the precession plane (LLG, BL Eq. 9: rate γη|G|/2π)
 * and per setting: seed agreement (the chance that two seeds of one context read out the same token;
 * over-damped ⇒ the noise no longer chooses), the share of outputs equal to the field's own argmax
 * token argmax_t N̂·ê_t, and a Péclet number Pe = 2∫c_N|G|dτ / ((d−1)∫β dτ), the drift against the
 * diffusion on S^{d−1} (= κ/(d−1) of the vMF law when the coefficients are constant).
 *
 * The regimes are defined by CALIBRATION_THRESHOLDS, fixed before any result was looked at.
 * The grid on brown-small and the report: sampling/calibration-report.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { uniformSpinRows } from '../src/core/sphere.js';
import type { NoiseSchedule } from '../src/core/schedules.js';
import type { Rng } from '../src/rng.js';
import type { ScoreModel } from '../src/score/contract.js';
import { GuidedDrift, type ParamSchedule } from './drift.js';
import type { Integrator } from './integrators/types.js';
import type { TokenReadout } from './readout.js';
import { integrateReverse } from './reverse.js';

/**
 * Regime thresholds, stated before the grid was run (commit "calibration: thresholds …"):
 *   over-damped      seedAgreement ≥ overDampedAgreement: two seeds of one context give the same
 *                    token at least 80% of the time — the noise no longer chooses the token;
 *   wandering        not over-damped, and either the median readout margin is no larger than
 *                    `wanderMarginQuantile` of the margins of uniformly random spins (S ends between
 *                    tokens like a random point), or the median commitment fraction ≥
 *                    `wanderCommitment` (the readout still changes in the last tenth of the run);
 *   well calibrated  neither.
 */
export const CALIBRATION_THRESHOLDS = { overDampedAgreement: 0.8, wanderMarginQuantile: 0.9, wanderCommitment: 0.9 } as const;

export type Regime = 'over-damped' | 'well-calibrated' | 'wandering';

/** One setting of the calibration grid. */
export interface CalibrationSetting {
  /** Guidance strength η or its schedule over the reverse run. */
  eta: ParamSchedule;
  /** Gilbert damping λ (LLG mode, BL Eq. 9, orthogonal precession, γ = 1); null: the plain drift of BL Eq. 14. */
  lambda: number | null;
  /** The β(t) schedule (already scaled). */
  schedule: NoiseSchedule;
}

/** Per-trajectory diagnostics (one per row). */
export interface TrajectoryDiagnostics {
  token: number;
  /** τ/τ_end of the last readout that differed from the final token (0: none did). */
  commitment: number;
  cosField: number;
  cosDrift: number;
  margin: number;
  /** Signed turns about N̂ in the precession plane (0 without precession). */
  winding: number;
}

/**
 * The commitment fraction of one trajectory from its readouts ids_1 … ids_m at τ_1 < … < τ_m = τ_end:
 * τ_j/τ_end for the last j with ids_j ≠ ids_m (0 when every readout equals the last one).
 */
export function commitmentFraction(ids: readonly number[], taus: readonly number[]): number {
  const m = ids.length;
  const last = ids[m - 1];
  let j = m - 1;
  while (j > 0 && ids[j - 1] === last) j--;
  return j === 0 ? 0 : taus[j - 1] / taus[m - 1];
}

/**
 * Seed agreement: the mean over contexts of the share of seed pairs whose tokens are equal
 * (Σ_t c_t(c_t − 1) / (s(s − 1)) per context). tokens are context-major: row = context·seeds + seed.
 */
export function seedAgreement(tokens: readonly number[], seeds: number): number {
  if (seeds < 2 || tokens.length % seeds !== 0) throw new RangeError(`seed agreement needs ≥ 2 seeds per context (got ${seeds} for ${tokens.length} rows)`);
  const contexts = tokens.length / seeds;
  let sum = 0;
  for (let c = 0; c < contexts; c++) {
    const counts = new Map<number, number>();
    for (let s = 0; s < seeds; s++) {
      const t = tokens[c * seeds + s];
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    let pairs = 0;
    for (const k of counts.values()) pairs += k * (k - 1);
    sum += pairs / (seeds * (seeds - 1));
  }
  return sum / contexts;
}

/** The drift-only polar law (BL Eq. 14 / B4 without noise or score): cos θ = tanh(∫c_N|G|dτ + artanh cos θ₀). */
export function driftOnlyCos(cos0: number, integral: number): number {
  const c = Math.min(Math.max(cos0, -1 + 1e-12), 1 - 1e-12);
  return Math.tanh(integral + Math.atanh(c));
}

/** ∫_a^b f by the composite Simpson rule with n (even) intervals. */
export function simpson(f: (x: number) => number, a: number, b: number, n = 400): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

/** Péclet number of a drift over [0, τ_end]: 2∫c_N|G|dτ / ((d − 1)∫β dτ) (= κ/(d − 1) for constant coefficients). */
export function pecletNumber(sde: GuidedDrift, tauEnd: number, fieldNorm = 1): number {
  const drift = simpson((t) => sde.coefficients(t).cN * fieldNorm, 0, tauEnd);
  const noise = simpson((t) => sde.beta(t), 0, tauEnd);
  return noise > 0 ? (2 * drift) / ((sde.d - 1) * noise) : Infinity;
}

/** Accumulates the signed turns of each row S_i about N̂ in its plane (u_i, w_i): Σ Δφ / 2π, φ = atan2(w·S, u·S). */
export class WindingMeter {
  private readonly phase: Float64Array;
  private readonly total: Float64Array;
  constructor(
    private readonly u: Float32Array,
    private readonly w: Float32Array,
    private readonly d: number,
    S0: Float32Array,
  ) {
    const n = S0.length / d;
    this.phase = new Float64Array(n);
    this.total = new Float64Array(n);
    for (let i = 0; i < n; i++) this.phase[i] = this.angle(S0, i);
  }

  private angle(S: Float32Array, i: number): number {
    let a = 0;
    let b = 0;
    for (let j = i * this.d; j < (i + 1) * this.d; j++) {
      a += this.u[j] * S[j];
      b += this.w[j] * S[j];
    }
    return Math.atan2(b, a);
  }

  /** Add the step to S (the phase change taken in (−π, π]). */
  update(S: Float32Array): void {
    for (let i = 0; i < this.phase.length; i++) {
      const p = this.angle(S, i);
      let dp = p - this.phase[i];
      if (dp > Math.PI) dp -= 2 * Math.PI;
      else if (dp <= -Math.PI) dp += 2 * Math.PI;
      this.total[i] += dp;
      this.phase[i] = p;
    }
  }

  turns(): number[] {
    return Array.from(this.total, (t) => t / (2 * Math.PI));
  }
}

/** N̂ rows [n·d]. */
export function unitRowsOf(N: Float32Array, d: number): Float32Array {
  const out = new Float32Array(N.length);
  for (let o = 0; o < N.length; o += d) {
    let s = 0;
    for (let j = o; j < o + d; j++) s += N[j] * N[j];
    const r = 1 / Math.max(Math.sqrt(s), 1e-30);
    for (let j = o; j < o + d; j++) out[j] = N[j] * r;
  }
  return out;
}

/** Nearest-token readout of host rows S [n·d]. */
export function readRows(readout: TokenReadout, S: Float32Array, d: number): { ids: number[]; margin: number[] } {
  const St = tf.tensor2d(S, [S.length / d, d]); // [n, d]
  try {
    const r = readout.nearest(St);
    return { ids: r.ids, margin: r.cosChosen.map((c, i) => c - r.cosRunnerUp[i]) };
  } finally {
    St.dispose();
  }
}

/** Inputs of {@link runTrajectories}. */
export interface TrajectoryRun {
  setting: CalibrationSetting;
  /** Context fields, one row per trajectory [n·d] (tile a context's field over its seeds). */
  N: Float32Array;
  d: number;
  readout: TokenReadout;
  integrator: Integrator;
  steps: number;
  /** The run stops at t = tMin. */
  tMin: number;
  score: ScoreModel | null;
  /** Readout every `every` steps (and at the last). */
  every: number;
  /** Initial spins, Wiener increments and precession planes. */
  rng: Rng;
}

/** Run the reverse SDE for every row of N and measure each trajectory (see the module comment). */
export function runTrajectories(o: TrajectoryRun): { rows: TrajectoryDiagnostics[]; peclet: number; nonFinite: boolean } {
  const { d, setting } = o;
  const n = o.N.length / d;
  const sde = new GuidedDrift({
    N: o.N,
    d,
    eta: setting.eta,
    schedule: setting.schedule,
    score: o.score,
    llg: setting.lambda === null ? null : { lambda: setting.lambda, precession: { kind: 'orthogonal' } },
    fieldScale: 'unit',
    rng: o.rng.fork('precession'),
  });
  try {
    const T = setting.schedule.T;
    const tauEnd = T - o.tMin;
    const S0 = uniformSpinRows(n, d, o.rng.fork('init'));
    const Nhat = unitRowsOf(o.N, d);
    const plane = sde.precessionPlane();
    const meter = plane ? new WindingMeter(plane[0], plane[1], d, S0) : null;
    const checkpoints: number[][] = [];
    const taus: number[] = [];
    let lastMargin: number[] = [];
    const run = integrateReverse(S0, sde, {
      integrator: o.integrator,
      steps: o.steps,
      T,
      tMin: o.tMin,
      rng: o.rng.fork('noise'),
      onStep: (k, tau, S) => {
        meter?.update(S);
        if (k % o.every !== 0 && k !== o.steps) return;
        const r = readRows(o.readout, S, d);
        checkpoints.push(r.ids);
        taus.push(tau);
        lastMargin = r.margin;
      },
    });
    const integral = simpson((t) => sde.coefficients(t).cN, 0, tauEnd); // |G| = 1 (unit field)
    const turns = meter?.turns() ?? new Array<number>(n).fill(0);
    const rows: TrajectoryDiagnostics[] = [];
    for (let i = 0; i < n; i++) {
      let c0 = 0;
      let c1 = 0;
      for (let j = i * d; j < (i + 1) * d; j++) {
        c0 += S0[j] * Nhat[j];
        c1 += run.S[j] * Nhat[j];
      }
      rows.push({
        token: checkpoints.length ? checkpoints[checkpoints.length - 1][i] : -1,
        commitment: checkpoints.length
          ? commitmentFraction(
              checkpoints.map((c) => c[i]),
              taus,
            )
          : 1,
        cosField: c1,
        cosDrift: driftOnlyCos(c0, integral),
        margin: lastMargin[i] ?? 0,
        winding: turns[i],
      });
    }
    return { rows, peclet: pecletNumber(sde, tauEnd), nonFinite: run.nonFinite !== null };
  } finally {
    sde.dispose();
  }
}

/** The q-quantile (linear interpolation) of xs. */
export function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const p = (s.length - 1) * q;
  const lo = Math.floor(p);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (p - lo);
}

/** Per-setting summary of the trajectories of {@link runTrajectories}. */
export interface CalibrationSummary {
  seedAgreement: number;
  /** Share of outputs equal to the field's argmax token. */
  fieldArgmaxShare: number;
  commitment: number;
  cosField: number;
  cosDrift: number;
  margin: number;
  winding: number;
  peclet: number;
}

/** Medians of the per-trajectory diagnostics, seed agreement and the field-argmax share (argmax per context). */
export function summarise(rows: readonly TrajectoryDiagnostics[], seeds: number, fieldArgmax: readonly number[], peclet: number): CalibrationSummary {
  const med = (f: (r: TrajectoryDiagnostics) => number) => quantile(rows.map(f), 0.5);
  let hits = 0;
  rows.forEach((r, i) => (hits += r.token === fieldArgmax[Math.floor(i / seeds)] ? 1 : 0));
  return {
    seedAgreement: seedAgreement(
      rows.map((r) => r.token),
      seeds,
    ),
    fieldArgmaxShare: hits / rows.length,
    commitment: med((r) => r.commitment),
    cosField: med((r) => r.cosField),
    cosDrift: med((r) => r.cosDrift),
    margin: med((r) => r.margin),
    winding: med((r) => r.winding),
    peclet,
  };
}

/** The regime of a setting by CALIBRATION_THRESHOLDS; nullMarginQ is the `wanderMarginQuantile` of uniform-spin margins. */
export function classify(s: Pick<CalibrationSummary, 'seedAgreement' | 'margin' | 'commitment'>, nullMarginQ: number, th = CALIBRATION_THRESHOLDS): Regime {
  if (s.seedAgreement >= th.overDampedAgreement) return 'over-damped';
  if (s.margin <= nullMarginQ || s.commitment >= th.wanderCommitment) return 'wandering';
  return 'well-calibrated';
}
