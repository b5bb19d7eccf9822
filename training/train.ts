/**
 * Training the residual tangent score s_θ(S_t, t, N) of the guided reverse SDE (Bhattacharjee &
 * Lee, Eqs. 12–14, B5–B6; target derived in docs/residual-score.md):
 *
 *   pairs (N, next token) → batch (training/batch.ts: S_0, S_t ~ heat kernel at σ²(t), c(u), target)
 *   → loss (DSM, or Hutchinson SSM; training/objectives.ts) → grads → Adam (src/lm/optim.ts, warm-up
 *   + cosine lr, global-norm clip) → EMA of the weights → every eval_every: validation DSM loss of
 *   the EMA weights on a fixed set → every checkpoint_every: crash-safe checkpoint → export.
 *
 * Batches depend on (seed, step) only, and the checkpoint holds weights, EMA and Adam state in fp32,
 * so a resumed run reproduces an uninterrupted one exactly. A non-finite loss or gradient stops the
 * run at once (the last checkpoint stays). Export: RUN/score.json + score.safetensors (EMA weights),
 * loss-log.json, loss-curve.svg, report.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { ensureGradients } from '../src/core/gradients.js';
import { sigma2 as sigma2At } from '../src/core/schedules.js';
import { isUserError, UserError } from '../src/errors.js';
import { atomicWrite, atomicWriteJson } from '../src/io/atomic.js';
import { restoreOptimizer } from '../src/io/checkpointDir.js';
import type { StepInfo, TrainProgress as RunProgress } from '../src/io/trainProgress.js';
import { AdamW, lrAt } from '../src/lm/optim.js';
import type { HostTensor } from '../src/model/weights.js';
import { renderSvg } from '../src/plot/render.js';
import { drawIndices, makeBatch, stepRng, validationDraw, type Batch, type BatchSpec } from './batch.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, SCORE_CHECKPOINT_FORMAT, type LossLog, type RunIdentity, type ScoreCheckpointState } from './checkpoint.js';
import { absoluteSchedule, type ScoreConfig } from './config.js';
import { gatherFields, type PairSet } from './fieldCache.js';
import { tableForSchedule } from './forward.js';
import { downloadParams, forwardFlopsPerRow, initParams, scoreForward, uploadParams, type FeatureNorm, type NetworkConfig, type Params } from './network.js';
import { dsmLoss, ssmLoss } from './objectives.js';
import { scoreLossCurveSpec } from './plot.js';
import { saveScoreModel, type ScoreNetMeta } from './score-net.js';

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

export interface ScoreTrainOptions {
  config: ScoreConfig;
  data: TrainData;
  outDir: string;
  resume?: boolean;
  /** Stop once this many updates are done (after a checkpoint), without exporting. */
  stopAfter?: number;
  progress?: TrainProgress;
  log?: (line: string) => void;
  /** Test hook: report a NaN loss at this (1-based) step. */
  faultInjection?: { nanLossAtStep: number };
  /** The config file name, recorded in the metadata. */
  configName?: string;
}

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

