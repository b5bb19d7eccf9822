/**
 * Training checkpoints of `spinbath lm train`, crash-safe:
 *
 *   RUN/checkpoints/step-000300/config.json, model.safetensors   the weights (HF layout, fp32)
 *                               optimizer.safetensors            AdamW m, v (fp32) and step
 *                               state.json                       step, LM config, tokenizer hash,
 *                                                                 loss log, tokens seen, timings
 *   RUN/checkpoints/latest.json                                   {"step": 300, "dir": "step-000300"}
 *
 * A checkpoint is written into a hidden temporary directory (every file atomically and fsynced),
 * renamed to its final name, and only then published by rewriting latest.json atomically; older
 * checkpoints are deleted after that. A process killed at any point therefore leaves latest.json
 * naming a complete checkpoint (the previous one until the new pointer lands).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import { loadGpt2Weights, saveGpt2Checkpoint } from '../model/checkpoint.js';
import type { Gpt2Weights } from '../model/weights.js';
import { configDifference, parseLmConfig, type LmConfig } from './config.js';

export const CHECKPOINT_FORMAT = 'spinbath-lm-checkpoint';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const STEP_DIR_RE = /^step-\d+$/;
const TMP_DIR_RE = /^\.step-\d+\..*\.tmp$/;

export interface TrainLogEntry {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
}
export interface ValLogEntry {
  step: number;
  loss: number;
}
/** The loss curve: training loss of every update, validation loss every eval_every updates. */
export interface LossLog {
  train: TrainLogEntry[];
  val: ValLogEntry[];
}

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Updates done. */
  step: number;
  config: LmConfig;
  tokenizer_hash: string;
  vocab_size: number;
  tokens_seen: number;
  /** Seconds spent in training updates / in the whole run so far (all sessions). */
  train_s: number;
  wall_s: number;
  log: LossLog;
}

const pad = (n: number) => String(n).padStart(6, '0');

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems refuse fsync on directories; the renames are still atomic
  }
}

export function checkpointRoot(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/** The published checkpoint of a run directory ({step, dir}), or null when there is none. */
export function latestCheckpoint(runDir: string): { step: number; dir: string } | null {
  const path = join(checkpointRoot(runDir), 'latest.json');
  if (!existsSync(path)) return null;
  let raw: { step?: unknown; dir?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as typeof raw;
  } catch (e) {
    throw new UserError('E_CHECKPOINT', `${path} is corrupt (${(e as Error).message}); restore it or start a new run in another --out directory`);
  }
  if (typeof raw?.dir !== 'string' || !STEP_DIR_RE.test(raw.dir) || !Number.isInteger(raw.step)) {
    throw new UserError('E_CHECKPOINT', `${path} is corrupt (expected {"step": N, "dir": "step-NNNNNN"}); restore it or start a new run in another --out directory`);
  }
  return { step: raw.step as number, dir: join(checkpointRoot(runDir), raw.dir) };
}

/**
 * Write a checkpoint of `weights`, the optimizer state (written by `writeOptimizer(path)`) and
 * `state`, then publish it and delete older ones. Returns the checkpoint directory.
 */
export function saveCheckpoint(runDir: string, weights: Gpt2Weights, writeOptimizer: (path: string) => void, state: CheckpointState): string {
  const root = checkpointRoot(runDir);
  mkdirSync(root, { recursive: true });
  const name = `step-${pad(state.step)}`;
  const current = latestCheckpoint(runDir);
  const final = join(root, name);
  if (current && current.dir === final) throw new Error(`checkpoint ${final} is already published; refusing to overwrite it`);
  const tmp = join(root, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  saveGpt2Checkpoint(tmp, weights, { dtype: 'F32' });
  writeOptimizer(join(tmp, OPTIMIZER_FILE));
  atomicWriteJson(join(tmp, 'state.json'), state);
  fsyncDir(tmp);
  rmSync(final, { recursive: true, force: true }); // a stale, never-published one from a killed run
  renameSync(tmp, final);
  fsyncDir(root);
  atomicWriteJson(join(root, 'latest.json'), { step: state.step, dir: name });
  fsyncDir(root);
  for (const n of readdirSync(root)) {
    if ((STEP_DIR_RE.test(n) && n !== name) || TMP_DIR_RE.test(n)) rmSync(join(root, n), { recursive: true, force: true });
  }
  return final;
}

function corrupt(dir: string, what: string): UserError {
  return new UserError('E_CHECKPOINT', `checkpoint ${dir} is corrupt (${what}); restore it from a backup or start a new run in another --out directory`);
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  weights: Gpt2Weights;
  optimizerPath: string;
}

/**
 * Load the published checkpoint of `runDir` for resuming with `config` and a tokenizer of hash
 * `tokenizerHash`. Throws a one-line UserError when there is none, when it is corrupt, or when its
 * config differs (naming the first differing field). Never modifies the directory.
 */
export async function loadCheckpoint(runDir: string, config: LmConfig, tokenizerHash: string): Promise<LoadedCheckpoint> {
  const latest = latestCheckpoint(runDir);
  if (!latest) throw new UserError('E_CHECKPOINT', `--resume: ${runDir} has no checkpoint (no checkpoints/latest.json); run without --resume to start training`);
  const { dir } = latest;
  if (!existsSync(dir)) throw corrupt(dir, 'the directory named by latest.json is missing');
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw corrupt(dir, `state.json: ${(e as Error).message.split('\n')[0]}`);
  }
  if (state?.format !== CHECKPOINT_FORMAT || state.version !== 1 || state.step !== latest.step || !Array.isArray(state.log?.train) || !Array.isArray(state.log?.val)) {
    throw corrupt(dir, 'state.json is not a spinbath LM checkpoint state for this step');
  }
  let saved: LmConfig;
  try {
    saved = parseLmConfig(state.config, `${dir}/state.json config`);
  } catch (e) {
    throw corrupt(dir, (e as Error).message);
  }
  const diff = configDifference(saved, config);
  if (diff) {
    throw new UserError(
      'E_CONFIG',
      `--resume: the config differs from the checkpoint's in ${diff.field} (checkpoint ${JSON.stringify(diff.saved)}, given ${JSON.stringify(diff.given)}); use the run's original config or start a new run in another --out directory`,
    );
  }
  if (state.tokenizer_hash !== tokenizerHash) throw corrupt(dir, 'it was trained with a different tokenizer than model.merges gives');
  if (state.step > config.training.steps) throw corrupt(dir, `its step ${state.step} exceeds training.steps ${config.training.steps}`);
  let weights: Gpt2Weights;
  try {
    weights = await loadGpt2Weights(dir);
  } catch (e) {
    throw corrupt(dir, (e as Error).message.split('\n')[0]);
  }
  if (weights.config.vocab_size !== state.vocab_size) throw corrupt(dir, `config.json has vocab_size ${weights.config.vocab_size}, state.json ${state.vocab_size}`);
  const optimizerPath = join(dir, OPTIMIZER_FILE);
  if (!existsSync(optimizerPath)) throw corrupt(dir, `${OPTIMIZER_FILE} is missing`);
  return { dir, state, weights, optimizerPath };
}
