/**
 * Crash-safe checkpoints of `spinbath train` (residual tangent score of Eq. 14):
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
 * (atomically); older checkpoints are deleted afterwards. A process killed at any point leaves
 * latest.json naming a complete checkpoint.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { atomicWriteJson } from '../src/io/atomic.js';
import { loadSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import type { HostTensor } from '../src/model/weights.js';
import { configDifference, parseScoreConfig, type ScoreConfig } from './config.js';
import type { FeatureNorm } from './network.js';
import { saveScoreModel, type ScoreNetMeta } from './score-net.js';

/** Re-exported for loaders that look for it here (sampling/score.ts); defined in score-net.ts. */
export { loadScoreModel } from './score-net.js';

export const SCORE_CHECKPOINT_FORMAT = 'spinbath-score-checkpoint';
const STEP_DIR_RE = /^step-\d+$/;
const TMP_DIR_RE = /^\.step-\d+\..*\.tmp$/;

/** What the run was trained against: a resumed run or a new --model must match. */
export interface RunIdentity {
  modelHash: string;
  d: number;
  vocab: number;
  fieldSource: string;
}

export interface LossLog {
  train: { step: number; loss: number; lr: number; grad_norm: number }[];
  val: { step: number; loss: number }[];
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

export const checkpointRoot = (runDir: string) => join(runDir, 'checkpoints');

/** The published checkpoint ({step, dir}) of a run directory, or null. */
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

/** Write, publish, and prune (see the file comment). Returns the checkpoint directory. */
export function saveCheckpoint(runDir: string, p: CheckpointPayload): string {
  const root = checkpointRoot(runDir);
  mkdirSync(root, { recursive: true });
  const name = `step-${pad(p.state.step)}`;
  const final = join(root, name);
  const current = latestCheckpoint(runDir);
  if (current && current.dir === final) return final; // already published (e.g. stop-after at a checkpoint step)
  const tmp = join(root, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  saveScoreModel(tmp, p.meta, p.ema, 'F32');
  writeSafetensors(join(tmp, 'params.safetensors'), p.params, { dtype: 'F32' });
  writeSafetensors(join(tmp, 'ema.safetensors'), p.ema, { dtype: 'F32' });
  p.writeOptimizer(join(tmp, 'optimizer.safetensors'));
  atomicWriteJson(join(tmp, 'state.json'), p.state);
  fsyncDir(tmp);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(root);
  atomicWriteJson(join(root, 'latest.json'), { step: p.state.step, dir: name });
  fsyncDir(root);
  for (const n of readdirSync(root)) {
    if ((STEP_DIR_RE.test(n) && n !== name) || TMP_DIR_RE.test(n)) rmSync(join(root, n), { recursive: true, force: true });
  }
  return final;
}

export interface LoadedCheckpoint {
  dir: string;
  state: ScoreCheckpointState;
  params: Map<string, HostTensor>;
  ema: Map<string, HostTensor>;
  optimizerPath: string;
}

function corrupt(dir: string, what: string): UserError {
  return new UserError('E_CHECKPOINT', `checkpoint ${dir} is corrupt (${what}); restore it or start a new run in another --out directory`);
}

/** Refuse a model that does not match the run (different d, vocabulary, field source or weights). */
export function checkIdentity(saved: RunIdentity, given: RunIdentity, runDir: string): void {
  const fix = `pass the model the run was trained against (--model), or start a new run in another --out directory`;
  if (saved.d !== given.d) throw new UserError('E_CHECKPOINT', `--resume: the model has d = ${given.d} but the run in ${runDir} was trained with d = ${saved.d}; ${fix}`);
  if (saved.vocab !== given.vocab) throw new UserError('E_CHECKPOINT', `--resume: the model has a vocabulary of ${given.vocab} but the run in ${runDir} used ${saved.vocab}; ${fix}`);
  if (saved.fieldSource !== given.fieldSource) {
    throw new UserError('E_CHECKPOINT', `--resume: field source ${given.fieldSource} differs from the run's ${saved.fieldSource} (${runDir}); use the run's config or start a new run`);
  }
  if (saved.modelHash !== given.modelHash) {
    throw new UserError('E_CHECKPOINT', `--resume: the model (hash ${given.modelHash.slice(0, 12)}) is not the one the run in ${runDir} was trained against (${saved.modelHash.slice(0, 12)}); ${fix}`);
  }
}

/**
 * Check that the run in `runDir` can be resumed with `config` and a model of `identity` (cheap:
 * state.json only), so a mismatch is refused before any data are prepared. Returns the state.
 */
export function checkResumable(runDir: string, config: ScoreConfig, identity: RunIdentity): { dir: string; state: ScoreCheckpointState } {
  const latest = latestCheckpoint(runDir);
  if (!latest) throw new UserError('E_CHECKPOINT', `--resume: ${runDir} has no checkpoint (no checkpoints/latest.json); run without --resume to start training`);
  const { dir } = latest;
  if (!existsSync(dir)) throw corrupt(dir, 'the directory named by latest.json is missing');
  let state: ScoreCheckpointState;
  try {
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as ScoreCheckpointState;
  } catch (e) {
    throw corrupt(dir, `state.json: ${(e as Error).message.split('\n')[0]}`);
  }
  if (state?.format !== SCORE_CHECKPOINT_FORMAT || state.version !== 1 || state.step !== latest.step || !state.identity || !state.norm) {
    throw corrupt(dir, 'state.json is not a spinbath score checkpoint state for this step');
  }
  let saved: ScoreConfig;
  try {
    saved = parseScoreConfig(state.config, `${dir}/state.json config`);
  } catch (e) {
    throw corrupt(dir, (e as Error).message);
  }
  checkIdentity(state.identity, identity, runDir);
  const diff = configDifference(saved, config);
  if (diff) {
    throw new UserError(
      'E_CONFIG',
      `--resume: the config differs from the checkpoint's in ${diff.field} (checkpoint ${JSON.stringify(diff.saved)}, given ${JSON.stringify(diff.given)}); use the run's original config or start a new run in another --out directory`,
    );
  }
  if (state.step > config.training.steps) throw corrupt(dir, `its step ${state.step} exceeds training.steps ${config.training.steps}`);
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
