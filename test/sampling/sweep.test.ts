/** Sweeps: config validation, grid and shards, resume after a kill, merge, determinism, report, CLI. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIds, type BaselineLm } from '../../sampling/baselines.js';
import { mergeResults, readResults, runSweep, type GuidedFn, type SweepDeps } from '../../sampling/sweep.js';
import { expandGrid, loadSweepConfig, parseShard, parseSweepConfig, shardIndices, type SweepConfig } from '../../sampling/sweep-config.js';
import { writeReport } from '../../sampling/sweep-report.js';
import { useBackend } from '../../src/backend.js';
import { sweepDef } from '../../src/cli/defs/generation.js';
import { globalOptions } from '../../src/cli/io.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { makeRng } from '../../src/rng.js';
import { randomGpt2Weights, writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const TINY = 'configs/sweeps/tiny.json';
let lm: BaselineLm;
let tmp: string;
let cfg: SweepConfig;

/** A stand-in for generateGuided: tokens drawn from the seed and the settings. */
const stubGuided: GuidedFn = async (l, o) =>
  o.promptIds!.flatMap((_, p) =>
    Array.from({ length: o.samples ?? 1 }, (_, s) => {
      const rng = makeRng(`stub/${o.seed}/${o.eta}/${o.lambda}/${p}/${s}`);
      const tokens = Array.from({ length: o.tokens }, () => 300 + rng.int(40));
      return { promptIndex: p, sample: s, text: decodeIds(l.tokenizer, tokens), tokens };
    }),
  );

const deps = (guided?: GuidedFn): SweepDeps => ({ lm, evaluator: lm, modelId: 'test-model', evaluatorId: 'test-model', guided });
const read = (dir: string) => readFileSync(join(dir, 'results.jsonl'), 'utf8');

