/**
 * Sweep runner: every run of a config's grid (sampling/sweep-config.ts) generates on the prompt
 * set (sampling/sweep-prompts.ts), is scored (sampling/metrics.ts), and appends ONE JSON line to
 * OUT/results.jsonl:
 *   { runId, index, label, params, setup, generations: [{promptIndex, sample, text, tokens, stop?,
 *     error?}], metrics: {outputs, tokens, scored_tokens, perplexity, entropy_bits, distinct_1..3,
 *     repetition_4, loop_rate, zipf} }
 * written with one write() and fsync, so a killed run leaves at most a half-written last line.
 * Resume: lines already present are skipped by run id; a half-written last line is dropped (the
 * file is rewritten atomically without it) and its run redone; a malformed line elsewhere is an
 * error. Lines contain no timings (so a rerun with the same seeds writes identical lines); wall
 * times go to OUT/timings.jsonl. OUT/prompts.json holds the prompt set.
 *
 * `mergeResults` joins shard outputs: lines deduplicated by run id; two lines with one id must
 * agree (params, setup, generations exactly; metrics to 1e-6 relative), else a one-line error.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { atomicWrite, atomicWriteJson } from '../src/io/atomic.js';
import { parseFieldSource } from '../src/field/source.js';
import { generateBaseline, topicTokenIds, type BaselineLm } from './baselines.js';
import { generateEuclidean } from './euclidean.js';
import { loadEuclidModel, type EuclidModel } from '../src/score/euclid.js';
import { generateGuided, type GuidedOptions } from './generate.js';
import { openScore } from './score.js';
import type { ScoreModel } from '../src/score/contract.js';
import { computeMetrics, metricsJson, type Evaluator } from './metrics.js';
import { canonicalJson, expandGrid, runId, runLabel, shardIndices, type RunParams, type SweepConfig, type SweepSetup } from './sweep-config.js';
import { buildPromptSet, type PromptSet } from './sweep-prompts.js';

export interface Generation {
  promptIndex: number;
  sample: number;
  text: string;
  tokens: number[];
  stop?: string;
  error?: string;
}

export interface ResultLine {
  runId: string;
  index: number;
  label: string;
  params: RunParams;
  setup: SweepSetup;
  generations: Generation[];
  metrics: Record<string, number | null>;
}

/** A guided generator: sampling/generate.ts's generateGuided (default), or a stand-in in tests. */
export type GuidedFn = (lm: BaselineLm, opts: GuidedOptions) => Promise<Generation[]>;

export const defaultGuided: GuidedFn = async (lm, opts) =>
  (await generateGuided(lm, opts)).map((r) => ({
    promptIndex: r.promptIndex,
    sample: r.sample,
    text: r.text,
    tokens: r.tokens,
    ...(r.error ? { error: r.error } : {}),
  }));

const defaultOpenScore = async (dir: string): Promise<ScoreModel> => (await openScore(dir, { embedded: false }))!;

export interface SweepDeps {
  lm: BaselineLm;
  evaluator: Evaluator;
  /** Model and evaluator names recorded in the setup (part of every run id). */
  modelId: string;
  evaluatorId: string;
  /** Default: generateGuided. */
  guided?: GuidedFn;
  /** Threads of the guided sampler's reverse SDE (GuidedOptions.threads; default 1). */
  threads?: number;
  /** Score checkpoint loader (default: sampling/score.ts openScore); 'none' never reaches it. */
  openScore?: (dir: string) => Promise<ScoreModel>;
}

/** Options of {@link runSweep}: output directory, shard, and callbacks after each run and on warnings. */
export interface SweepRunOptions {
  outDir: string;
  shard?: { index: number; count: number };
  /** After each run of this shard: finished or skipped. */
  onRun?: (e: { done: number; total: number; line: ResultLine; skipped: boolean; seconds: number }) => void;
  /** Receives warnings about results.jsonl (a half-written last line, lines of no run of this config). */
  onWarn?: (message: string) => void;
}

/** What {@link runSweep} did: runs in the grid and in this shard, skipped as done, run now, and the result lines. */
export interface SweepOutcome {
  /** Runs in the whole grid, in this shard, skipped as done, run now. */
  gridRuns: number;
  shardRuns: number;
  skipped: number;
  ran: number;
  /** Lines of this grid now in results.jsonl (index order). */
  lines: ResultLine[];
  prompts: PromptSet;
}

function isResultLine(v: unknown): v is ResultLine {
  const o = v as ResultLine;
  return (
    !!o && typeof o === 'object' && typeof o.runId === 'string' && typeof o.params === 'object' && Array.isArray(o.generations) && typeof o.metrics === 'object'
  );
}

/**
 * Lines of a results file. A malformed LAST line (a killed writer) is dropped and reported as
 * `partial`; a malformed line elsewhere is a UserError naming it.
 */
