/**
 * Training the residual tangent score s_θ(S_t, t, N) of the guided reverse SDE
 * (BL Eqs. 12–14, B5–B6; target derived in docs/residual-score.md):
 *
 *   pairs (N, next token) → batch (training/batch.ts: S_0, S_t ~ heat kernel at σ²(t), c(u), target)
 *   → loss (DSM, or Hutchinson SSM; training/objectives.ts) → grads → Adam (src/lm/optim.ts, warm-up
 *   + cosine lr, global-norm clip) → EMA of the weights → every eval_every: validation DSM loss of
 *   the EMA weights on a fixed set → every checkpoint_every: crash-safe checkpoint → export.
 *
 * Batches depend on (seed, step) only, and the checkpoint holds weights, EMA and Adam state in fp32,
 * so a resumed run reproduces an uninterrupted one exactly. A non-finite loss or gradient stops the
 * run at the next device read, naming its step, before anything later is checkpointed (the last
 * checkpoint stays). The step loop is the harness shared with `lm train` (src/io/trainLoop.ts);
 * no synchronous device reads, so it runs on webgpu too. Export: RUN/score.json +
 * score.safetensors (EMA weights), loss-log.json, loss-curve.svg, report.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { ensureGradients } from '../src/core/gradients.js';
import { sigma2 as sigma2At } from '../src/core/schedules.js';
import { readScalars } from '../src/backend.js';
import { UserError } from '../src/errors.js';
import { atomicWrite, atomicWriteJson } from '../src/io/atomic.js';
import { restoreOptimizer } from '../src/io/checkpointDir.js';
import type { StepInfo, TrainProgress as RunProgress } from '../src/io/trainProgress.js';
import { meanRecentLoss, runTrainingLoop, type DeviceStep, type Tally } from '../src/io/trainLoop.js';
import { AdamW, lrAt, writeAdamwState } from '../src/lm/optim.js';
import { renderSvg } from '../src/plot/render.js';
import { drawIndices, makeBatch, stepRng, validationDraw, type Batch, type BatchSpec } from './batch.js';
import {
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  SCORE_CHECKPOINT_FORMAT,
  type LossLog,
  type RunIdentity,
  type ScoreCheckpointState,
} from './checkpoint.js';
import { absoluteSchedule, type ScoreConfig } from './config.js';
import { gatherFields, type PairSet } from './fieldCache.js';
import { tableForSchedule } from './forward.js';
import {
  downloadParams,
  forwardFlopsPerRow,
  initParams,
  scoreForward,
  uploadParams,
  type FeatureNorm,
  type NetworkConfig,
  type Params,
} from '../src/score/network.js';
import { dsmLoss, ssmLoss } from './objectives.js';
import { scoreLossCurveSpec } from './plot.js';
import { saveScoreModel, type ScoreNetMeta } from '../src/score/scoreNet.js';

export interface TrainData {
  train: PairSet;
  validation: PairSet;
  /** Token spins, unit rows of W_E [vocab, d] (owned by the caller). */
  spins: tf.Tensor;
  identity: RunIdentity;
}

export interface ProgressInfo extends StepInfo {
  samplesPerS: number;
}

export type TrainProgress = RunProgress<ProgressInfo>;

/** Options of {@link trainScore}: config, output directory, data, resume, stop-after, callbacks. */
export interface ScoreTrainOptions {
  config: ScoreConfig;
  data: TrainData;
  outDir: string;
  resume?: boolean;
  /** Stop once this many updates are done (after a checkpoint), without exporting. */
  stopAfter?: number;
  progress?: TrainProgress;
  /** Receives the run's log lines. */
  log?: (line: string) => void;
  /** Test hook: report a NaN loss at this (1-based) step. */
  faultInjection?: { nanLossAtStep: number };
  /** The config file name, recorded in the metadata. */
  configName?: string;
}

/** What {@link trainScore} reports at the end: steps, losses, timing. */
export interface ScoreTrainReport {
  out: string;
  stopped: boolean;
  steps: number;
  params: number;
  d: number;
  vocab: number;
  field_source: string;
  eta: number;
  train_pairs: number;
  val_pairs: number;
  samples_seen: number;
  wall_s: number;
  train_s: number;
  samples_per_s: number;
  /** Matmul GFLOP/s of the network's forward + backward (3 × forward FLOPs per sample). */
  model_gflops: number;
  final_train_loss_mean20: number | null;
  initial_val_loss: number | null;
  final_val_loss: number | null;
  /** Validation loss of s ≡ 0 (the scale of the targets). */
  val_loss_zero: number;
  heat_table: { levels: number; series: number; varadhan: number; build_s: number };
  tensors_after_first_step: number | null;
  tensors_at_end: number;
  backend: string;
  files: string[];
}

