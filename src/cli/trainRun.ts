/**
 * The command-line side of a training run, shared by `spinbath lm train` (src/cli/commands/lm.ts)
 * and `spinbath train` (src/cli/commands/train.ts): the checks of --config/--out/--resume and the
 * run-directory lock (beginTrainRun), and the progress reporter on stderr (a cli-progress bar on a
 * terminal, a line per evaluation or minute otherwise, nothing when quiet). Flags: defs/training.ts.
 */
import { SingleBar } from 'cli-progress';
import { UserError } from '../errors.js';
import { latestCheckpoint } from '../io/checkpointDir.js';
import { acquireRunLock, type RunLock } from '../io/lock.js';
import { checkOutDir, removeStaleTemps } from '../io/output.js';
import type { TrainRunArgs } from './defs/training.js';
import type { GlobalArgs } from './io.js';

/** What a trainer reports after each update (each trainer adds its own rates). */
import type { StepInfo, TrainProgress } from '../io/trainProgress.js';

export type { StepInfo, TrainProgress };

/** Seconds as 1h05m or 4m07s ('?' when not finite). */
export function hms(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export interface ProgressFormat<I> {
  /** The cli-progress format of the bar. */
  bar: string;
  /** The bar's payload before the first step. */
  blank: Record<string, string>;
  /** The bar's payload after a step. */
  payload(p: I): Record<string, string>;
  /** The log line of a step (without the newline); `now` is Date.now(). */
  line(p: I, now: number): string;
}

/**
 * A bar when `tty`, otherwise a line at the first step, at each evaluation and at most once a
 * minute in between; undefined when `quiet`.
 */
export function trainingProgress<I extends StepInfo>(
  err: (text: string) => void,
  o: { quiet: boolean; tty: boolean },
  f: ProgressFormat<I>,
): TrainProgress<I> | undefined {
  if (o.quiet) return undefined;
  if (o.tty) {
    const bar = new SingleBar({ stream: process.stderr, format: f.bar, hideCursor: true, barsize: 24 });
    return {
      start: (from, steps) => bar.start(steps, from, f.blank),
      step: (p) => bar.update(p.step, f.payload(p)),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    start: (from, steps) => err(`training: step ${from} of ${steps}\n`),
    step: (p) => {
      const now = Date.now();
      if (!p.evaluated && p.step !== 1 && now - last < 60_000) return;
      last = now;
      err(`${f.line(p, now)}\n`);
    },
    stop: () => {},
  };
}

/** A training run ready to start: its config file, run directory (locked) and stop step. */
export interface BegunRun<C> {
  config: C;
  out: string;
  stopAfter: number | undefined;
  lock: RunLock;
}

/**
 * Check and begin the run of command `command`: --config (`example` is named when missing) is
 * loaded and validated by `load`, --out (for checkpoints and `exported`) must be a usable directory,
 * --resume must match what --out holds; only then is --out locked (a second process on it refuses
 * at once) and are the temporary files of killed runs in it removed. Nothing is written before
 * every check passed. Release `lock` when the run ends.
 */
export function beginTrainRun<C extends { training: { seed: number } }>(
  a: TrainRunArgs & Pick<GlobalArgs, 'seed'>,
  command: string,
  example: string,
  exported: string,
  load: (path: string) => C,
  say: (line: string) => void,
): BegunRun<C> {
  if (!a.config) throw new UserError('E_ARG', `${command} needs --config FILE (e.g. ${example})`);
  if (!a.out) throw new UserError('E_ARG', `${command} needs --out DIR for checkpoints and the exported ${exported}`);
  const out = a.out;
  checkOutDir(out);
  const config = load(a.config);
  if (a.seed !== undefined) config.training.seed = a.seed; // --seed overrides the config's seed (recorded in report.json's config)
  const existing = latestCheckpoint(out);
  if (a.resume && !existing)
    throw new UserError('E_CHECKPOINT', `--resume: ${out} has no checkpoint (no checkpoints/latest.json); run without --resume to start training`);
  if (!a.resume && existing)
    throw new UserError(
      'E_ARG',
      `${out} already holds a ${command === 'train' ? 'score-training' : 'training'} run (checkpoint at step ${existing.step}); pass --resume to continue it or choose another --out`,
    );
  const lock = acquireRunLock(out, `spinbath ${command}`);
  try {
    const removed = removeStaleTemps(out);
    if (removed.length) say(`removed ${removed.length} temporary file(s) of an interrupted run in ${out}`);
  } catch (e) {
    lock.release();
    throw e;
  }
  return { config, out, stopAfter: a['stop-after'], lock };
}
