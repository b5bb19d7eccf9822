/**
 * The Brownian (Euclidean) DDPM baseline of the decisive benchmark (issue 14; Bhattacharjee & Lee,
 * Sec. V E: "comparison to Brownian DDPM baselines"): variance-preserving Gaussian diffusion in R^d
 * on the token embeddings, in the forms of Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic
 * Models" (NeurIPS 2020) and Song et al., "Score-Based Generative Modeling through Stochastic
 * Differential Equations" (ICLR 2021), with the same conditioning on the context field, the same
 * network size and the same training budget as the spherical residual score (training/train.ts).
 *
 *   x_0 = c·W_E[next token]            c = √(d / mean_v |W_E[v]|²): E|x_0|² = d, like N(0, I)
 *   forward (VP SDE):  dx = −½β(t) x dt + √β(t) dW,  x_t = √ᾱ(t) x_0 + √(1 − ᾱ(t)) ε,
 *                      ᾱ(t) = exp(−∫₀ᵗ β),  ε ~ N(0, I)                       (Song et al. 2021, equation 29)
 *   network:           ε_θ(x_t, t, N) = the residual MLP of src/score/network.ts on
 *                      [x_t | N̂ | standardised log|N| | time embedding], output unprojected
 *   loss (Ho et al. "L_simple"): E ‖ε_θ(x_t, t, N) − ε‖² / d,   t ~ U[t_min, T]
 *   score:             ∇ log p_t(x | N) = −ε_θ / √(1 − ᾱ)
 *
 * The sampler (sampling/euclidean.ts) integrates the reverse VP SDE and reads the final x̂_0 out as
 * the nearest scaled embedding. Training: Adam with warm-up + cosine lr, global-norm clipping and an
 * EMA of the weights, exactly as the spherical trainer; batches depend on (seed, step) only. This
 * trainer writes no intermediate checkpoints (a run is minutes): `--resume` is refused for it.
 * Export: RUN/euclid.json (EuclidMeta) + euclid.safetensors (EMA weights), loss-log.json, report.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGradients } from '../src/core/gradients.js';
import { UserError } from '../src/errors.js';
import { atomicWriteJson } from '../src/io/atomic.js';
import { AdamW, lrAt } from '../src/lm/optim.js';
import { writeSafetensors } from '../src/model/safetensors.js';
import { normalArray, makeRng, type Rng } from '../src/rng.js';
import { EUCLID_FORMAT, EUCLID_META_FILE, EUCLID_WEIGHTS_FILE, embedScaleOf, epsForward, vpVariance, type EuclidMeta } from '../src/score/euclid.js';
import { downloadParams, initParams, normaliseFields, uploadParams, type NetworkConfig, type Params } from '../src/score/network.js';
import { drawIndices, stepRng } from './batch.js';
import type { RunIdentity } from './checkpoint.js';
import { absoluteSchedule, type ScoreConfig } from './config.js';
import { fieldTensor, gatherFields, type PairSet } from './fieldCache.js';

// The runtime (metadata, ε-network forward, the frozen model) lives in src/score/euclid.ts.
export {
  EUCLID_FORMAT,
  EUCLID_META_FILE,
  EUCLID_WEIGHTS_FILE,
  EuclidModel,
  embedScaleOf,
  epsForward,
  isEuclidDir,
  loadEuclidModel,
  vpVariance,
  type EuclidMeta,
} from '../src/score/euclid.js';

export interface EuclidBatch {
  x: tf.Tensor;
  logVar: tf.Tensor;
  eps: tf.Tensor;
  Nhat?: tf.Tensor;
  logN?: tf.Tensor;
  dispose(): void;
}

/** A batch for pair rows idx: x_t = √ᾱ x_0 + √(1−ᾱ) ε at t ~ U[t_min, T] (or the given t). */
export function euclidBatch(
  meta: Pick<EuclidMeta, 'd' | 'schedule' | 'tMin' | 'embedScale' | 'network'>,
  embed: Float32Array,
  pairs: PairSet,
  idx: Int32Array,
  rng: Rng,
  times?: Float64Array,
): EuclidBatch {
  const { d, schedule, tMin, embedScale } = meta;
  const n = idx.length;
  const eps = normalArray(rng, n * d);
  const x = new Float32Array(n * d);
  const logVar = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = times ? times[i] : tMin + (schedule.T - tMin) * rng.uniform();
    const v = vpVariance(schedule, t);
    const a = Math.sqrt(1 - v);
    const s = Math.sqrt(v);
    logVar[i] = Math.log(v);
    const o = pairs.tokens[idx[i]] * d;
    for (let j = 0; j < d; j++) x[i * d + j] = a * embedScale * embed[o + j] + s * eps[i * d + j];
  }
  const out: EuclidBatch = { x: tf.tensor2d(x, [n, d]), logVar: tf.tensor2d(logVar, [n, 1]), eps: tf.tensor2d(eps, [n, d]), dispose: () => {} };
  if (meta.network.condition) {
    const N = fieldTensor(pairs, idx); // [n, d]
    Object.assign(out, normaliseFields(N));
    N.dispose();
  }
  out.dispose = () => tf.dispose([out.x, out.logVar, out.eps, out.Nhat, out.logN].filter((t): t is tf.Tensor => !!t));
  return out;
}

