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
import type { SplitName } from '../../data/brown.js';
import { UserError } from '../../errors.js';
import type { EngineChoice } from '../../model/engine.js';
import { atomicWriteJson } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import { loadLmConfig } from '../../lm/config.js';
import { trainLm, type ProgressInfo, type TrainProgress } from '../../lm/train.js';
import type { LmEvalArgs, LmTrainArgs } from '../defs/training.js';
import { beginTrainRun, hms, trainingProgress } from '../trainRun.js';
import { initBackend, printJson, processIo, type Io } from '../io.js';

const fmt = (x: number | null, d = 3) => (x === null ? '-' : x.toFixed(d));

/** A progress bar on a terminal, occasional lines otherwise, nothing when quiet. */
function progressFor(io: Io, quiet: boolean): TrainProgress | undefined {
  return trainingProgress<ProgressInfo>(
    io.err,
    { quiet, tty: io === processIo && process.stderr.isTTY },
    {
      bar: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | lr {lr} | {tps} tok/s | ETA {eta}',
      blank: { loss: '-', val: '-', lr: '-', tps: '-', eta: '?' },
      payload: (p) => ({ loss: fmt(p.loss), val: fmt(p.valLoss), lr: p.lr.toExponential(2), tps: p.tokensPerS.toFixed(0), eta: hms(p.etaS) }),
      line: (p, now) =>
        `step ${p.step}/${p.steps}  loss ${fmt(p.loss)}  val ${fmt(p.valLoss)}  lr ${p.lr.toExponential(2)}  ${p.tokensPerS.toFixed(0)} tok/s  ETA ${hms(p.etaS)}  ${new Date(now).toISOString()}`,
    },
  );
}

/** `spinbath lm train`: config and --out checked, the run directory locked, then training. */
export async function runLmTrain(io: Io, a: LmTrainArgs): Promise<void> {
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const run = beginTrainRun(a, 'lm train', 'configs/lm/tiny.json', 'model', loadLmConfig, say);
  try {
    await trainWith(io, a, run.config, run);
  } finally {
    run.lock.release();
  }
}

async function trainWith(io: Io, a: LmTrainArgs, config: ReturnType<typeof loadLmConfig>, run: { out: string; stopAfter?: number }): Promise<void> {
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const report = await trainLm({
    config,
    outDir: run.out,
    resume: a.resume,
    stopAfter: run.stopAfter,
    cacheDir: a['cache-dir'],
    progress: progressFor(io, a.quiet),
    log: say,
  });
  if (a.json) return printJson(io, { ...report, seed: config.training.seed });
  io.out(
    `${report.stopped ? 'stopped' : 'trained'} ${report.steps} steps (${report.params.toLocaleString('en-US')} parameters, vocabulary ${report.vocab_size}): ` +
      `train loss ${fmt(report.final_train_loss_mean20)} (mean of last 20), val loss ${fmt(report.final_val_loss)}, ` +
      `${report.tokens_seen.toLocaleString('en-US')} tokens at ${report.tokens_per_s.toFixed(0)} tok/s (${report.backend})\n`,
  );
  for (const f of report.files) io.out(`wrote ${f}\n`);
}

/** `spinbath lm eval`: perplexity of a model directory on a Brown split (--out FILE: the JSON report). */
export async function runLmEval(io: Io, a: LmEvalArgs): Promise<void> {
  if (!a.model) throw new UserError('E_ARG', 'lm eval needs --model DIR (a directory exported by `spinbath lm train`)');
  const bs = a['batch-size'];
  const mt = a['max-tokens'];
  if (a.out !== undefined) checkOutFile(a.out);
  await initBackend(a);
  let bar: SingleBar | null = null;
  if (!a.quiet && io === processIo && process.stderr.isTTY)
    bar = new SingleBar({ stream: process.stderr, format: 'eval |{bar}| {value}/{total} windows | ETA {eta}s', hideCursor: true });
  let started = false;
  try {
    const { evaluateModelDir } = await import('../../lm/eval.js');
    const r = await evaluateModelDir(a.model, {
      split: a.split as SplitName,
      stride: a.stride,
      batchSize: bs,
      maxTokens: mt,
      cacheDir: a['cache-dir'],
      engine: a.engine as EngineChoice | undefined,
      threads: a.threads,
      backend: a.backend,
      onNote: (l) => void (!a.quiet && io.err(`${l}\n`)),
      onBatch: (done, total) => {
        if (bar && !started) bar.start(total, 0);
        started = true;
        bar?.update(done);
      },
    });
    bar?.stop();
    if (a.out !== undefined) atomicWriteJson(a.out, r);
    if (a.json) return printJson(io, r);
    io.out(`${r.split}: ${r.tokens.toLocaleString('en-US')} tokens, vocabulary ${r.vocab_size}, context ${r.context}, stride ${r.stride}\n`);
    io.out(`  model perplexity    ${r.perplexity.toFixed(2)}  (${r.nll_per_token.toFixed(4)} nats/token, ${r.tokens_per_s.toFixed(0)} tok/s on ${r.engine})\n`);
    io.out(`  bigram (KN)         ${r.bigram_perplexity.toFixed(2)}\n  unigram (add-one)   ${r.unigram_perplexity.toFixed(2)}\n`);
  } finally {
    bar?.stop();
  }
}
