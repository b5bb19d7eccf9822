/**
 * One training batch of the residual-score objective (BL Eqs. 12–14; targets in
 * training/objectives.ts): pairs (N, next token) → clean spins S_0 = token spin of the next token,
 * forward-noised spins S_t at times t ~ U[t_min, T] (BL Eq. 12, training/forward.ts), heat-kernel
 * coefficients c(u), loss weights λ(t), and the DSM target
 *   g = c(u) P_{S_t} S_0 − (η/β(t)) P_{S_t} N̂.
 * Host float64 per-row quantities (t, σ², β, c) are computed in one pass; everything on the
 * device is built from [n, d] / [n, 1] tensors. All randomness from the Rng given (batches of
 * training step s use makeRng(`score-batch/<seed>/<s>`), so a resumed run redraws them exactly).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from '../src/core/schedules.js';
import { tangentGaussian } from '../src/core/sphere.js';
import { makeRng, type Rng } from '../src/rng.js';
import { fieldTensor, type PairSet } from './fieldCache.js';
import { noiseSpins, sampleTimes, timesAt, type Noised, type NoiseOptions, type TimeSample } from './forward.js';
import { normaliseFields, type NetInputs } from '../src/score/network.js';
import { dsmTarget, lossWeights, type Weighting } from './objectives.js';

export interface BatchSpec {
  /** Token spins: unit rows of the embedding matrix [vocab, d]. */
  spins: tf.Tensor;
  schedule: NoiseSchedule;
  tMin: number;
  eta: number;
  weighting: Weighting;
  noise: NoiseOptions;
  /** Whether fields enter (network conditioning and the guidance term). */
  condition: boolean;
  /** Hutchinson probes and steps are drawn when set (SSM objective): geodesic step = hutchinsonStep·σ(t). */
  hutchinsonStep?: number;
}

export interface Batch {
  n: number;
  times: TimeSample;
  /** Network inputs (S = S_t, log σ², 1/σ, N̂, log|N|). */
  inputs: NetInputs;
  S0: tf.Tensor;
  /** c(u) [n, 1], λ [n, 1], η/β [n, 1] (null without fields). */
  coeff: tf.Tensor;
  lambda: tf.Tensor;
  etaOverBeta: tf.Tensor | null;
  /** DSM target [n, d]. */
  target: tf.Tensor;
  /** SSM probe v ~ N(0, P_{S_t}) [n, d] and step h [n, 1] (only with hutchinsonStep). */
  probe: tf.Tensor | null;
  step: tf.Tensor | null;
  /** Host u = S_t·S_0 and c. */
  u: Float64Array;
  c: Float64Array;
  dispose(): void;
}

const col = (x: ArrayLike<number>) => tf.tensor2d(Float32Array.from(x), [x.length, 1]);

/** Build a batch for pair rows `idx` at times `t` (or drawn uniformly when null). */
export async function makeBatch(spec: BatchSpec, pairs: PairSet, idx: Int32Array, rng: Rng, t: Float64Array | null = null): Promise<Batch> {
  const n = idx.length;
  const times = t ? timesAt(t, spec.schedule) : sampleTimes(n, spec.schedule, spec.tMin, rng);
  const tokens = new Int32Array(n);
  for (let i = 0; i < n; i++) tokens[i] = pairs.tokens[idx[i]];
  const tokT = tf.tensor1d(tokens, 'int32');
  const S0 = tf.gather(spec.spins, tokT); // [n, d]
  tokT.dispose();
  let noised: Noised;
  try {
    noised = await noiseSpins(S0, times.sigma2, rng, spec.noise);
  } catch (e) {
    S0.dispose();
    throw e;
  }
  const St = noised.St; // [n, d]
  let Nhat: tf.Tensor | null = null;
  let logN: tf.Tensor | null = null;
  if (spec.condition) {
    if (!pairs.fields) throw new Error('makeBatch: a conditioned network needs fields');
    const N = fieldTensor(pairs, idx); // [n, d]
    ({ Nhat, logN } = normaliseFields(N));
    N.dispose();
  }
  const coeff = col(noised.coeff); // [n, 1]
  const lambda = col(lossWeights(spec.weighting, times.sigma2, times.beta)); // [n, 1]
  const etaOverBeta = spec.condition && spec.eta > 0 ? col(times.beta.map((b) => spec.eta / b)) : null; // [n, 1]
  const target = dsmTarget(St, S0, coeff, etaOverBeta ? Nhat : null, etaOverBeta); // [n, d]
  const logSigma2 = col(times.sigma2.map(Math.log)); // [n, 1]
  const invSigma = col(times.sigma2.map((s) => 1 / Math.sqrt(s))); // [n, 1]
  let probe: tf.Tensor | null = null;
  let step: tf.Tensor | null = null;
  if (spec.hutchinsonStep) {
    const d = St.shape[1] as number;
    probe = tangentGaussian(St, 1, rng); // [n, d]
    step = col(times.sigma2.map((s) => (spec.hutchinsonStep! * Math.sqrt(s)) / Math.sqrt(d - 1))); // [n, 1]
  }
  const inputs: NetInputs = { S: St, logSigma2, invSigma, ...(Nhat && logN ? { Nhat, logN } : {}) };
  const all = [S0, St, Nhat, logN, coeff, lambda, etaOverBeta, target, logSigma2, invSigma, probe, step];
  return {
    n,
    times,
    inputs,
    S0,
    coeff,
    lambda,
    etaOverBeta,
    target,
    probe,
    step,
    u: noised.u,
    c: noised.coeff,
    dispose: () => tf.dispose(all.filter((x): x is tf.Tensor => x !== null)),
  };
}

/** Row indices of training step `step`: uniform over the pairs, from (seed, step) alone. */
export function stepRng(seed: number, step: number): Rng {
  return makeRng(`score-batch/${seed}/${step}`);
}

export function drawIndices(rng: Rng, n: number, count: number): Int32Array {
  const idx = new Int32Array(count);
  for (let i = 0; i < count; i++) idx[i] = rng.int(n);
  return idx;
}

/**
 * The fixed validation set: `count` pairs evenly spaced over the split, times stratified over
 * [t_min, T] (i + ½)/count in a seeded shuffled order, noise from makeRng(`score-val/<seed>`).
 */
export function validationDraw(n: number, count: number, tMin: number, T: number, seed: number): { idx: Int32Array; t: Float64Array; rng: Rng } {
  const m = Math.min(count, Math.max(1, n));
  const rng = makeRng(`score-val/${seed}`);
  const idx = Int32Array.from({ length: m }, (_, i) => Math.min(n - 1, Math.floor(((i + 0.5) * n) / m)));
  const t = Float64Array.from({ length: m }, (_, i) => tMin + ((T - tMin) * (i + 0.5)) / m);
  for (let i = m - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [t[i], t[j]] = [t[j], t[i]];
  }
  return { idx, t, rng };
}
