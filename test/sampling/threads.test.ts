/**
 * The guided sampler's reverse SDE split across worker threads (sampling/reversePool.ts): the same
 * bytes for every thread count — tokens and traces of generateGuided, and `sample --json` — with
 * the score (heun), without it (euler + LLG, midpoint + the 'field' precession), with the softmax
 * readout, on a tiny random GPT-2 and on the embedded brown-small with its shipped score; the
 * noise pre-drawn in one fill equals the in-thread path's per-step fills; and a non-finite value
 * in a worker's rows is reported at the same step and row as in one thread.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { uniformSpinRows } from '../../src/core/sphere.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import { makeRng } from '../../src/rng.js';
import { initParams, type NetworkConfig } from '../../src/score/network.js';
import { NetScoreModel, type ScoreNetMeta } from '../../src/score/scoreNet.js';
import { GuidedDrift } from '../../sampling/drift.js';
import { FastNormal } from '../../sampling/gaussian.js';
import { generateGuided, type GuidedOptions } from '../../sampling/generate.js';
import { INTEGRATORS } from '../../sampling/integrators/index.js';
import { integrateReverse } from '../../sampling/reverse.js';
import { balancedMainRows, blocks, ReversePool } from '../../sampling/reversePool.js';
import { runCli } from '../helpers/cli.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const root = mkdtempSync(join(tmpdir(), 'sb-threads-'));
const dir = join(root, 'tiny');
const D = 16;
const schedule = { kind: 'linear' as const, betaMin: 0.1, betaMax: 20, T: 1 };
let lm: LoadedModel;

/** A random conditioned score network for the tiny model (d = 16), on the NetScoreModel path that workers can rebuild. */
function tinyScore(seed: number): NetScoreModel {
  const network: NetworkConfig = { d: D, width: 12, depth: 3, activation: 'silu', timeEmbedding: 8, condition: true };
  const meta: ScoreNetMeta = {
    format: 'spinbath-score/1',
    d: D,
    vocab: 50257,
    fieldSource: 'final',
    schedule,
    eta: 1,
    modelHash: 'x',
    tMin: 1e-3,
    fieldScaling: 'unit',
    network,
    norm: { logS2Min: -7, logS2Max: 2.3, logNMean: 1, logNStd: 1 },
    training: { steps: 0, objective: 'dsm', weighting: 'sigma2' },
  };
  return new NetScoreModel(meta, initParams(network, seed));
}

beforeAll(async () => {
  await useBackend('wasm');
  writeTinyGpt2(dir, { seed: 11, config: { vocab_size: 50257, n_positions: 24, n_embd: D, n_layer: 2, n_head: 2 } });
  lm = await loadModel(dir, { engine: 'tfjs' });
});
afterAll(() => lm?.dispose());

/** generateGuided at 1, 2 and 3 threads: identical results (tokens, text, traces) as JSON. */
async function sameForThreads(opts: GuidedOptions): Promise<string> {
  const out = [];
  for (const threads of [1, 2, 3]) out.push(JSON.stringify(await generateGuided(lm, { ...opts, threads })));
  expect(out[1]).toBe(out[0]);
  expect(out[2]).toBe(out[0]);
  return out[0];
}

describe('guided sampling on several threads', () => {
  const base = { prompts: ['The cat sat on the', 'Hello'], samples: 13, tokens: 3, steps: 12, seed: 3 }; // 26 rows: 3 threads from 24 rows (MIN_ROWS_PER_THREAD)

  it('heun with a learned score: the same tokens and traces at 1, 2 and 3 threads', async () => {
    const score = tinyScore(1);
    const a = await sameForThreads({ ...base, score, eta: 2 });
    expect(JSON.parse(a)).toHaveLength(26);
    score.dispose();
  });

  it('euler + LLG (orthogonal precession) and midpoint + the field precession, without a score: the same at every thread count', async () => {
    await sameForThreads({ ...base, integrator: 'euler', lambda: 0.5, gamma: 2 });
    await sameForThreads({ ...base, integrator: 'midpoint', lambda: 1, precession: { kind: 'field' } });
  });

  it('the softmax readout, several chunks (maxBatch) and depondt: the same at every thread count', async () => {
    await sameForThreads({ ...base, readout: 'softmax', readoutTemperature: 0.05, samples: 17, maxBatch: 20, integrator: 'depondt' }); // chunks of 17 rows
  });

  it('the run-wide noise drawn in one fill equals K successive per-step fills', () => {
    const K = 7;
    const len = 10 * 37;
    const one = new FastNormal(makeRng('n')).fill(K * len, 0.3);
    const g = new FastNormal(makeRng('n'));
    const steps = new Float32Array(K * len);
    for (let k = 0; k < K; k++) g.fill(len, 0.3, steps.subarray(k * len, (k + 1) * len));
    expect(Buffer.from(one.buffer).equals(Buffer.from(steps.buffer))).toBe(true);
  });

  it('a non-finite row in a worker is reported at the same step and row as in one thread', async () => {
    const n = 26;
    const d = D;
    const N = Float32Array.from(uniformSpinRows(n, d, makeRng('N')));
    for (let j = 23 * d; j < 24 * d; j++) N[j] = 3e38; // row 23 (in the last worker's block): η|N| dτ overflows float32
    const drift = { d, eta: 1e6, schedule, fieldScale: 'raw' as const, llg: null };
    const rngs = (s: string) => ({ init: makeRng(`${s}i`), noise: makeRng(`${s}n`), precession: makeRng(`${s}p`) });
    const r = rngs('x');
    const sde = new GuidedDrift({ ...drift, N, rng: r.precession });
    const one = integrateReverse(uniformSpinRows(n, d, r.init), sde, { integrator: INTEGRATORS.heun, steps: 6, T: 1, rng: r.noise });
    sde.dispose();
    expect(one.nonFinite?.row).toBe(23);
    const pool = ReversePool.create(3, { drift, integrator: 'heun', steps: 6, tMin: undefined }, null)!;
    try {
      const split = await pool.reverse(N, rngs('x'));
      expect(split.nonFinite).toEqual(one.nonFinite);
    } finally {
      await pool.close();
    }
  });
});

