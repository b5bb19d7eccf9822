/**
 * `spinbath train`: train the residual tangent score s_θ(S_t, t, N_proj) of the attention-guided
 * reverse SDE (Bhattacharjee & Lee, Eq. 14; docs/residual-score.md) against a language model.
 *
 *   spinbath train --config configs/score/NAME.json [--model M] --out RUN [--resume]
 *                  [--stop-after N] [--cache-dir DIR] [--space sphere|euclidean]
 *
 * --space euclidean trains the Brownian DDPM baseline instead (training/euclidean.ts: VP diffusion
 * in R^d on the token embeddings, the config's network, data and budget; no checkpoints).
 *
 * Progress on stderr: a bar (loss, validation loss, samples/s, ETA) on a terminal, a line per
 * evaluation otherwise, nothing with --quiet. The report goes to stdout (--json for all of it).
 */
import { SingleBar } from 'cli-progress';
import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import { checkTrainRunArgs, hms, trainingProgress, trainRunOptions, type TrainRunArgs } from '../trainRun.js';
import { checkResumable, latestCheckpoint } from '../../../training/checkpoint.js';
import { loadScoreConfig } from '../../../training/config.js';
import { prepareScoreData, runIdentity } from '../../../training/data.js';
import { trainScore, type ProgressInfo, type TrainProgress } from '../../../training/train.js';
import { trainEuclidean } from '../../../training/euclidean.js';
import { initBackend, printJson, processIo, type Io } from '../io.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

interface TrainArgs extends ModelArgs, TrainRunArgs {
  space?: string;
}

const fmt = (x: number | null, d = 4) => (x === null ? '-' : x.toPrecision(d));

function progressFor(io: Io, quiet: boolean): TrainProgress | undefined {
  return trainingProgress<ProgressInfo>(io.err, { quiet, tty: io === processIo && process.stderr.isTTY }, {
    bar: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | {sps} samples/s | ETA {eta}',
    blank: { loss: '-', val: '-', sps: '-', eta: '?' },
    payload: (p) => ({ loss: fmt(p.loss), val: fmt(p.valLoss), sps: p.samplesPerS.toFixed(0), eta: hms(p.etaS) }),
    line: (p) => `step ${p.step}/${p.steps}  loss ${fmt(p.loss)}  val ${fmt(p.valLoss)}  lr ${p.lr.toExponential(2)}  ${p.samplesPerS.toFixed(0)} samples/s  ETA ${hms(p.etaS)}`,
  });
}

async function train(io: Io, a: TrainArgs): Promise<void> {
  const { config: configFile, out, stopAfter } = checkTrainRunArgs(a, 'train', 'configs/score/brown-small.json', 'score model');
  const space = a.space ?? 'sphere';
  if (space !== 'sphere' && space !== 'euclidean') throw new UserError('E_ARG', `--space must be sphere or euclidean (got '${space}')`);
  if (space === 'euclidean' && (a.resume || stopAfter !== undefined)) throw new UserError('E_ARG', '--space euclidean writes no checkpoints: drop --resume and --stop-after');
  const config = loadScoreConfig(configFile);
  const existing = latestCheckpoint(out);
  if (existing && !a.resume) {
    throw new UserError('E_ARG', `${out} already holds a score-training run (checkpoint at step ${existing.step}); pass --resume to continue it or choose another --out`);
  }
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const lm = await openModel(a);
  try {
    if (a.resume) checkResumable(out, config, runIdentity(config, lm.model, lm.dir));
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
      if (space === 'euclidean') {
        const embed = Float32Array.from(lm.model.params().get('embed.W_E')!.dataSync()); // [vocab·d]
        const report = await trainEuclidean({ config, data: { train: data.train, validation: data.validation, embed, identity: data.identity }, outDir: out, log: say, configName: configFile });
        if (a.json) return printJson(io, report);
        io.out(`trained ${report.steps} steps (Euclidean DDPM, ${report.params.toLocaleString('en-US')} parameters, d ${report.d}): val ε-loss ${fmt(report.final_val_loss)} (ε≡0: 1), ${report.samples_per_s.toFixed(0)} samples/s\n`);
        for (const f of report.files) io.out(`wrote ${f}\n`);
        return;
      }
      const report = await trainScore({
        config, data, outDir: out, resume: a.resume, stopAfter, progress: progressFor(io, a.quiet), log: say, configName: configFile,
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
      trainRunOptions(modelOptions(y), {
        config: 'score config JSON (configs/score/brown-small.json, configs/score/tiny.json)',
        cacheDir: 'token and field cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
      }).option('space', { type: 'string', default: 'sphere', describe: 'sphere (the residual tangent score) | euclidean (the Brownian VP-DDPM baseline on the token embeddings)' }),
    handler: (a: TrainArgs) => train(io, a),
  };
}
