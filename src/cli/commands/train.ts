/**
 * `spinbath train`: train the residual tangent score s_θ(S_t, t, N_proj) of the attention-guided
 * reverse SDE (BL Eq. 14; docs/residual-score.md) against a language model.
 *
 *   spinbath train --config configs/score/NAME.json [--model M] --out RUN [--resume]
 *                  [--stop-after N] [--cache-dir DIR] [--space sphere|euclidean]
 *
 * --space euclidean trains the Brownian DDPM baseline instead (training/euclidean.ts: VP diffusion
 * in R^d on the token embeddings, the config's network, data and budget; no checkpoints, so
 * --resume and --stop-after are refused).
 *
 * Progress on stderr: a bar (loss, validation loss, samples/s, ETA) on a terminal, a line per
 * evaluation otherwise, nothing with --quiet. The report goes to stdout (--json for all of it).
 */
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { SingleBar } from 'cli-progress';
import { beginTrainRun, hms, trainingProgress } from '../trainRun.js';
import { checkResumable } from '../../../training/checkpoint.js';
import { loadScoreConfig } from '../../../training/config.js';
import { prepareScoreData, runIdentity } from '../../../training/data.js';
import { trainScore, type ProgressInfo, type TrainProgress } from '../../../training/train.js';
import { trainEuclidean } from '../../../training/euclidean.js';
import { isEuclidDir } from '../../score/euclid.js';
import type { ScoreTrainArgs } from '../defs/training.js';
import { initBackend, printJson, processIo, type Io } from '../io.js';
import { openModel } from './model-args.js';

const fmt = (x: number | null, d = 4) => (x === null ? '-' : x.toPrecision(d));

function progressFor(io: Io, quiet: boolean): TrainProgress | undefined {
  return trainingProgress<ProgressInfo>(
    io.err,
    { quiet, tty: io === processIo && process.stderr.isTTY },
    {
      bar: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | {sps} samples/s | ETA {eta}',
      blank: { loss: '-', val: '-', sps: '-', eta: '?' },
      payload: (p) => ({ loss: fmt(p.loss), val: fmt(p.valLoss), sps: p.samplesPerS.toFixed(0), eta: hms(p.etaS) }),
      line: (p) =>
        `step ${p.step}/${p.steps}  loss ${fmt(p.loss)}  val ${fmt(p.valLoss)}  lr ${p.lr.toExponential(2)}  ${p.samplesPerS.toFixed(0)} samples/s  ETA ${hms(p.etaS)}`,
    },
  );
}

/** A line on stderr at most every 10 s while the field cache builds (when no bar is drawn): done/total, rate, ETA. */
function cacheLines(say: (l: string) => void) {
  let t0 = 0;
  let last = 0;
  let split = '';
  return (s: string, done: number, total: number) => {
    const now = Date.now();
    if (s !== split) {
      split = s;
      t0 = now;
      last = 0;
    }
    if (done < total && now - last < 10_000) return;
    last = now;
    const rate = done / Math.max((now - t0) / 1000, 1e-3);
    say(`field cache (${s}): ${done}/${total} windows, ${rate.toFixed(1)} windows/s, ETA ${hms(done > 0 ? (total - done) / rate : NaN)}`);
  };
}

/** `spinbath train`: config and --out checked, the run directory locked, then the field cache and training. */
export async function runScoreTrain(io: Io, a: ScoreTrainArgs): Promise<void> {
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  if (a.space === 'euclidean') {
    if (a.resume || a['stop-after'] !== undefined) throw new UserError('E_ARG', '--space euclidean writes no checkpoints: drop --resume and --stop-after');
    if (a.out !== undefined && isEuclidDir(a.out)) throw new UserError('E_ARG', `${a.out} already holds a trained Euclidean DDPM; choose another --out`);
  }
  const run = beginTrainRun(a, 'train', 'configs/score/brown-small.json', 'score model', loadScoreConfig, say);
  try {
    await train(io, a, run.config, run.out, run.stopAfter, a.config!);
  } finally {
    run.lock.release();
  }
}

async function train(
  io: Io,
  a: ScoreTrainArgs,
  config: ReturnType<typeof loadScoreConfig>,
  out: string,
  stopAfter: number | undefined,
  configFile: string,
): Promise<void> {
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const tty = io === processIo && process.stderr.isTTY;
  const lines = cacheLines(say);
  const lm = await openModel(a, io);
  try {
    if (a.resume) checkResumable(out, config, runIdentity(config, lm.model, lm.dir));
    let bar: SingleBar | null = null;
    const data = await prepareScoreData(config, lm.model, lm.dir, {
      cacheDir: a['cache-dir'],
      log: say,
      onProgress: (split, done, total) => {
        if (a.quiet) return;
        if (!tty) return lines(split, done, total);
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
      if (a.space === 'euclidean') {
        const embed = Float32Array.from(await lm.model.params().get('embed.W_E')!.data()); // [vocab·d]
        const report = await trainEuclidean({
          config,
          data: { train: data.train, validation: data.validation, embed, identity: data.identity },
          outDir: out,
          log: say,
          configName: configFile,
        });
        if (a.json) return printJson(io, { ...report, seed: config.training.seed });
        io.out(
          `trained ${report.steps} steps (Euclidean DDPM, ${report.params.toLocaleString('en-US')} parameters, d ${report.d}): val ε-loss ${fmt(report.final_val_loss)} (ε≡0: 1), ${report.samples_per_s.toFixed(0)} samples/s\n`,
        );
        for (const f of report.files) io.out(`wrote ${f}\n`);
        return;
      }
      const report = await trainScore({
        config,
        data,
        outDir: out,
        resume: a.resume,
        stopAfter,
        progress: progressFor(io, a.quiet),
        log: say,
        configName: configFile,
      });
      if (report.stopped)
        say(
          `stopped after step ${report.steps}; the checkpoint is in ${join(out, 'checkpoints')} (continue with --resume; sample from it with --score ${out})`,
        );
      if (a.json)
        return printJson(io, {
          ...report,
          seed: config.training.seed,
          field_cache: { train: summary(data.caches.train), validation: summary(data.caches.validation) },
        });
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
