/**
 * The command-line side of a training run, shared by `spinbath lm train` (src/cli/commands/lm.ts)
 * and `spinbath train` (src/cli/commands/train.ts): the --config/--out/--resume/--stop-after/
 * --cache-dir options and their checks, and the progress reporter on stderr (a cli-progress bar on
 * a terminal, a line per evaluation or minute otherwise, nothing when quiet).
 */
import { SingleBar } from 'cli-progress';
import type { Argv } from 'yargs';
import { UserError } from '../errors.js';

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
export function trainingProgress<I extends StepInfo>(err: (text: string) => void, o: { quiet: boolean; tty: boolean }, f: ProgressFormat<I>): TrainProgress<I> | undefined {
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

/** The arguments of trainRunOptions. */
export interface TrainRunArgs {
  config?: string;
  resume: boolean;
  'stop-after'?: number;
  'cache-dir'?: string;
}

/** --config, --resume, --stop-after and --cache-dir (described by `text`). */
export function trainRunOptions<T>(y: Argv<T>, text: { config: string; cacheDir: string }) {
  return y
    .option('config', { type: 'string', describe: text.config })
    .option('resume', { type: 'boolean', default: false, describe: 'continue from the last checkpoint in --out' })
    .option('stop-after', { type: 'number', describe: 'stop (after a checkpoint) once this many steps are done; continue later with --resume' })
    .option('cache-dir', { type: 'string', describe: text.cacheDir });
}

/**
 * Check the run arguments of command `command`: --config (`example` is named when missing), --out
 * (for checkpoints and `exported`), --stop-after a positive integer. Returns them.
 */
export function checkTrainRunArgs(
  a: TrainRunArgs & { out?: string },
  command: string,
  example: string,
  exported: string,
): { config: string; out: string; stopAfter: number | undefined } {
  if (!a.config) throw new UserError('E_ARG', `${command} needs --config FILE (e.g. ${example})`);
  if (!a.out) throw new UserError('E_ARG', `${command} needs --out DIR for checkpoints and the exported ${exported}`);
  const stopAfter = a['stop-after'];
  if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter >= 1)) {
    throw new UserError('E_ARG', `--stop-after must be a positive integer number of steps, got ${stopAfter}`);
  }
  return { config: a.config, out: a.out, stopAfter };
}
