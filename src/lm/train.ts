/**
 * Training a GPT-2 language model on the Brown corpus (nanoGPT's train.py, on tfjs):
 *
 *   tokenizer (model.merges) → Brown train/validation ids (token cache) → Gpt2Model (trainable,
 *   GPT-2 init) → for each update: batch from (seed, step) → forward → crossEntropy → grads →
 *   AdamW (warm-up + cosine lr, global-norm clip) → every eval_every: validation loss on fixed
 *   windows → every checkpoint_every: crash-safe checkpoint → at the end: export.
 *
 * Resuming restores weights, AdamW state and the loss log from the checkpoint; batches and learning
 * rates depend only on (seed, step), so a resumed run reproduces an uninterrupted one exactly. The
 * step loop, batched device reads, timing, stop-after and the numeric stop are the harness shared
 * with score training (src/io/trainLoop.ts); nothing here reads the device synchronously, so it
 * runs on webgpu too.
 *
 * Export (into the run directory): config.json + model.safetensors (Hugging Face layout,
 * export.dtype), the tokenizer files, loss-log.json, loss-curve.svg and report.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readScalars } from '../backend.js';
import { ensureGradients } from '../core/gradients.js';
import type { BpeTokenizer } from '../data/bpe.js';
import { UserError } from '../errors.js';
import { atomicWrite, atomicWriteJson } from '../io/atomic.js';
import { restoreOptimizer } from '../io/checkpointDir.js';
import { meanRecentLoss, runTrainingLoop, type DeviceStep, type Tally } from '../io/trainLoop.js';
import type { StepInfo, TrainProgress as RunProgress } from '../io/trainProgress.js';
import { saveGpt2Checkpoint } from '../model/checkpoint.js';
import { Gpt2Model } from '../model/gpt2.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from '../model/weights.js';
import { renderSvg } from '../plot/render.js';
import { makeRng, normalArray } from '../rng.js';
import { CHECKPOINT_FORMAT, latestCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointState, type LossLog } from './checkpoint.js';
import type { LmConfig } from './config.js';
import { brownSplitIds, checkSplitSize, lmTokenizer, trainBatch, validationOffsets, windowsAt, writeLmTokenizer, type Batch, type TokenIds } from './data.js';
import { crossEntropy, tokenNll } from './loss.js';
import { AdamW, lrAt, writeAdamwState } from './optim.js';
import { lossCurveSpec } from './plot.js';

/** The GPT-2 config.json of an LM config with a vocabulary of `vocabSize` and end-of-text id `eotId`. */
export function gpt2ConfigFor(c: LmConfig, vocabSize: number, eotId: number): Gpt2Config {
  const m = c.model;
  return {
    model_type: 'gpt2',
    vocab_size: vocabSize,
    n_positions: m.n_positions,
    n_embd: m.n_embd,
    n_layer: m.n_layer,
    n_head: m.n_head,
    n_inner: null,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
    bos_token_id: eotId,
    eos_token_id: eotId,
  };
}

/**
 * GPT-2's initialisation (as nanoGPT): weights and embeddings N(0, 0.02²), the residual output
 * projections (attn.c_proj, mlp.c_proj) N(0, (0.02/√(2·n_layer))²), biases 0, LayerNorm gains 1.
 */
export function initWeights(config: Gpt2Config, seed: number): Gpt2Weights {
  const rng = makeRng(`lm-init/${seed}`);
  const tensors = new Map<string, HostTensor>();
  for (const [name, shape] of expectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (/(ln_\d|ln_f)\.weight$/.test(name)) data = new Float32Array(n).fill(1);
    else if (name.endsWith('.bias')) data = new Float32Array(n);
    else if (name.endsWith('c_proj.weight')) data = normalArray(rng, n, 0.02 / Math.sqrt(2 * config.n_layer));
    else data = normalArray(rng, n, 0.02);
    tensors.set(name, { shape, data });
  }
  return { config, tensors };
}

/** Number of trainable parameters (tied embedding counted once). */
export function countParams(model: Gpt2Model): number {
  let n = 0;
  for (const t of model.storedParams().values()) n += t.size;
  return n;
}

