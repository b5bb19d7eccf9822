/**
 * The learned residual score s_θ for `spinbath sample` (src/score/contract.ts contract):
 * `--score DIR` loads a checkpoint with training/'s `loadScoreModel`, `--score none` runs the pure
 * η-guided drift (the zero-training baseline), and no --score uses the checkpoint shipped with the
 * embedded model (models/brown-small/score) when present, else none.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { embeddedModelDir } from '../src/model/load.js';
import { latestCheckpoint } from '../src/io/checkpointDir.js';
import { modelHash } from '../src/score/identity.js';
import { loadScoreModel, SCORE_META_FILE } from '../src/score/scoreNet.js';
import type { ScoreModel } from '../src/score/contract.js';

/** Options of {@link openScore}. */
export interface OpenScoreOptions {
  /** True when the embedded model is used (no --model): its shipped score is the default. */
  embedded: boolean;
  quiet?: boolean;
  /** Receives a warning when no score checkpoint is found. */
  warn?: (msg: string) => void;
}

/** The score checkpoint shipped with the embedded model. */
export function embeddedScoreDir(): string {
  return join(embeddedModelDir(), 'score');
}

/**
 * The checkpoint directory of `--score DIR`: DIR itself when it holds score.json (an exported score
 * or one checkpoint), else the latest checkpoint of the run directory DIR (a run stopped with
 * --stop-after, or still training). A one-line UserError otherwise.
 */
export function resolveScoreDir(dir: string): string {
  if (dir.trim() === '') throw new UserError('E_ARG', "--score is empty; give a score run directory, or 'none'");
  if (!existsSync(dir)) throw new UserError('E_FILE', `--score ${dir} does not exist; give a directory written by \`spinbath train\`, or --score none`);
  if (existsSync(join(dir, SCORE_META_FILE))) return dir;
  const latest = latestCheckpoint(dir);
  if (latest && existsSync(join(latest.dir, SCORE_META_FILE))) return latest.dir;
  throw new UserError(
    'E_FILE',
    `--score ${dir} has no ${SCORE_META_FILE} and no checkpoint (checkpoints/latest.json); give a run directory of \`spinbath train\` or one of its checkpoints`,
  );
}

/** Resolve --score: null for 'none' (or no default checkpoint), else the loaded model. */
export async function openScore(arg: string | undefined, opts: OpenScoreOptions): Promise<ScoreModel | null> {
  if (arg === 'none') return null;
  let dir = arg;
  if (dir === undefined || dir === '') {
    if (!opts.embedded || !existsSync(embeddedScoreDir())) {
      if (!opts.quiet) opts.warn?.('no score checkpoint (--score DIR); sampling with the pure η-guided drift');
      return null;
    }
    dir = embeddedScoreDir();
  }
  return loadScoreModel(resolveScoreDir(dir));
}

/** A warning when `score` was trained against other weights of the same shape (modelHash), else null. */
export function scoreHashWarning(score: ScoreModel, modelDir: string): string | null {
  let hash: string;
  try {
    hash = modelHash(modelDir);
  } catch {
    return null; // no config/weights files to hash (e.g. an in-memory model)
  }
  if (score.meta.modelHash === hash) return null;
  return `the score checkpoint was trained against other weights (model hash ${score.meta.modelHash.slice(0, 12)}, this model ${hash.slice(0, 12)}); its residual may not fit`;
}
