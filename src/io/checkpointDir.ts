/**
 * Crash-safe run checkpoints, the directory side shared by the trainers (src/lm/checkpoint.ts,
 * training/checkpoint.ts); each of them decides only which files a checkpoint holds and how its
 * state.json is validated:
 *
 *   RUN/checkpoints/step-000300/...          one checkpoint (files written by the trainer)
 *   RUN/checkpoints/latest.json              {"step": 300, "dir": "step-000300"}
 *
 * A checkpoint is written into a hidden temporary directory (RUN/checkpoints/.step-000300.PID.tmp),
 * fsynced, renamed to its final name, and only then published by rewriting latest.json atomically;
 * older checkpoints (and temporaries of killed runs) are deleted after that. A process killed at
 * any point therefore leaves latest.json naming a complete checkpoint.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { atomicWriteJson } from './atomic.js';

export const STEP_DIR_RE = /^step-\d+$/;
export const TMP_DIR_RE = /^\.step-\d+\..*\.tmp$/;

/** The directory name of the checkpoint after `step` updates (step-000300). */
export const stepDirName = (step: number) => `step-${String(step).padStart(6, '0')}`;

export function fsyncDir(dir: string): void {
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

export interface PublishedCheckpoint {
  step: number;
  /** The checkpoint directory (RUN/checkpoints/step-NNNNNN). */
  dir: string;
}

/** The published checkpoint of a run directory ({step, dir}), or null when there is none. */
export function latestCheckpoint(runDir: string): PublishedCheckpoint | null {
  const path = join(checkpointRoot(runDir), 'latest.json');
  if (!existsSync(path)) return null;
  let raw: { step?: unknown; dir?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as typeof raw;
  } catch (e) {
    throw new UserError('E_CHECKPOINT', `${path} is corrupt (${(e as Error).message}); restore it or start a new run in another --out directory`);
  }
  if (typeof raw?.dir !== 'string' || !STEP_DIR_RE.test(raw.dir) || !Number.isInteger(raw.step)) {
    throw new UserError(
      'E_CHECKPOINT',
      `${path} is corrupt (expected {"step": N, "dir": "step-NNNNNN"}); restore it or start a new run in another --out directory`,
    );
  }
  return { step: raw.step as number, dir: join(checkpointRoot(runDir), raw.dir) };
}

/**
 * Write the checkpoint of `step` (its files written into the temporary directory by
 * `writeFiles(tmp)`), publish it and delete older ones; see the file comment. When that step is
 * already published, `ifPublished` says whether to throw or to leave it and return its directory.
 * Returns the checkpoint directory.
 */
export function publishCheckpoint(runDir: string, step: number, writeFiles: (tmp: string) => void, ifPublished: 'throw' | 'keep'): string {
  const root = checkpointRoot(runDir);
  mkdirSync(root, { recursive: true });
  const name = stepDirName(step);
  const final = join(root, name);
  const current = latestCheckpoint(runDir);
  if (current && current.dir === final) {
    if (ifPublished === 'keep') return final;
    throw new Error(`checkpoint ${final} is already published; refusing to overwrite it`);
  }
  const tmp = join(root, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFiles(tmp);
  fsyncDir(tmp);
  rmSync(final, { recursive: true, force: true }); // a stale, never-published one from a killed run
  renameSync(tmp, final);
  fsyncDir(root);
  atomicWriteJson(join(root, 'latest.json'), { step, dir: name });
  fsyncDir(root);
  for (const n of readdirSync(root)) {
    if ((STEP_DIR_RE.test(n) && n !== name) || TMP_DIR_RE.test(n)) rmSync(join(root, n), { recursive: true, force: true });
  }
  return final;
}

/** The one-line error for a corrupt checkpoint `dir`; `restore` is the first remedy offered. */
export function corruptCheckpoint(dir: string, what: string, restore = 'restore it'): UserError {
  return new UserError('E_CHECKPOINT', `checkpoint ${dir} is corrupt (${what}); ${restore} or start a new run in another --out directory`);
}

/**
 * The published checkpoint of `runDir` for --resume, with its state.json parsed but not yet
 * validated (the trainer checks its own format). Throws a one-line UserError when there is no
 * checkpoint, when its directory is missing, or when state.json cannot be read (via `corrupt`).
 */
export function readPublishedState(runDir: string, corrupt: (dir: string, what: string) => UserError): PublishedCheckpoint & { state: unknown } {
  const latest = latestCheckpoint(runDir);
  if (!latest)
    throw new UserError('E_CHECKPOINT', `--resume: ${runDir} has no checkpoint (no checkpoints/latest.json); run without --resume to start training`);
  const { dir } = latest;
  if (!existsSync(dir)) throw corrupt(dir, 'the directory named by latest.json is missing');
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  } catch (e) {
    throw corrupt(dir, `state.json: ${(e as Error).message.split('\n')[0]}`);
  }
  return { ...latest, state };
}

/** A field whose value differs between the checkpoint's config and the given one (dotted path). */
export interface ConfigDifference {
  field: string;
  saved: unknown;
  given: unknown;
}

/** The first differing field between two parsed configs, depth first, skipping the top-level keys in `ignore`. */
export function firstDifference(saved: unknown, given: unknown, ignore: readonly string[] = []): ConfigDifference | null {
  const walk = (a: unknown, b: unknown, path: string): ConfigDifference | null => {
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (path === '' && ignore.includes(key)) continue;
        const r = walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
        if (r) return r;
      }
      return null;
    }
    return JSON.stringify(a) === JSON.stringify(b) ? null : { field: path, saved: a, given: b };
  };
  return walk(saved, given, '');
}