describe('ReversePool', () => {
  it('a worker that died rejects the token with an error naming it, instead of hanging', async () => {
    const d = D;
    const N = uniformSpinRows(16, d, makeRng('N'));
    const drift = { d, eta: 1, schedule, llg: null };
    const pool = ReversePool.create(2, { drift, integrator: 'euler', steps: 4, tMin: undefined }, null)!;
    const rngs = () => ({ init: makeRng('i'), noise: makeRng('n'), precession: makeRng('p') });
    try {
      expect((await pool.reverse(N, rngs())).S).toHaveLength(16 * d); // starts the worker
      await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
      await expect(pool.reverse(N, rngs())).rejects.toThrow(/reverse SDE worker 1 exited/);
    } finally {
      await pool.close();
    }
  });

  it('splits rows for the main thread and the workers, and balances the main share against its noise draw', () => {
    expect(blocks(10, 4, 2)).toEqual([
      [0, 4],
      [4, 7],
      [7, 10],
    ]);
    expect(blocks(6, 0, 1)).toEqual([
      [0, 0],
      [0, 6],
    ]);
    // equal row costs, no noise: an even split; noise worth 4 rows: the main thread takes 4 rows fewer than half of the rest
    expect(balancedMainRows(16, 1, { noiseMs: 0, mainRowMs: 1, workerRowMs: 1 })).toBe(8);
    expect(balancedMainRows(16, 1, { noiseMs: 4, mainRowMs: 1, workerRowMs: 1 })).toBe(6);
    expect(balancedMainRows(16, 3, { noiseMs: 100, mainRowMs: 1, workerRowMs: 1 })).toBe(0);
    expect(balancedMainRows(16, 1, { noiseMs: 0, mainRowMs: 0.001, workerRowMs: 1 })).toBe(16 - 8);
  });
});

/** The packages a module loads through its value imports (type-only imports excluded), following relative imports. */
function loadedPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)) {
      const spec = m[1];
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(resolve(entry));
  return packages;
}

describe('reverse SDE worker', () => {
  it('starts without tfjs or the option schemas: its module graph loads no @tensorflow package and no zod', () => {
    const pk = [...loadedPackages('sampling/reverseWorker.ts')];
    expect(pk.filter((p) => p.startsWith('@tensorflow') || p === 'zod')).toEqual([]);
    expect(pk).toContain('node:worker_threads'); // the walk sees the worker's own imports
    expect([...loadedPackages('sampling/generate.ts')]).toContain('@tensorflow/tfjs-core'); // and would see tfjs
  });
});

describe('spinbath sample --threads', () => {
  const tfjs = ['--engine', 'tfjs', '--backend', 'wasm', '--quiet', '--json'];
  async function sampleAt(threads: number, args: string[]): Promise<string> {
    const r = await runCli(['sample', ...args, '--threads', String(threads), ...tfjs]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  }

  it('brown-small with its shipped score (heun, K = 20, 24 samples): the same --json bytes at 1, 2 and 3 threads', async () => {
    const args = ['--prompt', 'The jury said', '--samples', '24', '--tokens', '3', '--steps', '20', '--seed', '4'];
    const one = await sampleAt(1, args);
    expect(JSON.parse(one)).toHaveLength(24);
    expect(await sampleAt(2, args)).toBe(one);
    expect(await sampleAt(3, args)).toBe(one);
  });

  it('the tiny model, euler + LLG without a score: the same --json bytes at 1 and 2 threads', async () => {
    const args = [
      '--model',
      dir,
      '--score',
      'none',
      '--prompt',
      'A',
      '--samples',
      '16',
      '--tokens',
      '2',
      '--steps',
      '8',
      '--lambda',
      '0.5',
      '--integrator',
      'euler',
    ];
    expect(await sampleAt(2, args)).toBe(await sampleAt(1, args));
  });
});
