/**
 * Crash-safe checkpoints of `spinbath train` (residual tangent score of BL Eq. 14):
 *
 *   RUN/checkpoints/step-000300/score.json, score.safetensors   the EMA network (a loadable score
 *                                                               directory, see score-net.ts)
 *                               params.safetensors              the raw weights (fp32)
 *                               ema.safetensors                 the EMA weights (fp32, exact)
 *                               optimizer.safetensors           Adam m, v and step (src/lm/optim.ts)
 *                               state.json                      step, config, model identity,
 *                                                               feature norm, loss log, timings
 *   RUN/checkpoints/latest.json                                 {"step": 300, "dir": "step-000300"}
 *
 * Written into a hidden temporary directory, renamed, then published by rewriting latest.json
 * (atomically); older checkpoints are deleted afterwards (src/io/checkpointDir.ts). A process
 * killed at any point leaves latest.json naming a complete checkpoint.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { atomicWriteJson } from '../src/io/atomic.js';
import { checkResumeConfig, corruptCheckpoint, publishCheckpoint, readPublishedState } from '../src/io/checkpointDir.js';
import { loadSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import type { HostTensor } from '../src/model/weights.js';
import type { LossLog } from '../src/plot/lossCurve.js';
import { configDifference, parseScoreConfig, type ScoreConfig } from './config.js';
import type { FeatureNorm } from '../src/score/network.js';
import { saveScoreModel, type ScoreNetMeta } from '../src/score/scoreNet.js';

export { checkpointRoot, latestCheckpoint } from '../src/io/checkpointDir.js';
export type { LossLog } from '../src/plot/lossCurve.js';
/** Re-exported for loaders that look for it here (sampling/score.ts); defined in score-net.ts. */
export { loadScoreModel } from '../src/score/scoreNet.js';

export const SCORE_CHECKPOINT_FORMAT = 'spinbath-score-checkpoint';

/** What the run was trained against: a resumed run or a new --model must match. */
export interface RunIdentity {
  modelHash: string;
  d: number;
  vocab: number;
  fieldSource: string;
}

export interface ScoreCheckpointState {
  format: typeof SCORE_CHECKPOINT_FORMAT;
  version: 1;
  step: number;
  config: ScoreConfig;
  identity: RunIdentity;
  norm: FeatureNorm;
  log: LossLog;
  samples_seen: number;
  train_s: number;
  wall_s: number;
}

export interface CheckpointPayload {
  state: ScoreCheckpointState;
  meta: ScoreNetMeta;
  params: Map<string, HostTensor>;
  ema: Map<string, HostTensor>;
  writeOptimizer: (path: string) => void;
}

/** Write, publish, and prune (see the file comment). Returns the checkpoint directory. */
export function saveCheckpoint(runDir: string, p: CheckpointPayload): string {
  // an already published step is kept (e.g. stop-after at a checkpoint step)
  return publishCheckpoint(
    runDir,
    p.state.step,
    (tmp) => {
      saveScoreModel(tmp, p.meta, p.ema, 'F32');
      writeSafetensors(join(tmp, 'params.safetensors'), p.params, { dtype: 'F32' });
      writeSafetensors(join(tmp, 'ema.safetensors'), p.ema, { dtype: 'F32' });
      p.writeOptimizer(join(tmp, 'optimizer.safetensors'));
      atomicWriteJson(join(tmp, 'state.json'), p.state);
    },
    'keep',
  );
}

export interface LoadedCheckpoint {
  dir: string;
  state: ScoreCheckpointState;
  params: Map<string, HostTensor>;
  ema: Map<string, HostTensor>;
  optimizerPath: string;
}

const corrupt = (dir: string, what: string): UserError => corruptCheckpoint(dir, what);

/** Refuse a model that does not match the run (different d, vocabulary, field source or weights). */
export function checkIdentity(saved: RunIdentity, given: RunIdentity, runDir: string): void {
  const fix = `pass the model the run was trained against (--model), or start a new run in another --out directory`;
  if (saved.d !== given.d)
    throw new UserError('E_CHECKPOINT', `--resume: the model has d = ${given.d} but the run in ${runDir} was trained with d = ${saved.d}; ${fix}`);
  if (saved.vocab !== given.vocab)
    throw new UserError('E_CHECKPOINT', `--resume: the model has a vocabulary of ${given.vocab} but the run in ${runDir} used ${saved.vocab}; ${fix}`);
  if (saved.fieldSource !== given.fieldSource) {
    throw new UserError(
      'E_CHECKPOINT',
      `--resume: field source ${given.fieldSource} differs from the run's ${saved.fieldSource} (${runDir}); use the run's config or start a new run`,
    );
  }
  if (saved.modelHash !== given.modelHash) {
    throw new UserError(
      'E_CHECKPOINT',
      `--resume: the model (hash ${given.modelHash.slice(0, 12)}) is not the one the run in ${runDir} was trained against (${saved.modelHash.slice(0, 12)}); ${fix}`,
    );
  }
}

/**
 * Check that the run in `runDir` can be resumed with `config` and a model of `identity` (cheap:
 * state.json only), so a mismatch is refused before any data are prepared. Returns the state.
 */
export function checkResumable(runDir: string, config: ScoreConfig, identity: RunIdentity): { dir: string; state: ScoreCheckpointState } {
  const published = readPublishedState(runDir, corrupt);
  const { dir } = published;
  const state = published.state as ScoreCheckpointState;
  if (state?.format !== SCORE_CHECKPOINT_FORMAT || state.version !== 1 || state.step !== published.step || !state.identity || !state.norm) {
    throw corrupt(dir, 'state.json is not a spinbath score checkpoint state for this step');
  }
  checkIdentity(state.identity, identity, runDir);
  checkResumeConfig(dir, state, config, parseScoreConfig, configDifference, corrupt);
  return { dir, state };
}

/** The published checkpoint of `runDir` (checked by checkResumable) with its weights. Never modifies the directory. */
export function loadCheckpoint(runDir: string, config: ScoreConfig, identity: RunIdentity): LoadedCheckpoint {
  const { dir, state } = checkResumable(runDir, config, identity);
  const read = (f: string) => {
    try {
      return loadSafetensors(join(dir, f));
    } catch (e) {
      throw corrupt(dir, (e as Error).message.split('\n')[0]);
    }
  };
  const optimizerPath = join(dir, 'optimizer.safetensors');
  if (!existsSync(optimizerPath)) throw corrupt(dir, 'optimizer.safetensors is missing');
  return { dir, state, params: read('params.safetensors'), ema: read('ema.safetensors'), optimizerPath };
}