/** Mean and standard deviation of log|N| over (up to 20 000 evenly spaced) training fields. */
export function featureNorm(c: ScoreConfig, d: number, pairs: PairSet, condition: boolean): FeatureNorm {
  const s = absoluteSchedule(c, d);
  const base = { logS2Min: Math.log(sigma2At(s, c.schedule.t_min)), logS2Max: Math.log(sigma2At(s, s.T)) };
  if (!condition || !pairs.fields) return { ...base, logNMean: 0, logNStd: 1 };
  const m = Math.min(pairs.n, 20000);
  const idx = Int32Array.from({ length: m }, (_, i) => Math.floor(((i + 0.5) * pairs.n) / m));
  const f = gatherFields(pairs, idx);
  const logs = Array.from({ length: m }, (_, i) => Math.log(Math.max(1e-12, Math.hypot(...f.subarray(i * d, (i + 1) * d)))));
  const mean = logs.reduce((a, b) => a + b, 0) / m;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / m);
  return { ...base, logNMean: mean, logNStd: Math.max(sd, 1e-3) };
}

/** The loss of one batch under parameters `p` (DSM or SSM), a scalar. */
function batchLoss(c: ScoreConfig, net: NetworkConfig, norm: FeatureNorm, p: Params, b: Batch): tf.Tensor {
  if (c.target.objective === 'ssm') {
    const score = (S: tf.Tensor) => scoreForward(net, norm, p, { ...b.inputs, S });
    return ssmLoss(score, { S: b.inputs.S, lambda: b.lambda, v: b.probe!, h: b.step!, Nhat: b.etaOverBeta ? b.inputs.Nhat : null, etaOverBeta: b.etaOverBeta });
  }
  return dsmLoss(scoreForward(net, norm, p, b.inputs), b.target, b.lambda);
}

/** Validation DSM loss of `p` (null: s ≡ 0) on the fixed batch (one async read). */
async function validationLoss(net: NetworkConfig, norm: FeatureNorm, p: Params | null, b: Batch): Promise<number> {
  const v = tf.tidy(() => {
    const s = p ? scoreForward(net, norm, p, b.inputs) : tf.zerosLike(b.target);
    return dsmLoss(s, b.target, b.lambda);
  });
  try {
    return (await readScalars([v]))[0];
  } finally {
    v.dispose();
  }
}

