/**
 * `spinbath train`: train the residual tangent score s_θ(S_t, t, N_proj) of the attention-guided
 * reverse SDE (Bhattacharjee & Lee, Eq. 14; docs/residual-score.md) against a language model.
 *
 *   spinbath train --config configs/score/NAME.json [--model M] --out RUN [--resume]
 *                  [--stop-after N] [--cache-dir DIR]
 *
 * Progress on stderr: a bar (loss, validation loss, samples/s, ETA) on a terminal, a line per
 * evaluation otherwise, nothing with --quiet. The report goes to stdout (--json for all of it).
 */
import { SingleBar } from 'cli-progress';
import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import { checkResumable, latestCheckpoint } from '../../../training/checkpoint.js';
import { loadScoreConfig } from '../../../training/config.js';
import { prepareScoreData, runIdentity } from '../../../training/data.js';
import { trainScore, type ProgressInfo, type TrainProgress } from '../../../training/train.js';
import { initBackend, printJson, processIo, type Io } from '../io.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

interface TrainArgs extends ModelArgs {
  config?: string;
  resume: boolean;
  'stop-after'?: number;
  'cache-dir'?: string;
}

const fmt = (x: number | null, d = 4) => (x === null ? '-' : x.toPrecision(d));

function hms(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

function progressFor(io: Io, quiet: boolean): TrainProgress | undefined {
  if (quiet) return undefined;
  if (io === processIo && process.stderr.isTTY) {
    const bar = new SingleBar({
      stream: process.stderr, hideCursor: true, barsize: 24,
      format: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | {sps} samples/s | ETA {eta}',
    });
    return {
      start: (from, steps) => bar.start(steps, from, { loss: '-', val: '-', sps: '-', eta: '?' }),
      step: (p: ProgressInfo) => bar.update(p.step, { loss: fmt(p.loss), val: fmt(p.valLoss), sps: p.samplesPerS.toFixed(0), eta: hms(p.etaS) }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    start: (from, steps) => io.err(`training: step ${from} of ${steps}\n`),
    step: (p: ProgressInfo) => {
      const now = Date.now();
      if (!p.evaluated && p.step !== 1 && now - last < 60_000) return;
      last = now;
      io.err(`step ${p.step}/${p.steps}  loss ${fmt(p.loss)}  val ${fmt(p.valLoss)}  lr ${p.lr.toExponential(2)}  ${p.samplesPerS.toFixed(0)} samples/s  ETA ${hms(p.etaS)}\n`);
    },
    stop: () => {},
  };
}

async function train(io: Io, a: TrainArgs): Promise<void> {
  if (!a.config) throw new UserError('E_ARG', 'train needs --config FILE (e.g. configs/score/brown-small.json)');
  if (!a.out) throw new UserError('E_ARG', 'train needs --out DIR for checkpoints and the exported score model');
  const stopAfter = a['stop-after'];
  if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter >= 1)) {
    throw new UserError('E_ARG', `--stop-after must be a positive integer number of steps, got ${stopAfter}`);
  }
  const config = loadScoreConfig(a.config);
  const existing = latestCheckpoint(a.out);
  if (existing && !a.resume) {
    throw new UserError('E_ARG', `${a.out} already holds a score-training run (checkpoint at step ${existing.step}); pass --resume to continue it or choose another --out`);
  }
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const lm = await openModel(a);
  try {
    if (a.resume) checkResumable(a.out, config, runIdentity(config, lm.model, lm.dir));
    let bar: SingleBar | null = null;
    const data = await prepareScoreData(config, lm.model, lm.dir, {
      cacheDir: a['cache-dir'],
      log: say,
      onProgress: (split, done, total) => {
        if (a.quiet || io !== processIo || !process.stderr.isTTY) return;
        if (!bar) {
          bar = new SingleBar({ stream: process.stderr, hideCursor: true, format: `field cache (${split}) |{bar}| {value}/{total} windows | ETA {eta}s` });
          bar.start(total, 0);
        }
        bar.update(done);
        if (done >= total) {
          bar.stop();
          bar = null;
        }
      },
    });
    try {
      const report = await trainScore({
        config, data, outDir: a.out, resume: a.resume, stopAfter, progress: progressFor(io, a.quiet), log: say, configName: a.config,
      });
      if (a.json) return printJson(io, { ...report, field_cache: { train: summary(data.caches.train), validation: summary(data.caches.validation) } });
      io.out(
        `${report.stopped ? 'stopped' : 'trained'} ${report.steps} steps (${report.params.toLocaleString('en-US')} parameters, d ${report.d}, field ${report.field_source}, η ${report.eta}): ` +
          `train loss ${fmt(report.final_train_loss_mean20)} (mean of last 20), val loss ${fmt(report.final_val_loss)} (s≡0: ${fmt(report.val_loss_zero)}), ` +
          `${report.samples_per_s.toFixed(0)} samples/s (${report.backend})\n`,
      );
      for (const f of report.files) io.out(`wrote ${f}\n`);
    } finally {
      data.dispose();
    }
  } finally {
    lm.dispose();
  }
}

function summary(r: { status: string; reason: string; pairs: { n: number }; buildSeconds: number; tokensForwarded: number; manifestPath: string }) {
  return { status: r.status, reason: r.reason, pairs: r.pairs.n, build_s: r.buildSeconds, tokens_forwarded: r.tokensForwarded, manifest: r.manifestPath };
}

/** The `train` command module (register with `.command(trainCommand(io))`). */
export function trainCommand(io: Io) {
  return {
    command: 'train',
    describe: 'train the residual tangent score of attention-guided spin diffusion (Eq. 14) against a language model',
    builder: (y: Argv) =>
      modelOptions(y)
        .option('config', { type: 'string', describe: 'score config JSON (configs/score/brown-small.json, configs/score/tiny.json)' })
        .option('resume', { type: 'boolean', default: false, describe: 'continue from the last checkpoint in --out' })
        .option('stop-after', { type: 'number', describe: 'stop (after a checkpoint) once this many steps are done; continue later with --resume' })
        .option('cache-dir', { type: 'string', describe: 'token and field cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)' }),
    handler: (a: TrainArgs) => train(io, a),
  };
}
