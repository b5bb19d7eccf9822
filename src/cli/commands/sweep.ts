/**
 * `spinbath sweep`: grids over η, λ, β schedules, step counts, field sources and seeds, plus the
 * attention baselines, on a prompt set; resumable, shardable, mergeable (sampling/sweep*.ts).
 *
 *   spinbath sweep --config configs/sweeps/NAME.json [--shard i/n] [--out DIR] [--model M] [--evaluator M]
 *   spinbath sweep --config FILE --list            the grid: index, shard, setting, seed (loads no model)
 *   spinbath sweep merge DIR... [--out DIR]        join shard outputs (dedupe by run id)
 *   spinbath sweep report DIR --config FILE [--out DIR]   the decisive report (sampling/decisive.ts):
 *                                                  every setting × the config's report.evaluators with
 *                                                  bootstrap CIs and the Pareto flag: summary.csv + plots
 *
 * OUT (default spinbath-out/sweeps/NAME, or .../NAME/shard-i-of-n with --shard) receives
 * results.jsonl (one line per finished run; a rerun skips what is done), timings.jsonl,
 * prompts.json, summary.md/.csv, runs.csv and SVG plots. --model / --evaluator override the
 * config's. Shards: run index mod n (e.g. a Slurm array: --shard $SLURM_ARRAY_TASK_ID/N --out
 * runs/NAME/shard-$SLURM_ARRAY_TASK_ID), then `spinbath sweep merge runs/NAME/shard-* --out runs/NAME`.
 */
import { basename, join } from 'node:path';
import { mergeResults, runSweep, type ResultLine } from '../../../sampling/sweep.js';
import { summaryMarkdown, summaryRows, writeReport } from '../../../sampling/sweep-report.js';
import { expandGrid, loadSweepConfig, parseShard, runLabel } from '../../../sampling/sweep-config.js';
import { UserError } from '../../errors.js';
import { atomicWrite } from '../../io/atomic.js';
import { acquireRunLock } from '../../io/lock.js';
import { checkOutDir, removeStaleTemps } from '../../io/output.js';
import type { LoadedModel } from '../../model/load.js';
import type { MergeArgs, ReportArgs, SweepArgs } from '../defs/generation.js';
import { initBackend, printJson, type Io } from '../io.js';
import { openModel } from './model-args.js';
import { decisiveCsv, decisiveRows, type DecisiveRow, type ReportEvaluator } from '../../../sampling/decisive.js';
import { controlSpec, frontierSpec, kSpec, slug } from '../../../sampling/decisive-plots.js';
import { buildPromptSet } from '../../../sampling/sweep-prompts.js';
import { brownSplitIds, modelDirTokenizer } from '../../lm/data.js';
import { KneserNeyBigram } from '../../lm/ngram.js';
import { renderSvg, type VegaLiteSpec } from '../../plot/render.js';

/** `spinbath sweep report DIR --config FILE`: the decisive report (sampling/decisive.ts) of a finished sweep. */
export async function runReport(io: Io, a: ReportArgs): Promise<void> {
  if (!a.config) throw new UserError('E_ARG', 'sweep report needs --config configs/sweeps/NAME.json (the config the runs came from, with a "report" section)');
  const cfg = loadSweepConfig(a.config);
  if (!cfg.report) throw new UserError('E_CONFIG', `${a.config} has no "report" section; add { "evaluators": ["models/brown-small", "kn-bigram"] }`);
  const lines = mergeResults([a.dir], (m) => void (!a.quiet && io.err(`warning: ${m}\n`)));
  if (lines.length === 0) throw new UserError('E_INPUT', `${a.dir} holds no finished runs; run the sweep first`);
  const outDir = a.out ?? join(a.dir, 'decisive');
  checkOutDir(outDir);
  await initBackend(a);
  const lm = await openModel({ ...a, model: a.model ?? cfg.model }, io);
  const loaded: LoadedModel[] = [];
  try {
    const prompts = buildPromptSet(cfg.prompts, lm.tokenizer);
    const evaluators: ReportEvaluator[] = [];
    for (const name of cfg.report.evaluators) {
      if (name === 'kn-bigram') {
        const train = brownSplitIds('train', await modelDirTokenizer(lm.dir)); // the generator's tokenizer
        evaluators.push({ name, kind: 'ngram', model: new KneserNeyBigram(train, lm.model.vocab) });
      } else {
        const ev = await openModel({ ...a, model: name }, io);
        loaded.push(ev);
        evaluators.push({ name, kind: 'lm', ev });
      }
    }
    const rows = await decisiveRows(lines, prompts, evaluators, lm.tokenizer, {
      bootstrap: cfg.report.bootstrap,
      seed: cfg.report.seed,
      topicWords: cfg.report.topicWords,
    });
    const files = [join(outDir, 'summary.csv')];
    atomicWrite(files[0], decisiveCsv(rows));
    for (const ev of evaluators) {
      const specs: [string, VegaLiteSpec | null][] = [
        [`frontier-${slug(ev.name)}.svg`, frontierSpec(rows, ev.name)],
        [`k-${slug(ev.name)}.svg`, kSpec(rows, ev.name, integratorK)],
        [`control-${slug(ev.name)}.svg`, controlSpec(rows, ev.name)],
      ];
      for (const [f, spec] of specs) {
        if (!spec) continue;
        atomicWrite(join(outDir, f), await renderSvg(spec));
        files.push(join(outDir, f));
      }
    }
    if (a.json) return printJson(io, { outDir, rows: rows.length, files });
    io.out(`${rows.length} rows (${rows.length / evaluators.length} settings × ${evaluators.length} evaluators)\n`);
    for (const f of files) io.out(`wrote ${f}\n`);
  } finally {
    for (const e of loaded) e.dispose();
    lm.dispose();
  }
}