/** Train (or resume) and export; see the file comment. */
export async function trainScore(opts: ScoreTrainOptions): Promise<ScoreTrainReport> {
  const cfg = opts.config;
  const tc = cfg.training;
  const log = opts.log ?? (() => {});
  const out = opts.outDir;
  const { train, validation, spins, identity } = opts.data;
  const d = identity.d;
  const latest = latestCheckpoint(out);
  if (!opts.resume && latest) {
    throw new UserError(
      'E_ARG',
      `${out} already holds a score-training run (checkpoint at step ${latest.step}); pass --resume to continue it or choose another --out`,
    );
  }
  const loaded = opts.resume ? loadCheckpoint(out, cfg, identity) : null;
  const condition = cfg.network.condition;
  if (!(d >= 3)) throw new UserError('E_INPUT', `the spin dimension d = ${d} is below 3; score training needs a model with n_embd ≥ 3`);
  if (condition && (!train.fields || !validation.fields)) throw new UserError('E_INPUT', 'network.condition is true but the data have no context fields');
  // the guidance term −(η/β) P_S N̂ depends on N, so only a conditioned network can learn it
  const eta = condition ? cfg.target.eta : 0;
  if (!condition && cfg.target.eta > 0)
    log(`note: network.condition is false, so the residual is the full score (η = 0 in the exported metadata, not ${cfg.target.eta})`);
  if (train.n < 1 || validation.n < 1)
    throw new UserError('E_INPUT', `need at least one training and one validation pair (have ${train.n} and ${validation.n})`);

  await ensureGradients();
  const schedule = absoluteSchedule(cfg, d);
  const tMin = cfg.schedule.t_min;
  const tTable = performance.now();
  const table = tableForSchedule(d, schedule, tMin, { levels: cfg.forward.levels, grid: cfg.forward.grid });
  const tableS = (performance.now() - tTable) / 1000;
  const xT = (d - 1) * sigma2At(schedule, schedule.T);
  if (xT < 6)
    log(`note: E[S_T·S_0] = ${Math.exp(-xT / 2).toFixed(3)} at t = T: the forward process does not reach the uniform prior; raise schedule.beta_max or T`);
  const net: NetworkConfig = {
    d,
    width: cfg.network.width,
    depth: cfg.network.depth,
    activation: cfg.network.activation,
    timeEmbedding: cfg.network.time_embedding,
    condition,
  };
  const norm = loaded ? loaded.state.norm : featureNorm(cfg, d, train, condition);
  const init = loaded ? null : initParams(net, tc.seed);
  const params = uploadParams(loaded ? loaded.params : init!, 'trainable') as Map<string, tf.Variable>;
  const ema = uploadParams(loaded ? loaded.ema : init!, 'state') as Map<string, tf.Variable>;
  const opt = new AdamW(params, { beta1: tc.beta1, beta2: tc.beta2, eps: tc.eps, weightDecay: tc.weight_decay, gradClip: tc.grad_clip });
  const spec: BatchSpec = {
    spins,
    schedule,
    tMin,
    eta,
    weighting: cfg.target.weighting,
    condition,
    noise: { sampler: cfg.forward.sampler, table, substeps: cfg.forward.substeps },
    hutchinsonStep: cfg.target.objective === 'ssm' ? cfg.target.hutchinson_step : undefined,
  };
  const vd = validationDraw(validation.n, tc.eval_samples, tMin, schedule.T, tc.seed);
  const valBatch = await makeBatch({ ...spec, hutchinsonStep: undefined }, validation, vd.idx, vd.rng, vd.t);
  try {
    if (loaded) {
      restoreOptimizer(opt, loaded);
      log(`resuming from ${loaded.dir} (step ${loaded.state.step} of ${tc.steps})`);
    }
    const meta = (steps: number): ScoreNetMeta => ({
      format: 'spinbath-score/1',
      d,
      vocab: identity.vocab,
      fieldSource: identity.fieldSource,
      schedule,
      eta,
      modelHash: identity.modelHash,
      tMin,
      fieldScaling: 'unit',
      network: net,
      norm,
      training: { steps, objective: cfg.target.objective, weighting: cfg.target.weighting, config: opts.configName },
    });
    const ctx = { cfg, net, norm, params, ema, opt, spec, valBatch, meta, tableS, table };
    return await loop(opts, ctx, loaded?.state ?? null);
  } finally {
    valBatch.dispose();
    opt.dispose();
    for (const t of [...params.values(), ...ema.values()]) t.dispose();
  }
}

interface LoopContext {
  cfg: ScoreConfig;
  net: NetworkConfig;
  norm: FeatureNorm;
  params: Map<string, tf.Variable>;
  ema: Map<string, tf.Variable>;
  opt: AdamW;
  spec: BatchSpec;
  valBatch: Batch;
  meta: (steps: number) => ScoreNetMeta;
  tableS: number;
  table: ReturnType<typeof tableForSchedule>;
}

