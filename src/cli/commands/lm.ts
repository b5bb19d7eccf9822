/**
 * `spinbath lm`: train a GPT-2 language model on the Brown corpus and evaluate it.
 *
 *   spinbath lm train --config configs/lm/NAME.json --out DIR [--resume] [--stop-after N]
 *   spinbath lm eval  --model DIR [--split test] [--stride S] [--json]
 *
 * Training progress goes to stderr: a cli-progress bar on a terminal, a line per evaluation when
 * stderr is not a terminal (logs), nothing with --quiet. The result (report) goes to stdout.
 */
import { SingleBar } from 'cli-progress';
import type { Argv } from 'yargs';
import { BROWN_SPLITS, type SplitName } from '../../data/brown.js';
import { UserError } from '../../errors.js';
import type { ProgressInfo, TrainProgress } from '../../lm/train.js';
import { checkTrainRunArgs, hms, trainingProgress, trainRunOptions, type TrainRunArgs } from '../trainRun.js';
import { initBackend, printJson, processIo, type GlobalArgs, type Io } from '../io.js';
import { engineOptions, type EngineArgs } from './model-args.js';
import type { EngineChoice } from '../../model/engine.js';

interface TrainArgs extends GlobalArgs, TrainRunArgs {}

interface EvalArgs extends GlobalArgs, EngineArgs {
  model?: string;
  split: string;
  stride?: number;
  'batch-size': number;
  'max-tokens'?: number;
  'cache-dir'?: string;
}

const fmt = (x: number | null, d = 3) => (x === null ? '-' : x.toFixed(d));

/** A progress bar on a terminal, occasional lines otherwise, nothing when quiet. */
function progressFor(io: Io, quiet: boolean): TrainProgress | undefined {
  return trainingProgress<ProgressInfo>(io.err, { quiet, tty: io === processIo && process.stderr.isTTY }, {
    bar: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | lr {lr} | {tps} tok/s | ETA {eta}',
    blank: { loss: '-', val: '-', lr: '-', tps: '-', eta: '?' },
    payload: (p) => ({ loss: fmt(p.loss), val: fmt(p.valLoss), lr: p.lr.toExponential(2), tps: p.tokensPerS.toFixed(0), eta: hms(p.etaS) }),
    line: (p, now) =>
      `step ${p.step}/${p.steps}  loss ${fmt(p.loss)}  val ${fmt(p.valLoss)}  lr ${p.lr.toExponential(2)}  ${p.tokensPerS.toFixed(0)} tok/s  ETA ${hms(p.etaS)}  ${new Date(now).toISOString()}`,
  });
}

async function train(io: Io, a: TrainArgs): Promise<void> {
  const run = checkTrainRunArgs(a, 'lm train', 'configs/lm/tiny.json', 'model');
  // imported when the command runs (the corpus tokenizer costs ~130 MB that other commands do not need)
  const { loadLmConfig } = await import('../../lm/config.js');
  const { trainLm } = await import('../../lm/train.js');
  const config = loadLmConfig(run.config);
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const report = await trainLm({
    config, outDir: run.out, resume: a.resume, stopAfter: run.stopAfter, cacheDir: a['cache-dir'], progress: progressFor(io, a.quiet), log: say,
  });
  if (a.json) return printJson(io, report);
  io.out(
    `${report.stopped ? 'stopped' : 'trained'} ${report.steps} steps (${report.params.toLocaleString('en-US')} parameters, vocabulary ${report.vocab_size}): ` +
      `train loss ${fmt(report.final_train_loss_mean20)} (mean of last 20), val loss ${fmt(report.final_val_loss)}, ` +
      `${report.tokens_seen.toLocaleString('en-US')} tokens at ${report.tokens_per_s.toFixed(0)} tok/s (${report.backend})\n`,
  );
  for (const f of report.files) io.out(`wrote ${f}\n`);
}