/**
 * One AdamW update on `batch` at learning rate `lr`. Returns the loss and the gradient norm as
 * device scalars (the caller reads and disposes them; nothing is read here); every other tensor
 * it makes is disposed.
 */
export function trainStep(model: Gpt2Model, opt: AdamW, batch: Batch, lr: number): DeviceStep {
  const names = [...opt.params.keys()];
  const vars = names.map((n) => opt.params.get(n)!);
  const y = tf.tensor1d(batch.y, 'int32'); // [batch·seq]
  try {
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => crossEntropy(tf.reshape(model.forward(batch.x), [-1, model.vocab]), y)), // logits [batch·seq, vocab] → scalar
      vars,
    );
    try {
      const { gradNorm, clipScale } = opt.update(new Map(names.map((n, i) => [n, grads[vars[i].name]])), lr);
      clipScale.dispose();
      return { loss: value, gradNorm };
    } finally {
      tf.dispose(Object.values(grads));
    }
  } finally {
    y.dispose();
  }
}

/** Mean per-token loss of `model` on the windows at `offsets`, `batchSize` windows per forward pass (one read at the end). */
export async function windowLoss(model: Gpt2Model, ids: TokenIds, offsets: number[], seqLen: number, batchSize: number): Promise<number> {
  const sums: tf.Tensor[] = [];
  let count = 0;
  try {
    for (let i = 0; i < offsets.length; i += batchSize) {
      const b = windowsAt(ids, offsets.slice(i, i + batchSize), seqLen);
      sums.push(
        tf.tidy(() => {
          const logits = tf.reshape(model.forward(b.x), [-1, model.vocab]); // [rows·seq, vocab]
          return tf.sum(tokenNll(logits, tf.tensor1d(b.y, 'int32'))); // scalar
        }),
      );
      count += b.y.length;
    }
    const v = await readScalars(sums);
    return v.reduce((a, x) => a + x, 0) / count;
  } finally {
    tf.dispose(sums);
  }
}

export interface ProgressInfo extends StepInfo {
  /** Training tokens per second over recent steps. */
  tokensPerS: number;
}

export type TrainProgress = RunProgress<ProgressInfo>;

/** Options of {@link trainLm}: config, output directory, resume, stop-after, callbacks. */
export interface TrainOptions {
  config: LmConfig;
  outDir: string;
  resume?: boolean;
  /** Stop once this many updates are done (after a checkpoint), without exporting; resume later. */
  stopAfter?: number;
  /** Token cache directory (default: SPINBATH_CACHE_DIR or ./.spinbath-cache). */
  cacheDir?: string;
  /** Replace the Brown splits (tests): the ids must come from `lmTokenizer(config.model.merges)`. */
  corpus?: { train: TokenIds; validation: TokenIds };
  progress?: TrainProgress;
  /** Called with the trained in-memory model after the export, before it is disposed (tests). */
  onTrained?: (model: Gpt2Model) => void | Promise<void>;
  /** Status lines (tokenising, resuming, checkpoint written, exported). */
  log?: (line: string) => void;
}

/** What {@link trainLm} reports at the end: steps, tokens, losses, timing, tensor counts. */
export interface TrainReport {
  out: string;
  /** True when stopped early by `stopAfter` (no export). */
  stopped: boolean;
  steps: number;
  params: number;
  vocab_size: number;
  tokens_seen: number;
  wall_s: number;
  train_s: number;
  tokens_per_s: number;
  final_train_loss: number | null;
  /** Mean training loss of the last min(20, steps) updates. */
  final_train_loss_mean20: number | null;
  final_val_loss: number | null;
  /** tf.memory().numTensors after the first and the last update of this session (equal: no leak). */
  tensors_after_first_step: number | null;
  tensors_at_end: number;
  backend: string;
  files: string[];
}

/**
 * tfjs-wasm's heap is 4 GB and a training step holds about ten [batch·seq_len, vocab] float
 * matrices (logits, softmax, its gradient, the embedding gradient's one-hot and products). Measured:
 * 206 MB logits train, 412 MB crash with "memory access out of bounds". Refuse beyond 320 MB.
 */