/** A setting of the integrator × K block ('… K=k [integrator]' with a score, constant η, no steering). */
function integratorK(r: DecisiveRow): { integrator: string; K: number } | null {
  if (r.method !== 'guided') return null;
  const m = /^guided η=([\d.]+) λ=off K=(\d+) score (\S+)(?: (euler|midpoint|depondt))?$/.exec(r.setting);
  return m ? { integrator: m[4] ?? 'heun', K: Number(m[2]) } : null;
}

const fmt = (x: number | null | undefined, d = 3) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');

/** `spinbath sweep`: the run directory is checked and locked before any work, so a run is never computed twice. */
export async function runSweepCommand(io: Io, a: SweepArgs): Promise<void> {
  if (!a.config) throw new UserError('E_ARG', 'give --config configs/sweeps/NAME.json (or `spinbath sweep merge DIR...`)');
  const cfg = loadSweepConfig(a.config);
  const shard = a.shard !== undefined ? parseShard(String(a.shard)) : undefined;
  const name = cfg.name ?? basename(a.config).replace(/\.json$/i, '');
  if (a.list) {
    const grid = expandGrid(cfg).map((p, index) => ({ index, shard: shard ? index % shard.count : 0, setting: runLabel(p), seed: p.seed, params: p }));
    const rows = shard ? grid.filter((r) => r.shard === shard.index) : grid;
    if (a.json) return printJson(io, rows);
    for (const r of rows) io.out(`${String(r.index).padStart(4)}  ${shard ? `shard ${r.shard}  ` : ''}${r.setting}  seed ${r.seed ?? '-'}\n`);
    return;
  }
  const outDir = a.out ?? join('spinbath-out', 'sweeps', name, ...(shard ? [`shard-${shard.index}-of-${shard.count}`] : []));
  checkOutDir(outDir);
  const lock = acquireRunLock(outDir, 'spinbath sweep');
  try {
    removeStaleTemps(outDir);
    await sweep(io, a, cfg, shard, outDir);
  } finally {
    lock.release();
  }
}

async function sweep(
  io: Io,
  a: SweepArgs,
  cfg: ReturnType<typeof loadSweepConfig>,
  shard: ReturnType<typeof parseShard> | undefined,
  outDir: string,
): Promise<void> {
  await initBackend(a);
  const modelArg = a.model ?? cfg.model;
  const evalArg = a.evaluator ?? cfg.evaluator ?? modelArg;
  const lm = await openModel({ ...a, model: modelArg }, io);
  let ev: LoadedModel = lm;
  try {
    if (evalArg !== modelArg) ev = await openModel({ ...a, model: evalArg }, io);
    const outcome = await runSweep(
      cfg,
      { lm, evaluator: ev, modelId: modelArg ?? 'embedded', evaluatorId: evalArg ?? 'embedded', threads: a.threads },
      {
        outDir,
        shard,
        onWarn: (m) => void (!a.quiet && io.err(`warning: ${m}\n`)),
        onRun: (e) => {
          if (a.quiet) return;
          const m = e.line.metrics;
          const what = e.skipped
            ? 'done before'
            : `${e.seconds.toFixed(1)} s  ppl ${fmt(m.perplexity, 2)}  distinct-2 ${fmt(m.distinct_2)}  rep-4 ${fmt(m.repetition_4)}`;
          io.err(`[${e.done}/${e.total}] run ${e.line.index} ${e.line.label} seed ${e.line.params.seed ?? '-'}: ${what}\n`);
        },
      },
    );
    const files = await writeReport(outDir, outcome.lines);
    const summary = {
      outDir,
      gridRuns: outcome.gridRuns,
      shardRuns: outcome.shardRuns,
      ran: outcome.ran,
      skipped: outcome.skipped,
      files: [join(outDir, 'results.jsonl'), ...files],
      summary: summaryRows(outcome.lines),
    };
    if (a.json) return printJson(io, summary);
    io.out(summaryMarkdown(summary.summary));
    io.out(
      `${outcome.ran} run(s) done, ${outcome.skipped} skipped as done; ${outcome.shardRuns} in ${shard ? `shard ${shard.index}/${shard.count}` : 'the grid'} of ${outcome.gridRuns}\n`,
    );
    for (const f of summary.files) io.out(`wrote ${f}\n`);
  } finally {
    if (ev !== lm) ev.dispose();
    lm.dispose();
  }
}

/** `spinbath sweep merge DIR...`: --out DIR checked before any work. */
export async function runMerge(io: Io, a: MergeArgs): Promise<void> {
  const outDir = a.out ?? join('spinbath-out', 'sweeps', 'merged');
  checkOutDir(outDir);
  const lines: ResultLine[] = mergeResults(a.dirs, (m) => void (!a.quiet && io.err(`warning: ${m}\n`)));
  atomicWrite(join(outDir, 'results.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const files = await writeReport(outDir, lines);
  const rows = summaryRows(lines);
  if (a.json) return printJson(io, { outDir, runs: lines.length, files: [join(outDir, 'results.jsonl'), ...files], summary: rows });
  io.out(summaryMarkdown(rows));
  io.out(`merged ${lines.length} run(s) from ${a.dirs.length} source(s)\n`);
  for (const f of [join(outDir, 'results.jsonl'), ...files]) io.out(`wrote ${f}\n`);
}