async function evaluate(io: Io, a: EvalArgs): Promise<void> {
  if (!a.model) throw new UserError('E_ARG', 'lm eval needs --model DIR (a directory exported by `spinbath lm train`)');
  if (!(BROWN_SPLITS as readonly string[]).includes(a.split)) throw new UserError('E_ARG', `--split '${a.split}' is not one of ${BROWN_SPLITS.join(', ')}`);
  const bs = a['batch-size'];
  if (!(Number.isInteger(bs) && bs >= 1)) throw new UserError('E_ARG', `--batch-size must be a positive integer, got ${bs}`);
  const mt = a['max-tokens'];
  if (mt !== undefined && !(Number.isInteger(mt) && mt >= 1)) throw new UserError('E_ARG', `--max-tokens must be a positive integer, got ${mt}`);
  await initBackend(a);
  let bar: SingleBar | null = null;
  if (!a.quiet && io === processIo && process.stderr.isTTY) bar = new SingleBar({ stream: process.stderr, format: 'eval |{bar}| {value}/{total} windows | ETA {eta}s', hideCursor: true });
  let started = false;
  try {
    const { evaluateModelDir } = await import('../../lm/eval.js');
    const r = await evaluateModelDir(a.model, {
      split: a.split as SplitName, stride: a.stride, batchSize: bs, maxTokens: mt, cacheDir: a['cache-dir'],
      engine: a.engine as EngineChoice | undefined, threads: a.threads, onNote: (l) => void (!a.quiet && io.err(`${l}\n`)),
      onBatch: (done, total) => {
        if (bar && !started) bar.start(total, 0);
        started = true;
        bar?.update(done);
      },
    });
    bar?.stop();
    if (a.json) return printJson(io, r);
    io.out(`${r.split}: ${r.tokens.toLocaleString('en-US')} tokens, vocabulary ${r.vocab_size}, context ${r.context}, stride ${r.stride}\n`);
    io.out(`  model perplexity    ${r.perplexity.toFixed(2)}  (${r.nll_per_token.toFixed(4)} nats/token, ${r.tokens_per_s.toFixed(0)} tok/s on ${r.engine})\n`);
    io.out(`  bigram (KN)         ${r.bigram_perplexity.toFixed(2)}\n  unigram (add-one)   ${r.unigram_perplexity.toFixed(2)}\n`);
  } finally {
    bar?.stop();
  }
}

/** The `lm` command module (register with `.command(lmCommand(io))`). */
export function lmCommand(io: Io) {
  return {
    command: 'lm',
    describe: 'train a GPT-2 language model on the Brown corpus, and measure its perplexity',
    builder: (y: Argv) =>
      y
        .command(
          'train',
          'train (or --resume) a GPT-2 on Brown from configs/lm/NAME.json; checkpoints and the exported model go to --out',
          (yy: Argv) =>
            trainRunOptions(yy, {
              config: 'LM config JSON (configs/lm/tiny.json, configs/lm/brown-small.json)',
              cacheDir: 'token cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
            }),
          ((a: TrainArgs) => train(io, a)) as never,
        )
        .command(
          'eval',
          'token-level perplexity on a Brown split, with unigram and Kneser-Ney bigram baselines',
          (yy: Argv) =>
            engineOptions(yy)
              .option('model', { type: 'string', describe: 'model directory (config.json, model.safetensors, tokenizer.json)' })
              .option('split', { type: 'string', default: 'test', describe: `Brown split: ${BROWN_SPLITS.join(', ')}` })
              .option('stride', { type: 'number', describe: 'window stride (default: the context, non-overlapping windows)' })
              .option('batch-size', { type: 'number', default: 8, describe: 'windows per forward pass' })
              .option('max-tokens', { type: 'number', describe: 'score only the first N tokens of the split' })
              .option('cache-dir', { type: 'string', describe: 'token cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)' }),
          ((a: EvalArgs) => evaluate(io, a)) as never,
        )
        .demandCommand(1, 'give a subcommand: lm train or lm eval'),
    handler: () => {},
  };
}