function checkWasmHeap(c: LmConfig, vocab: number): void {
  const mb = (4 * c.training.batch_size * c.training.seq_len * vocab) / 1e6;
  if (tf.getBackend() === 'wasm' && mb > 320) {
    throw new UserError(
      'E_CONFIG',
      `training.batch_size × seq_len × vocabulary (${c.training.batch_size} × ${c.training.seq_len} × ${vocab}) makes ${mb.toFixed(0)} MB logits, ` +
        `more than the wasm backend's 4 GB heap holds through a training step (320 MB); lower training.batch_size or seq_len, or set model.merges`,
    );
  }
}

/** Train (or resume) and export; see the file comment. */
export async function trainLm(opts: TrainOptions): Promise<TrainReport> {
  const cfg = opts.config;
  const t = cfg.training;
  const log = opts.log ?? (() => {});
  const out = opts.outDir;
  const latest = latestCheckpoint(out);
  if (!opts.resume && latest) {
    throw new UserError(
      'E_ARG',
      `${out} already holds a training run (checkpoint at step ${latest.step}); pass --resume to continue it or choose another --out`,
    );
  }
  const tok: BpeTokenizer = lmTokenizer(cfg.model.merges);
  checkWasmHeap(cfg, tok.vocabSize);
  const loaded = opts.resume ? await loadCheckpoint(out, cfg, tok.hash) : null;

  let trainIds: TokenIds;
  let valIds: TokenIds;
  if (opts.corpus) {
    ({ train: trainIds, validation: valIds } = opts.corpus);
  } else {
    log(`tokenising Brown train/validation with ${cfg.model.merges ?? 'all GPT-2'} merges (cached in the token cache)`);
    trainIds = brownSplitIds('train', tok, { cacheDir: opts.cacheDir });
    valIds = brownSplitIds('validation', tok, { cacheDir: opts.cacheDir });
  }
  checkSplitSize(trainIds, t.seq_len, 'train');
  checkSplitSize(valIds, t.seq_len, 'validation');

  await ensureGradients();
  writeLmTokenizer(out, cfg.model.merges);
  const gcfg = gpt2ConfigFor(cfg, tok.vocabSize, tok.eotId);
  const model = Gpt2Model.fromWeights(loaded ? loaded.weights : initWeights(gcfg, t.seed), { trainable: true });
  const opt = new AdamW(model.storedParams() as Map<string, tf.Variable>, {
    beta1: t.beta1,
    beta2: t.beta2,
    eps: t.eps,
    weightDecay: t.weight_decay,
    gradClip: t.grad_clip,
  });
  try {
    if (loaded) {
      restoreOptimizer(opt, loaded);
      log(`resuming from ${loaded.dir} (step ${loaded.state.step} of ${t.steps})`);
    }
    const report = await loop(opts, model, opt, tok, trainIds, valIds, loaded?.state ?? null);
    if (!report.stopped) await opts.onTrained?.(model);
    return report;
  } finally {
    opt.dispose();
    model.dispose();
  }
}