beforeAll(async () => {
  await useBackend('wasm');
  lm = { model: Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 50257, n_positions: 16 }, 7)), tokenizer: await loadTokenizer() };
  tmp = mkdtempSync(join(tmpdir(), 'spinbath-sweep-'));
  cfg = loadSweepConfig(TINY);
});
afterAll(() => {
  lm.model.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('sweep config', () => {
  it('names an unknown or out-of-range field in one line', () => {
    const base = { tokens: 4, baselines: [{ method: 'greedy' }] };
    expect(() => parseSweepConfig({ ...base, bogus: 1 }, 'c.json')).toThrow(/c.json: field \(root\): unknown field\(s\) 'bogus'/);
    expect(() => parseSweepConfig({ ...base, guided: { eta: [1, -1] } }, 'c.json')).toThrow(/field guided\.eta\[1\]/);
    expect(() => parseSweepConfig({ tokens: 4, baselines: [{ method: 'top-p' }] }, 'c.json')).toThrow(/field baselines\[0\]\.topP/);
    expect(() => parseSweepConfig({ ...base, prompts: { source: 'brown-test', count: 2 } }, 'c.json')).toThrow(/field prompts\.length/);
    expect(() => parseSweepConfig({ ...base, guided: { eta: [1], fieldSources: ['head:x'] } }, 'c.json')).toThrow(/fieldSources\[0\].*field source/);
    expect(() => parseSweepConfig({ tokens: 4 }, 'c.json')).toThrow(/grid is empty/);
  });

  it('ships default.json and tiny.json; greedy runs once, the rest once per seed', () => {
    const def = loadSweepConfig('configs/sweeps/default.json');
    // η × λ × scores × seeds, greedy once, top-p per seed
    expect(expandGrid(def).length).toBe(4 * 3 * 2 * 2 + 1 + 2);
    expect(expandGrid(cfg).length).toBe(2 * 2 * 2 + 1 + 3 * 2);
  });

  it('shards cover the grid exactly once for several n', () => {
    const total = expandGrid(cfg).length;
    for (const n of [1, 2, 3, 4, 7, total, total + 3]) {
      const all = Array.from({ length: n }, (_, i) => shardIndices(total, { index: i, count: n }))
        .flat()
        .sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
    }
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(() => parseShard('5/5')).toThrow(/0 ≤ i < n/);
  });
});

describe('runSweep', () => {
  let full: string;
  beforeAll(async () => {
    full = join(tmp, 'full');
    await runSweep(cfg, deps(stubGuided), { outDir: full });
  });

  it('writes one line per run, with parameters, id, generations and metrics', () => {
    const { lines } = readResults(join(full, 'results.jsonl'));
    expect(lines.length).toBe(15);
    expect(new Set(lines.map((l) => l.runId)).size).toBe(15);
    const l = lines.find((x) => x.label === 'top-p 0.9')!;
    expect(l.generations.length).toBe(3);
    expect(l.generations[0].tokens.length).toBeLessThanOrEqual(4);
    expect(Object.keys(l.metrics)).toEqual(expect.arrayContaining(['perplexity', 'entropy_bits', 'distinct_2', 'repetition_4', 'loop_rate', 'zipf']));
    expect(l.metrics.perplexity).toBeGreaterThan(1);
    const ps = JSON.parse(readFileSync(join(full, 'prompts.json'), 'utf8')).prompts as { text: string; ids: number[]; origin: string }[];
    expect(ps.map((p) => p.ids.length)).toEqual([6, 6, 6]); // Brown test split: paragraph starts, spread over documents
    expect(new Set(ps.map((p) => p.origin.split(' ')[0])).size).toBe(3);
  });

  it('same seeds → identical results.jsonl', async () => {
    const again = join(tmp, 'again');
    const n0 = tf.memory().numTensors;
    await runSweep(cfg, deps(stubGuided), { outDir: again });
    expect(tf.memory().numTensors).toBe(n0);
    expect(read(again)).toBe(read(full));
  });

  it('resume skips finished runs and redoes a half-written last line', async () => {
    const dir = join(tmp, 'resume');
    cpSync(full, dir, { recursive: true });
    const text = read(dir);
    const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
    writeFileSync(join(dir, 'results.jsonl'), text.slice(0, lastStart + Math.floor((text.length - lastStart) / 2))); // killed mid-line
    const warns: string[] = [];
    const r = await runSweep(cfg, deps(stubGuided), { outDir: dir, onWarn: (m) => warns.push(m) });
    expect([r.ran, r.skipped]).toEqual([1, 14]);
    expect(warns.join()).toMatch(/half-written/);
    expect(read(dir)).toBe(text);
    const r2 = await runSweep(cfg, deps(stubGuided), { outDir: dir });
    expect([r2.ran, r2.skipped]).toEqual([0, 15]);
    writeFileSync(join(dir, 'results.jsonl'), 'garbage\n' + text);
    await expect(runSweep(cfg, deps(stubGuided), { outDir: dir })).rejects.toThrow(/line 1 is not a sweep result line/);
  });

  it('shards merge into the full grid; duplicates dedupe; conflicting duplicates are an error', async () => {
    const dirs = [0, 1, 2].map((i) => join(tmp, `shard-${i}`));
    for (const [i, d] of dirs.entries()) {
      const r = await runSweep(cfg, deps(stubGuided), { outDir: d, shard: { index: i, count: 3 } });
      expect(r.shardRuns).toBe(5);
    }
    const merged = mergeResults([...dirs, dirs[1]]);
    expect(merged.map((l) => JSON.stringify(l) + '\n').join('')).toBe(read(full));
    const bad = join(tmp, 'bad');
    cpSync(dirs[0], bad, { recursive: true });
    const lines = read(bad)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    lines[0].generations[0].tokens[0] += 1;
    writeFileSync(join(bad, 'results.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(() => mergeResults([dirs[0], bad])).toThrow(new RegExp(`run ${lines[0].runId} .* different results`));
  });

  it('the report has tables and SVG plots', async () => {
    const files = await writeReport(join(tmp, 'report'), readResults(join(full, 'results.jsonl')).lines);
    expect(files.map((f) => f.split('/').pop())).toEqual([
      'summary.md',
      'summary.csv',
      'runs.csv',
      'quality-diversity.svg',
      'metrics-vs-eta.svg',
      'metrics-vs-lambda.svg',
    ]);
    const md = readFileSync(files[0], 'utf8');
    expect(md).toMatch(/\| guided η=1 λ=off K=5 \| 2 \|/);
    expect(md).toMatch(/\| greedy \| 1 \|/);
    expect(readFileSync(files[4], 'utf8')).toMatch(/^<svg/);
  });
});

describe('score checkpoints in the grid', () => {
  it('loads each score once, passes it to the sampler, disposes it at the end', async () => {
    const c = parseSweepConfig({ prompts: { texts: ['The jury said'] }, tokens: 2, guided: { eta: [1], scores: ['none', 'ckpt-A'] } });
    const loaded: string[] = [];
    let disposed = 0;
    const seen: (string | null)[] = [];
    const fake = (dir: string) => ({
      meta: { dir },
      score: () => {
        throw new Error('unused');
      },
      dispose: () => void disposed++,
    });
    const r = await runSweep(
      c,
      {
        ...deps(async (l, o) => {
          seen.push(o.score ? (o.score.meta as unknown as { dir: string }).dir : null);
          return stubGuided(l, o);
        }),
        openScore: async (dir) => {
          loaded.push(dir);
          return fake(dir) as never;
        },
      },
      { outDir: join(tmp, 'scores') },
    );
    expect(r.lines.map((l) => l.label)).toEqual(['guided η=1 λ=off K=50', 'guided η=1 λ=off K=50 score ckpt-A']);
    expect(seen).toEqual([null, 'ckpt-A']);
    expect([loaded, disposed]).toEqual([['ckpt-A'], 1]);
  });
});

describe('spinbath sweep (CLI)', () => {
  it('runs a baseline-only config, lists shards, merges', async () => {
    const model = join(tmp, 'm');
    writeTinyGpt2(model, { config: { vocab_size: 50257, n_positions: 16 }, seed: 3 });
    const c = join(tmp, 'b.json');
    writeFileSync(
      c,
      JSON.stringify({
        prompts: { texts: ['The jury said', 'It was'] },
        tokens: 3,
        seeds: [0, 1],
        baselines: [{ method: 'greedy' }, { method: 'top-k', topK: 3 }],
      }),
    );
    let out = '';
    const io = { out: (t: string) => void (out += t), err: () => {} };
    const run = (args: string[]) =>
      sweepDef(io)(yargs(args).options(globalOptions))
        .strict()
        .exitProcess(false)
        .fail((m, e) => {
          throw e ?? new Error(m);
        })
        .parseAsync();
    await run(['sweep', '--config', c, '--shard', '1/2', '--list', '--json']);
    expect(JSON.parse(out).map((r: { index: number }) => r.index)).toEqual([1]);
    out = '';
    await run(['sweep', '--config', c, '--model', model, '--out', join(tmp, 'cli'), '--json']);
    expect(JSON.parse(out)).toMatchObject({ gridRuns: 3, ran: 3, skipped: 0 });
    out = '';
    await run(['sweep', 'merge', join(tmp, 'cli'), '--out', join(tmp, 'cli-merged'), '--json']);
    expect(JSON.parse(out).runs).toBe(3);
    expect(read(join(tmp, 'cli-merged'))).toBe(read(join(tmp, 'cli')));
  });

  it('the real guided sampler (generateGuided) runs the tiny grid, deterministically', async () => {
    const a = await runSweep(cfg, deps(), { outDir: join(tmp, 'real-a'), shard: { index: 0, count: 2 } });
    await runSweep(cfg, deps(), { outDir: join(tmp, 'real-b'), shard: { index: 0, count: 2 } });
    expect(a.lines.length).toBe(8);
    expect(a.lines.filter((l) => l.params.kind === 'guided').every((l) => l.generations.every((g) => g.tokens.length === 4 && !g.error))).toBe(true);
    expect(read(join(tmp, 'real-b'))).toBe(read(join(tmp, 'real-a')));
  });
});
