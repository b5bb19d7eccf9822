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
 * naming a complete checkpoint (the previous one until the new pointer lands). The directory side
 * is src/io/checkpointDir.ts; this file says which files a checkpoint holds and validates them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import { checkResumeConfig, corruptCheckpoint, publishCheckpoint, readPublishedState } from '../io/checkpointDir.js';
import { loadGpt2Weights, saveGpt2Checkpoint } from '../model/checkpoint.js';
import type { Gpt2Weights } from '../model/weights.js';
import type { LossLog } from '../plot/lossCurve.js';
import { configDifference, parseLmConfig, type LmConfig } from './config.js';

export { checkpointRoot, latestCheckpoint } from '../io/checkpointDir.js';
export type { LossLog, TrainLogEntry, ValLogEntry } from '../plot/lossCurve.js';

export const CHECKPOINT_FORMAT = 'spinbath-lm-checkpoint';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

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

/**
 * Write a checkpoint of `weights`, the optimizer state (written by `writeOptimizer(path)`) and
 * `state`, then publish it and delete older ones. Returns the checkpoint directory.
 */
export function saveCheckpoint(runDir: string, weights: Gpt2Weights, writeOptimizer: (path: string) => void, state: CheckpointState): string {
  return publishCheckpoint(
    runDir,
    state.step,
    (tmp) => {
      saveGpt2Checkpoint(tmp, weights, { dtype: 'F32' });
      writeOptimizer(join(tmp, OPTIMIZER_FILE));
      atomicWriteJson(join(tmp, 'state.json'), state);
    },
    'throw',
  );
}

const corrupt = (dir: string, what: string): UserError => corruptCheckpoint(dir, what, 'restore it from a backup');

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
  const published = readPublishedState(runDir, corrupt);
  const { dir } = published;
  const state = published.state as CheckpointState;
  if (
    state?.format !== CHECKPOINT_FORMAT ||
    state.version !== 1 ||
    state.step !== published.step ||
    !Array.isArray(state.log?.train) ||
    !Array.isArray(state.log?.val)
  ) {
    throw corrupt(dir, 'state.json is not a spinbath LM checkpoint state for this step');
  }
  checkResumeConfig(dir, state, config, parseLmConfig, configDifference, corrupt);
  if (state.tokenizer_hash !== tokenizerHash) throw corrupt(dir, 'it was trained with a different tokenizer than model.merges gives');
  let weights: Gpt2Weights;
  try {
    weights = await loadGpt2Weights(dir);
  } catch (e) {
    throw corrupt(dir, (e as Error).message.split('\n')[0]);
  }
  if (weights.config.vocab_size !== state.vocab_size)
    throw corrupt(dir, `config.json has vocab_size ${weights.config.vocab_size}, state.json ${state.vocab_size}`);
  const optimizerPath = join(dir, OPTIMIZER_FILE);
  if (!existsSync(optimizerPath)) throw corrupt(dir, `${OPTIMIZER_FILE} is missing`);
  return { dir, state, weights, optimizerPath };
}