async function loop(opts: ScoreTrainOptions, c: LoopContext, prev: ScoreCheckpointState | null): Promise<ScoreTrainReport> {
  const { cfg, net, norm, params, ema, opt, spec, valBatch } = c;
  const tc = cfg.training;
  const out = opts.outDir;
  const log = opts.log ?? (() => {});
  const { train, identity } = opts.data;
  const sched = { lr: tc.lr, minLr: tc.min_lr, warmupSteps: tc.warmup_steps, steps: tc.steps };
  const lossLog: LossLog = prev ? structuredClone(prev.log) : { train: [], val: [] };
  const tally: Tally = { trainS: prev?.train_s ?? 0, units: prev?.samples_seen ?? 0 };
  const wallStart = performance.now();
  const wallBefore = prev?.wall_s ?? 0;
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const valZero = await validationLoss(net, norm, null, valBatch);
  let lastCheckpoint = latestCheckpoint(out);
  const state = (): ScoreCheckpointState => ({
    format: SCORE_CHECKPOINT_FORMAT,
    version: 1,
    step: opt.step,
    config: cfg,
    identity,
    norm,
    log: lossLog,
    samples_seen: tally.units,
    train_s: tally.trainS,
    wall_s: wallBefore + (performance.now() - wallStart) / 1000,
  });
  /** One Adam update and the EMA of the weights; loss and gradient norm stay on the device. */
  const update = async (s: number, lr: number): Promise<DeviceStep> => {
    const rng = stepRng(tc.seed, s);
    const batch = await makeBatch(spec, train, drawIndices(rng, train.n, tc.batch_size), rng);
    try {
      const { value, grads } = tf.variableGrads(() => batchLoss(cfg, net, norm, params, batch) as tf.Scalar, vars);
      try {
        const { gradNorm, clipScale } = opt.update(new Map(names.map((n, i) => [n, grads[vars[i].name]])), lr);
        clipScale.dispose();
        const decay = Math.min(tc.ema_decay, (1 + opt.step) / (10 + opt.step));
        tf.tidy(() => {
          for (const [n, e] of ema) e.assign(tf.add(tf.mul(e, decay), tf.mul(params.get(n)!, 1 - decay)));
        });
        return { loss: value, gradNorm };
      } finally {
        tf.dispose(Object.values(grads));
      }
    } finally {
      batch.dispose();
    }
  };
  const run = await runTrainingLoop<ProgressInfo>({
    startStep: opt.step,
    steps: tc.steps,
    stopAfter: opts.stopAfter,
    evalEvery: tc.eval_every,
    checkpointEvery: tc.checkpoint_every,
    lr: (s) => lrAt(s, sched),
    update,
    evaluate: () => validationLoss(net, norm, ema, valBatch),
    checkpoint: async (step) => {
      const [p, e, o] = [await downloadParams(params), await downloadParams(ema), await opt.state()];
      const dir = saveCheckpoint(out, { state: state(), meta: c.meta(step), params: p, ema: e, writeOptimizer: (path) => writeAdamwState(path, o) });
      lastCheckpoint = { step, dir };
      atomicWriteJson(join(out, 'loss-log.json'), lossLog);
    },
    log: lossLog,
    tally,
    unitsPerStep: tc.batch_size,
    numericError: (what, step) => {
      const kept = lastCheckpoint
        ? `the last good checkpoint (step ${lastCheckpoint.step}) is kept in ${lastCheckpoint.dir}; fix the config and continue with --resume`
        : 'no checkpoint had been written yet';
      return new UserError('E_NUMERIC', `${what} at step ${step}; training stopped — ${kept} (lower training.lr or training.grad_clip)`);
    },
    progress: opts.progress,
    info: (base, secPerStep) => ({ ...base, samplesPerS: tc.batch_size / secPerStep }),
    nanLossAtStep: opts.faultInjection?.nanLossAtStep,
  });
  let nParams = 0;
  for (const p of params.values()) nParams += p.size;
  const samplesPerS = tally.trainS > 0 ? tally.units / tally.trainS : 0;
  const report: ScoreTrainReport = {
    out,
    stopped: opt.step < tc.steps,
    steps: opt.step,
    params: nParams,
    d: identity.d,
    vocab: identity.vocab,
    field_source: identity.fieldSource,
    eta: c.meta(0).eta,
    train_pairs: train.n,
    val_pairs: opts.data.validation.n,
    samples_seen: tally.units,
    wall_s: state().wall_s,
    train_s: tally.trainS,
    samples_per_s: samplesPerS,
    model_gflops: (samplesPerS * 3 * forwardFlopsPerRow(net) * (cfg.target.objective === 'ssm' ? 3 : 1)) / 1e9,
    final_train_loss_mean20: meanRecentLoss(lossLog),
    initial_val_loss: lossLog.val[0]?.loss ?? null,
    final_val_loss: run.valLoss,
    val_loss_zero: valZero,
    heat_table: { levels: c.table.levels.length, ...c.table.methods(), build_s: c.tableS },
    tensors_after_first_step: run.tensorsAfterFirst,
    tensors_at_end: tf.memory().numTensors,
    backend: tf.getBackend(),
    files: [],
  };
  if (report.stopped) {
    log(`stopped after step ${opt.step} of ${tc.steps}; continue with --resume`);
    return report;
  }
  saveScoreModel(out, c.meta(opt.step), await downloadParams(ema), cfg.export.dtype === 'float16' ? 'F16' : 'F32');
  atomicWriteJson(join(out, 'loss-log.json'), lossLog);
  const title = `residual score: d ${identity.d}, field ${identity.fieldSource}, η ${c.meta(0).eta}, ${nParams.toLocaleString('en-US')} parameters`;
  const yTitle = `${cfg.target.objective.toUpperCase()} loss (λ = ${cfg.target.weighting}, per (d−1))`;
  atomicWrite(join(out, 'loss-curve.svg'), await renderSvg(scoreLossCurveSpec(lossLog, title, yTitle)));
  const files = ['score.json', 'score.safetensors', 'loss-log.json', 'loss-curve.svg', 'report.json'].map((f) => join(out, f));
  const final = { ...report, files };
  atomicWriteJson(join(out, 'report.json'), { ...final, config: cfg });
  log(`exported ${out} (score.json, score.safetensors, loss-curve.svg, report.json)`);
  return final;
}