async function loop(
  opts: TrainOptions,
  model: Gpt2Model,
  opt: AdamW,
  tok: BpeTokenizer,
  trainIds: TokenIds,
  valIds: TokenIds,
  prev: CheckpointState | null,
): Promise<TrainReport> {
  const cfg = opts.config;
  const t = cfg.training;
  const out = opts.outDir;
  const log = opts.log ?? (() => {});
  const sched = { lr: t.lr, minLr: t.min_lr, warmupSteps: t.warmup_steps, steps: t.steps };
  const valOffsets = validationOffsets(valIds.length, t.seq_len, t.eval_batches * t.batch_size);
  const lossLog: LossLog = prev ? structuredClone(prev.log) : { train: [], val: [] };
  const tokensPerStep = t.batch_size * t.seq_len;
  const tally: Tally = { trainS: prev?.train_s ?? 0, units: prev?.tokens_seen ?? 0 };
  const wallStart = performance.now();
  const wallBefore = prev?.wall_s ?? 0;
  let lastCheckpoint: number | null = prev?.step ?? null;
  const state = (): CheckpointState => ({
    format: CHECKPOINT_FORMAT,
    version: 1,
    step: opt.step,
    config: cfg,
    tokenizer_hash: tok.hash,
    vocab_size: tok.vocabSize,
    tokens_seen: tally.units,
    train_s: tally.trainS,
    wall_s: wallBefore + (performance.now() - wallStart) / 1000,
    log: lossLog,
  });
  const run = await runTrainingLoop<ProgressInfo>({
    startStep: opt.step,
    steps: t.steps,
    stopAfter: opts.stopAfter,
    evalEvery: t.eval_every,
    checkpointEvery: t.checkpoint_every,
    lr: (s) => lrAt(s, sched),
    update: (s, lr) => trainStep(model, opt, trainBatch(trainIds, t.batch_size, t.seq_len, t.seed, s), lr),
    evaluate: () => windowLoss(model, valIds, valOffsets, t.seq_len, t.batch_size),
    checkpoint: async (step) => {
      const [weights, optState] = [await model.toWeightsAsync(), await opt.state()];
      saveCheckpoint(out, weights, (p) => writeAdamwState(p, optState), state());
      atomicWriteJson(join(out, 'loss-log.json'), lossLog);
      lastCheckpoint = step;
    },
    log: lossLog,
    tally,
    unitsPerStep: tokensPerStep,
    numericError: (what, step) => {
      const kept =
        lastCheckpoint !== null
          ? `the last good checkpoint (step ${lastCheckpoint}) is kept; continue with --resume after lowering training.lr`
          : 'lower training.lr';
      return new UserError('E_NUMERIC', `${what} at step ${step}; training stopped — ${kept}`);
    },
    progress: opts.progress,
    info: (base, secPerStep) => ({ ...base, tokensPerS: tokensPerStep / secPerStep }),
  });

  const report: TrainReport = {
    out,
    stopped: opt.step < t.steps,
    steps: opt.step,
    params: countParams(model),
    vocab_size: tok.vocabSize,
    tokens_seen: tally.units,
    wall_s: state().wall_s,
    train_s: tally.trainS,
    tokens_per_s: tally.trainS > 0 ? tally.units / tally.trainS : 0,
    final_train_loss: lossLog.train.at(-1)?.loss ?? null,
    final_train_loss_mean20: meanRecentLoss(lossLog),
    final_val_loss: run.valLoss,
    tensors_after_first_step: run.tensorsAfterFirst,
    tensors_at_end: tf.memory().numTensors,
    backend: tf.getBackend(),
    files: [],
  };
  if (report.stopped) {
    log(`stopped after step ${opt.step} of ${t.steps}; continue with --resume`);
    return report;
  }
  return exportRun(opts, model, lossLog, report);
}

/** Write the Hugging Face layout, the loss curve and the report into the run directory. */
async function exportRun(opts: TrainOptions, model: Gpt2Model, lossLog: LossLog, report: TrainReport): Promise<TrainReport> {
  const out = opts.outDir;
  const dtype = opts.config.export.dtype === 'float16' ? 'F16' : 'F32';
  saveGpt2Checkpoint(out, await model.toWeightsAsync(), { dtype });
  atomicWriteJson(join(out, 'loss-log.json'), lossLog);
  const title = `${opts.config.description ?? 'GPT-2'} on Brown: ${report.params.toLocaleString('en-US')} parameters, vocabulary ${report.vocab_size}`;
  atomicWrite(join(out, 'loss-curve.svg'), await renderSvg(lossCurveSpec(lossLog, title)));
  const files = [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'vocab.json',
    'merges.txt',
    'special_tokens_map.json',
    'loss-log.json',
    'loss-curve.svg',
    'report.json',
  ].filter((f) => f === 'report.json' || existsSync(join(out, f)));
  const final = { ...report, files: files.map((f) => join(out, f)) };
  atomicWriteJson(join(out, 'report.json'), { ...final, config: opts.config });
  (opts.log ?? (() => {}))(`exported ${out} (${dtype === 'F16' ? 'fp16' : 'fp32'} weights, tokenizer, loss-curve.svg, report.json)`);
  return final;
}