/**
 * The config checks of --resume shared by the trainers: the checkpoint's config must parse
 * (`parse`), agree with `given` field by field (`difference`), and its step must not exceed the
 * given training.steps. Throws the one-line error (via `corrupt` for a bad checkpoint).
 */
export function checkResumeConfig<C extends { training: { steps: number } }>(
  dir: string,
  state: { config: unknown; step: number },
  given: C,
  parse: (raw: unknown, where: string) => C,
  difference: (saved: C, given: C) => ConfigDifference | null,
  corrupt: (dir: string, what: string) => UserError,
): void {
  let saved: C;
  try {
    saved = parse(state.config, `${dir}/state.json config`);
  } catch (e) {
    throw corrupt(dir, (e as Error).message);
  }
  const diff = difference(saved, given);
  if (diff) throw configMismatchError(diff);
  if (state.step > given.training.steps) throw corrupt(dir, `its step ${state.step} exceeds training.steps ${given.training.steps}`);
}

/** The --resume error for a config that differs from the checkpoint's (the first differing field). */
export function configMismatchError(diff: ConfigDifference): UserError {
  return new UserError(
    'E_CONFIG',
    `--resume: the config differs from the checkpoint's in ${diff.field} (checkpoint ${JSON.stringify(diff.saved)}, given ${JSON.stringify(diff.given)}); use the run's original config or start a new run in another --out directory`,
  );
}

/**
 * Restore an optimizer (AdamW of src/lm/optim.ts) from a loaded checkpoint and check that its
 * step agrees with the checkpoint's state; a one-line UserError otherwise.
 */
export function restoreOptimizer(
  opt: { load(path: string): void; readonly step: number },
  loaded: { dir: string; optimizerPath: string; state: { step: number } },
): void {
  try {
    opt.load(loaded.optimizerPath);
  } catch (e) {
    throw corruptCheckpoint(loaded.dir, (e as Error).message.split('\n')[0]);
  }
  if (opt.step !== loaded.state.step)
    throw new UserError('E_CHECKPOINT', `checkpoint ${loaded.dir} is corrupt (optimizer step ${opt.step}, state step ${loaded.state.step})`);
}