function epsLoss(meta: EuclidMeta, p: Params, b: EuclidBatch): tf.Scalar {
  return tf.tidy(
    () => tf.div(tf.mean(tf.sum(tf.square(tf.sub(epsForward(meta.network, meta.norm, p, b.x, b.logVar, b.Nhat, b.logN), b.eps)), 1)), meta.d) as tf.Scalar,
  );
}

export interface EuclidTrainData {
  train: PairSet;
  validation: PairSet;
  /** The language model's token embeddings W_E [vocab·d] (host). */
  embed: Float32Array;
  identity: RunIdentity;
}

export interface EuclidTrainReport {
  out: string;
  space: 'euclidean';
  steps: number;
  params: number;
  d: number;
  initial_val_loss: number;
  final_val_loss: number;
  /** ε-MSE per dimension of ε_θ ≡ 0 (= 1). */
  val_loss_zero: number;
  final_train_loss_mean20: number;
  wall_s: number;
  samples_per_s: number;
  files: string[];
}

/** Train the conditional ε-network on (field, next token) pairs and export it (see the file comment). */
export async function trainEuclidean(opts: {
  config: ScoreConfig;
  data: EuclidTrainData;
  outDir: string;
  log?: (l: string) => void;
  configName?: string;
  onStep?: (step: number, loss: number, val: number | null) => void;
}): Promise<EuclidTrainReport> {
  const cfg = opts.config;
  const tc = cfg.training;
  const log = opts.log ?? (() => {});
  const { train, validation, embed, identity } = opts.data;
  const d = identity.d;
  if (existsSync(join(opts.outDir, EUCLID_META_FILE)))
    throw new UserError('E_ARG', `${opts.outDir} already holds a trained Euclidean DDPM; choose another --out`);
  if (cfg.network.condition && (!train.fields || !validation.fields))
    throw new UserError('E_INPUT', 'network.condition is true but the data have no context fields');
  await ensureGradients();
  const schedule = absoluteSchedule(cfg, d);
  const tMin = cfg.schedule.t_min;
  const net: NetworkConfig = {
    d,
    width: cfg.network.width,
    depth: cfg.network.depth,
    activation: 'silu',
    timeEmbedding: cfg.network.time_embedding,
    condition: cfg.network.condition,
  };
  let logNMean = 0;
  let logNStd = 1;
  if (net.condition) {
    const m = Math.min(train.n, 20000);
    const f = gatherFields(
      train,
      Int32Array.from({ length: m }, (_, i) => Math.floor(((i + 0.5) * train.n) / m)),
    );
    const logs = Array.from({ length: m }, (_, i) => Math.log(Math.max(1e-12, Math.hypot(...f.subarray(i * d, (i + 1) * d)))));
    logNMean = logs.reduce((a, b) => a + b, 0) / m;
    logNStd = Math.max(1e-3, Math.sqrt(logs.reduce((a, b) => a + (b - logNMean) ** 2, 0) / m));
  }
  const meta: EuclidMeta = {
    format: EUCLID_FORMAT,
    d,
    vocab: identity.vocab,
    fieldSource: identity.fieldSource,
    modelHash: identity.modelHash,
    schedule,
    tMin,
    embedScale: embedScaleOf(embed, d),
    network: net,
    norm: { logS2Min: Math.log(vpVariance(schedule, tMin)), logS2Max: Math.log(vpVariance(schedule, schedule.T)), logNMean, logNStd },
    training: { steps: tc.steps, config: opts.configName },
  };
  const init = initParams(net, `euclid/${tc.seed}`);
  const params = uploadParams(init, 'trainable') as Map<string, tf.Variable>;
  const ema = uploadParams(init, 'state') as Map<string, tf.Variable>;
  const opt = new AdamW(params, { beta1: tc.beta1, beta2: tc.beta2, eps: tc.eps, weightDecay: tc.weight_decay, gradClip: tc.grad_clip });
  // fixed validation set: evenly spaced pairs, stratified times, seeded noise
  const m = Math.min(tc.eval_samples, validation.n);
  const vIdx = Int32Array.from({ length: m }, (_, i) => Math.min(validation.n - 1, Math.floor(((i + 0.5) * validation.n) / m)));
  const vT = Float64Array.from({ length: m }, (_, i) => tMin + ((schedule.T - tMin) * (i + 0.5)) / m);
  const val = euclidBatch(meta, embed, validation, vIdx, makeRng(`euclid-val/${tc.seed}`), vT);
  const valLoss = (p: Params) => {
    const l = epsLoss(meta, p, val);
    const x = l.dataSync()[0];
    l.dispose();
    return x;
  };
  const sched = { lr: tc.lr, minLr: tc.min_lr, warmupSteps: tc.warmup_steps, steps: tc.steps };
  const lossLog: { train: { step: number; loss: number }[]; val: { step: number; loss: number }[] } = { train: [], val: [{ step: 0, loss: valLoss(ema) }] };
  const names = [...params.keys()];
  const vars = names.map((k) => params.get(k)!);
  const start = performance.now();
  try {
    while (opt.step < tc.steps) {
      const s = opt.step;
      const rng = stepRng(tc.seed, s);
      const b = euclidBatch(meta, embed, train, drawIndices(rng, train.n, tc.batch_size), rng);
      try {
        const { value, grads } = tf.variableGrads(() => epsLoss(meta, params, b), vars);
        const loss = value.dataSync()[0];
        if (!Number.isFinite(loss)) throw new UserError('E_NUMERIC', `the training loss is ${loss} at step ${s + 1}; lower training.lr`);
        opt.update(new Map(names.map((k, i) => [k, grads[vars[i].name]])), lrAt(s, sched));
        tf.dispose([value, ...Object.values(grads)]);
        lossLog.train.push({ step: opt.step, loss });
      } finally {
        b.dispose();
      }
      const decay = Math.min(tc.ema_decay, (1 + opt.step) / (10 + opt.step));
      tf.tidy(() => {
        for (const [k, e] of ema) e.assign(tf.add(tf.mul(e, decay), tf.mul(params.get(k)!, 1 - decay)));
      });
      let v: number | null = null;
      if (opt.step % tc.eval_every === 0 || opt.step === tc.steps) {
        v = valLoss(ema);
        lossLog.val.push({ step: opt.step, loss: v });
        log(
          `step ${opt.step}/${tc.steps}  loss ${lossLog.train.at(-1)!.loss.toPrecision(4)}  val ${v.toPrecision(4)}  ${((tc.batch_size * opt.step) / ((performance.now() - start) / 1000)).toFixed(0)} samples/s`,
        );
      }
      opts.onStep?.(opt.step, lossLog.train.at(-1)!.loss, v);
      if (opt.step % 50 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    mkdirSync(opts.outDir, { recursive: true });
    const host = await downloadParams(ema);
    writeSafetensors(join(opts.outDir, EUCLID_WEIGHTS_FILE), host, {
      dtype: cfg.export.dtype === 'float16' ? 'F16' : 'F32',
      metadata: { format: EUCLID_FORMAT },
    });
    atomicWriteJson(join(opts.outDir, EUCLID_META_FILE), meta);
    atomicWriteJson(join(opts.outDir, 'loss-log.json'), lossLog);
    const wall = (performance.now() - start) / 1000;
    let nParams = 0;
    for (const t of host.values()) nParams += t.data.length;
    const last = lossLog.train.slice(-20);
    const files = [EUCLID_META_FILE, EUCLID_WEIGHTS_FILE, 'loss-log.json', 'report.json'].map((f) => join(opts.outDir, f));
    const report: EuclidTrainReport = {
      out: opts.outDir,
      space: 'euclidean',
      steps: opt.step,
      params: nParams,
      d,
      initial_val_loss: lossLog.val[0].loss,
      final_val_loss: lossLog.val.at(-1)!.loss,
      val_loss_zero: 1,
      final_train_loss_mean20: last.reduce((a, e) => a + e.loss, 0) / last.length,
      wall_s: wall,
      samples_per_s: (tc.batch_size * opt.step) / wall,
      files,
    };
    atomicWriteJson(join(opts.outDir, 'report.json'), { ...report, config: cfg });
    log(`exported ${opts.outDir} (${EUCLID_META_FILE}, ${EUCLID_WEIGHTS_FILE})`);
    return report;
  } finally {
    val.dispose();
    opt.dispose();
    for (const t of [...params.values(), ...ema.values()]) t.dispose();
  }
}