export function readResults(path: string): { lines: ResultLine[]; partial: boolean; clean: boolean } {
  if (!existsSync(path)) return { lines: [], partial: false, clean: true };
  const text = readFileSync(path, 'utf8');
  const raw = text.split('\n');
  const lines: ResultLine[] = [];
  let partial = false;
  raw.forEach((l, i) => {
    if (l.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      v = null;
    }
    if (isResultLine(v)) return void lines.push(v);
    const isLast = raw.slice(i + 1).every((r) => r.trim() === '');
    if (!isLast) throw new UserError('E_FILE', `${path} line ${i + 1} is not a sweep result line; remove that line (its run is redone) or delete the file`);
    partial = true;
  });
  return { lines, partial, clean: !partial && (text === '' || text.endsWith('\n')) };
}

/** Append one line with a single write() + fsync. */
export function appendLine(path: string, value: unknown): void {
  const fd = openSync(path, 'a');
  try {
    const buf = Buffer.from(JSON.stringify(value) + '\n', 'utf8');
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The steering direction m̂ of topic words: the mean of their token spins (unit embedding rows of
 * their first tokens, baselines.ts topicTokenIds), normalised. [d]
 */
export function topicDirection(lm: BaselineLm, words: readonly string[]): Float32Array {
  const ids = topicTokenIds(lm.tokenizer, words);
  const E = lm.model.params().get('embed.W_E')!.dataSync(); // [vocab·d]
  const d = lm.model.dModel;
  const m = new Float64Array(d);
  for (const id of ids) {
    let n = 0;
    for (let j = 0; j < d; j++) n += E[id * d + j] ** 2;
    n = Math.sqrt(n) || 1;
    for (let j = 0; j < d; j++) m[j] += E[id * d + j] / n;
  }
  const norm = Math.hypot(...m) || 1;
  return Float32Array.from(m, (x) => x / norm);
}

async function generateRun(
  p: RunParams,
  cfg: SweepConfig,
  deps: SweepDeps,
  prompts: PromptSet,
  scores: Map<string, ScoreModel | null>,
  ddpms: Map<string, EuclidModel>,
): Promise<Generation[]> {
  const common = { prompts: prompts.texts, promptIds: prompts.ids, samples: cfg.samples, tokens: cfg.tokens };
  if (p.kind === 'euclidean') {
    if (!ddpms.has(p.model)) ddpms.set(p.model, loadEuclidModel(p.model));
    const res = await generateEuclidean(deps.lm, { ...common, steps: p.steps, ddpm: ddpms.get(p.model)!, seed: p.seed, maxBatch: cfg.batchSize });
    return res
      .map((r) => ({ promptIndex: r.promptIndex, sample: r.sample, text: r.text, tokens: r.tokens }))
      .sort((a, b) => a.promptIndex - b.promptIndex || a.sample - b.sample);
  }
  if (p.kind === 'baseline') {
    const { kind: _k, seed, ...spec } = p;
    void _k;
    return (await generateBaseline(deps.lm, { ...spec, ...common, seed: seed ?? 0, batchSize: cfg.batchSize })).map((r) => ({
      promptIndex: r.promptIndex,
      sample: r.sample,
      text: r.text,
      tokens: r.tokens,
      stop: r.stop,
    }));
  }
  const res = await (deps.guided ?? defaultGuided)(deps.lm, {
    ...common,
    eta: p.eta,
    ...(p.lambda === 'off' ? {} : { lambda: p.lambda, gamma: p.gamma }), // λ given → full LLG mode
    steps: p.steps,
    schedule: p.schedule === 'default' ? undefined : p.schedule,
    integrator: p.integrator,
    fieldSource: parseFieldSource(p.fieldSource)!,
    score: scores.get(p.score) ?? null,
    readout: p.readout,
    readoutTemperature: p.readoutTemperature ?? undefined,
    seed: p.seed,
    maxBatch: cfg.batchSize,
    threads: deps.threads,
    ...(p.steer ? { steer: { direction: topicDirection(deps.lm, p.steer.words), alpha: p.steer.alpha } } : {}),
  });
  return res
    .map((r) => ({ promptIndex: r.promptIndex, sample: r.sample, text: r.text, tokens: r.tokens, ...(r.error ? { error: r.error } : {}) }))
    .sort((a, b) => a.promptIndex - b.promptIndex || a.sample - b.sample);
}

/** Run (or resume) this shard of the grid into opts.outDir. */
export async function runSweep(cfg: SweepConfig, deps: SweepDeps, opts: SweepRunOptions): Promise<SweepOutcome> {
  const prompts = buildPromptSet(cfg.prompts, deps.lm.tokenizer);
  const setup: SweepSetup = {
    model: deps.modelId,
    evaluator: deps.evaluatorId,
    prompts: cfg.prompts,
    promptHash: prompts.hash,
    tokens: cfg.tokens,
    samples: cfg.samples,
  };
  const grid = expandGrid(cfg);
  const ids = grid.map((p) => runId(p, setup));
  const mine = opts.shard ? shardIndices(grid.length, opts.shard) : grid.map((_, i) => i);
  const file = join(opts.outDir, 'results.jsonl');
  const prev = readResults(file);
  if (prev.partial) opts.onWarn?.(`${file}: dropped a half-written last line (its run is redone)`);
  if (!prev.clean) atomicWrite(file, prev.lines.map((l) => JSON.stringify(l) + '\n').join(''));
  atomicWriteJson(join(opts.outDir, 'prompts.json'), {
    spec: cfg.prompts,
    hash: prompts.hash,
    prompts: prompts.texts.map((text, i) => ({ text, ids: prompts.ids[i], origin: prompts.origins[i] })),
  });
  const have = new Map(prev.lines.map((l) => [l.runId, l]));
  const inGrid = new Set(ids);
  const foreign = prev.lines.filter((l) => !inGrid.has(l.runId)).length;
  if (foreign > 0) opts.onWarn?.(`${file}: ${foreign} line(s) belong to no run of this config (left in place, not summarised)`);
  let ran = 0;
  let skipped = 0;
  const scores = new Map<string, ScoreModel | null>([['none', null]]);
  const ddpms = new Map<string, EuclidModel>();
  try {
    for (const [n, k] of mine.entries()) {
      const old = have.get(ids[k]);
      if (old) {
        skipped++;
        opts.onRun?.({ done: n + 1, total: mine.length, line: old, skipped: true, seconds: 0 });
        continue;
      }
      const p = grid[k];
      if (p.kind === 'guided' && !scores.has(p.score)) scores.set(p.score, await (deps.openScore ?? defaultOpenScore)(p.score));
      const t0 = performance.now();
      const generations = await generateRun(p, cfg, deps, prompts, scores, ddpms);
      const seconds = (performance.now() - t0) / 1000;
      const records = generations.map((g) => ({
        prompt: prompts.texts[g.promptIndex],
        promptTokens: prompts.ids[g.promptIndex],
        text: g.text,
        tokens: g.tokens,
      }));
      const metrics = metricsJson(await computeMetrics(records, deps.evaluator));
      const line: ResultLine = { runId: ids[k], index: k, label: runLabel(grid[k]), params: grid[k], setup, generations, metrics };
      appendLine(file, line);
      const tokens = generations.reduce((a, g) => a + g.tokens.length, 0);
      appendLine(join(opts.outDir, 'timings.jsonl'), { runId: ids[k], seconds: +seconds.toFixed(3), tokens_per_s: +(tokens / seconds).toFixed(2) });
      have.set(ids[k], line);
      ran++;
      opts.onRun?.({ done: n + 1, total: mine.length, line, skipped: false, seconds });
    }
  } finally {
    for (const sm of scores.values()) sm?.dispose();
    for (const m of ddpms.values()) m.dispose();
  }
  const lines = ids.filter((id) => have.has(id)).map((id) => have.get(id)!);
  return { gridRuns: grid.length, shardRuns: mine.length, skipped, ran, lines, prompts };
}

const conflictFree = (l: ResultLine) => canonicalJson({ params: l.params, setup: l.setup, generations: l.generations });

function metricsAgree(a: Record<string, number | null>, b: Record<string, number | null>): string | null {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (x === null || y === null || x === undefined || y === undefined || Math.abs(x - y) > 1e-6 * Math.max(Math.abs(x), Math.abs(y)))
      return `metric ${k}: ${x} vs ${y}`;
  }
  return null;
}

/** Join results of several shard directories (or results.jsonl files); see the file comment. */
export function mergeResults(sources: string[], onWarn?: (m: string) => void): ResultLine[] {
  if (sources.length === 0) throw new UserError('E_ARG', 'sweep merge needs at least one shard directory (or results.jsonl)');
  const byId = new Map<string, { line: ResultLine; from: string }>();
  for (const src of sources) {
    const file = existsSync(src) && statSync(src).isDirectory() ? join(src, 'results.jsonl') : src;
    if (!existsSync(file)) throw new UserError('E_FILE', `${file} does not exist; give sweep output directories (each with results.jsonl)`);
    const { lines, partial } = readResults(file);
    if (partial) onWarn?.(`${file}: ignored a half-written last line (rerun that shard to finish it)`);
    for (const line of lines) {
      const seen = byId.get(line.runId);
      if (!seen) {
        byId.set(line.runId, { line, from: file });
        continue;
      }
      const why = conflictFree(seen.line) !== conflictFree(line) ? 'parameters or generations differ' : metricsAgree(seen.line.metrics, line.metrics);
      if (why)
        throw new UserError(
          'E_INPUT',
          `run ${line.runId} (${line.label}) appears in ${seen.from} and ${file} with different results (${why}); keep one of them and merge again`,
        );
    }
  }
  return [...byId.values()].map((v) => v.line).sort((a, b) => a.index - b.index || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
}