/** Validation DSM loss of `p` (null: s ≡ 0) on the fixed batch. */
function validationLoss(net: NetworkConfig, norm: FeatureNorm, p: Params | null, b: Batch): number {
  const v = tf.tidy(() => {
    const s = p ? scoreForward(net, norm, p, b.inputs) : tf.zerosLike(b.target);
    return dsmLoss(s, b.target, b.lambda);
  });
  const x = v.dataSync()[0];
  v.dispose();
  return x;
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
    throw new UserError('E_ARG', `${out} already holds a score-training run (checkpoint at step ${latest.step}); pass --resume to continue it or choose another --out`);
  }
  const loaded = opts.resume ? loadCheckpoint(out, cfg, identity) : null;
  const condition = cfg.network.condition;
  if (!(d >= 3)) throw new UserError('E_INPUT', `the spin dimension d = ${d} is below 3; score training needs a model with n_embd ≥ 3`);
  if (condition && (!train.fields || !validation.fields)) throw new UserError('E_INPUT', 'network.condition is true but the data have no context fields');
  // the guidance term −(η/β) P_S N̂ depends on N, so only a conditioned network can learn it
  const eta = condition ? cfg.target.eta : 0;
  if (!condition && cfg.target.eta > 0) log(`note: network.condition is false, so the residual is the full score (η = 0 in the exported metadata, not ${cfg.target.eta})`);
  if (train.n < 1 || validation.n < 1) throw new UserError('E_INPUT', `need at least one training and one validation pair (have ${train.n} and ${validation.n})`);

  await ensureGradients();
  const schedule = absoluteSchedule(cfg, d);
  const tMin = cfg.schedule.t_min;
  const tTable = performance.now();
  const table = tableForSchedule(d, schedule, tMin, { levels: cfg.forward.levels, grid: cfg.forward.grid });
  const tableS = (performance.now() - tTable) / 1000;
  const xT = (d - 1) * sigma2At(schedule, schedule.T);
  if (xT < 6) log(`note: E[S_T·S_0] = ${Math.exp(-xT / 2).toFixed(3)} at t = T: the forward process does not reach the uniform prior; raise schedule.beta_max or T`);
  const net: NetworkConfig = {
    d, width: cfg.network.width, depth: cfg.network.depth, activation: cfg.network.activation, timeEmbedding: cfg.network.time_embedding, condition,
  };
  const norm = loaded ? loaded.state.norm : featureNorm(cfg, d, train, condition);
  const init = loaded ? null : initParams(net, tc.seed);
  const params = uploadParams(loaded ? loaded.params : init!, 'trainable') as Map<string, tf.Variable>;
  const ema = uploadParams(loaded ? loaded.ema : init!, 'state') as Map<string, tf.Variable>;
  const opt = new AdamW(params, { beta1: tc.beta1, beta2: tc.beta2, eps: tc.eps, weightDecay: tc.weight_decay, gradClip: tc.grad_clip });
  const spec: BatchSpec = {
    spins, schedule, tMin, eta, weighting: cfg.target.weighting, condition,
    noise: { sampler: cfg.forward.sampler, table, substeps: cfg.forward.substeps },
    hutchinsonStep: cfg.target.objective === 'ssm' ? cfg.target.hutchinson_step : undefined,
  };
  const vd = validationDraw(validation.n, tc.eval_samples, tMin, schedule.T, tc.seed);
  const valBatch = makeBatch({ ...spec, hutchinsonStep: undefined }, validation, vd.idx, vd.rng, vd.t);
  try {
    if (loaded) {
      restoreOptimizer(opt, loaded);
      log(`resuming from ${loaded.dir} (step ${loaded.state.step} of ${tc.steps})`);
    }
    const meta = (steps: number): ScoreNetMeta => ({
      format: 'spinbath-score/1', d, vocab: identity.vocab, fieldSource: identity.fieldSource, schedule, eta, modelHash: identity.modelHash,
      tMin, fieldScaling: 'unit', network: net, norm, training: { steps, objective: cfg.target.objective, weighting: cfg.target.weighting, config: opts.configName },
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
  let samplesSeen = prev?.samples_seen ?? 0;
  let trainS = prev?.train_s ?? 0;
  const wallStart = performance.now();
  const wallBefore = prev?.wall_s ?? 0;
  const endStep = Math.min(tc.steps, opts.stopAfter ?? tc.steps);
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const valZero = validationLoss(net, norm, null, valBatch);
  if (opt.step === 0 && lossLog.val.length === 0) lossLog.val.push({ step: 0, loss: validationLoss(net, norm, ema, valBatch) });
  let valLoss = lossLog.val.at(-1)?.loss ?? null;
  let tensorsAfterFirst: number | null = null;
  let lastCheckpoint = latestCheckpoint(out);
  const recent: number[] = [];
  const state = (): ScoreCheckpointState => ({
    format: SCORE_CHECKPOINT_FORMAT, version: 1, step: opt.step, config: cfg, identity, norm, log: lossLog, samples_seen: samplesSeen, train_s: trainS,
    wall_s: wallBefore + (performance.now() - wallStart) / 1000,
  });
  const stopNumeric = (what: string, step: number): UserError => {
    const kept = lastCheckpoint ? `the last good checkpoint (step ${lastCheckpoint.step}) is kept in ${lastCheckpoint.dir}; fix the config and continue with --resume` : 'no checkpoint had been written yet';
    return new UserError('E_NUMERIC', `${what} at step ${step}; training stopped — ${kept} (lower training.lr or training.grad_clip)`);
  };
  opts.progress?.start(opt.step, tc.steps);
  try {
    while (opt.step < endStep) {
      const s = opt.step; // 0-based index of this update
      const lr = lrAt(s, sched);
      const t0 = performance.now();
      const rng = stepRng(tc.seed, s);
      const batch = makeBatch(spec, train, drawIndices(rng, train.n, tc.batch_size), rng);
      let loss: number;
      let gradNorm: number;
      try {
        const { value, grads } = tf.variableGrads(() => batchLoss(cfg, net, norm, params, batch) as tf.Scalar, vars);
        try {
          loss = value.dataSync()[0];
          if (opts.faultInjection?.nanLossAtStep === s + 1) loss = NaN;
          if (!Number.isFinite(loss)) throw stopNumeric(`the training loss is ${loss}`, s + 1);
          try {
            gradNorm = opt.update(new Map(names.map((n, i) => [n, grads[vars[i].name]])), lr).gradNorm;
          } catch (e) {
            if (isUserError(e) && e.code === 'E_NUMERIC') throw stopNumeric('the gradient norm is not finite', s + 1);
            throw e;
          }
        } finally {
          tf.dispose([value, ...Object.values(grads)]);
        }
      } finally {
        batch.dispose();
      }
      const decay = Math.min(tc.ema_decay, (1 + opt.step) / (10 + opt.step));
      tf.tidy(() => {
        for (const [n, e] of ema) e.assign(tf.add(tf.mul(e, decay), tf.mul(params.get(n)!, 1 - decay)));
      });
      const dt = (performance.now() - t0) / 1000;
      trainS += dt;
      samplesSeen += tc.batch_size;
      // the first update of a process pays for kernel compilation and warm-up: keep it out of the ETA
      if (tensorsAfterFirst !== null || recent.length > 0) recent.push(dt);
      if (recent.length > 20) recent.shift();
      const firstOfRun = tensorsAfterFirst === null;
      tensorsAfterFirst ??= tf.memory().numTensors;
      const step = opt.step;
      lossLog.train.push({ step, loss, lr, grad_norm: gradNorm });
      const evaluated = step % tc.eval_every === 0 || step === tc.steps;
      if (evaluated) {
        valLoss = validationLoss(net, norm, ema, valBatch);
        lossLog.val.push({ step, loss: valLoss });
      } else if (step === endStep) {
        valLoss = validationLoss(net, norm, ema, valBatch); // the loss at the stop, reported (not logged: the log matches an uninterrupted run)
      }
      if (step % tc.checkpoint_every === 0 || step === tc.steps || step === endStep) {
        const dir = saveCheckpoint(out, { state: state(), meta: c.meta(step), params: downloadParams(params), ema: downloadParams(ema), writeOptimizer: (p) => opt.save(p) });
        lastCheckpoint = { step, dir };
        atomicWriteJson(join(out, 'loss-log.json'), lossLog);
      }
      const secPerStep = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : dt;
      opts.progress?.step({ step, steps: tc.steps, loss, lr, valLoss, evaluated, samplesPerS: tc.batch_size / secPerStep, etaS: firstOfRun ? NaN : secPerStep * (tc.steps - step) });
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    opts.progress?.stop();
  }
  const last = lossLog.train.slice(-20);
  let nParams = 0;
  for (const p of params.values()) nParams += p.size;
  const samplesPerS = trainS > 0 ? samplesSeen / trainS : 0;
  const report: ScoreTrainReport = {
    out, stopped: opt.step < tc.steps, steps: opt.step, params: nParams, d: identity.d, vocab: identity.vocab, field_source: identity.fieldSource,
    eta: c.meta(0).eta, train_pairs: train.n, val_pairs: opts.data.validation.n, samples_seen: samplesSeen, wall_s: state().wall_s, train_s: trainS,
    samples_per_s: samplesPerS, model_gflops: (samplesPerS * 3 * forwardFlopsPerRow(net) * (cfg.target.objective === 'ssm' ? 3 : 1)) / 1e9,
    final_train_loss_mean20: last.length ? last.reduce((a, e) => a + e.loss, 0) / last.length : null,
    initial_val_loss: lossLog.val[0]?.loss ?? null, final_val_loss: valLoss, val_loss_zero: valZero,
    heat_table: { levels: c.table.levels.length, ...c.table.methods(), build_s: c.tableS },
    tensors_after_first_step: tensorsAfterFirst, tensors_at_end: tf.memory().numTensors, backend: tf.getBackend(), files: [],
  };
  if (report.stopped) {
    log(`stopped after step ${opt.step} of ${tc.steps}; continue with --resume`);
    return report;
  }
  saveScoreModel(out, c.meta(opt.step), downloadParams(ema), cfg.export.dtype === 'float16' ? 'F16' : 'F32');
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
