/**
 * Guided generation (sampling/generate.ts) and `spinbath sample` on a tiny random GPT-2 with the
 * GPT-2 vocabulary: determinism, KV-cache fields, strong guidance → the nearest token to N̂,
 * batching, memory, score checkpoints (real files through training/'s loader) and the one-line
 * exit-2 errors, including a non-finite value mid-generation.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { contextFields } from '../../src/field/source.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import type { ScoreModel, ScoreModelMeta } from '../../src/score/contract.js';
import { initParams, type NetworkConfig } from '../../src/score/network.js';
import { saveScoreModel, type ScoreNetMeta } from '../../src/score/scoreNet.js';
import { generateGuided } from '../../sampling/generate.js';
import { TokenReadout } from '../../sampling/readout.js';
import { runCli } from '../helpers/cli.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const root = mkdtempSync(join(tmpdir(), 'sb-sample-'));
const dir = join(root, 'tiny');
const D = 16;
const VOCAB = 50257;
const B = ['--backend', 'wasm', '--quiet'];
let lm: LoadedModel;

beforeAll(async () => {
  await useBackend('wasm');
  writeTinyGpt2(dir, { seed: 11, config: { vocab_size: VOCAB, n_positions: 24, n_embd: D, n_layer: 2, n_head: 2 } });
  lm = await loadModel(dir);
});
afterAll(() => lm?.dispose());
afterEach(() => new Promise<void>((r) => setImmediate(r)));

/** `spinbath sample ARGS` in-process, through the CLI's own entry (src/cli/main.ts). */
async function runSample(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(['sample', ...args]);
}

const meta = (over: Partial<ScoreModelMeta> = {}): ScoreModelMeta => ({
  format: 'spinbath-score/1',
  d: D,
  vocab: VOCAB,
  fieldSource: 'final',
  schedule: { kind: 'linear', betaMin: 0.1, betaMax: 20, T: 1 },
  eta: 1,
  modelHash: 'x',
  tMin: 1e-3,
  fieldScaling: 'unit',
  ...over, // tMin = the sampler's default 1e-3·T
});

describe('generateGuided', () => {
  it('is deterministic in the seed, batches prompts × samples and leaks no tensors', async () => {
    const opts = { prompts: ['The cat sat on the', 'Hello'], samples: 3, tokens: 4, eta: 2, steps: 20, seed: 5 };
    lm.model.params().get('embed.W_E'); // the model's own parameter tensor exists before counting (owned by the model, made once on either engine)
    const before = tf.memory().numTensors;
    const a = await generateGuided(lm, opts);
    expect(tf.memory().numTensors).toBe(before);
    const b = await generateGuided(lm, opts);
    const c = await generateGuided(lm, { ...opts, seed: 6 });
    expect(a).toHaveLength(6);
    expect(a.map((r) => [r.promptIndex, r.sample])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    expect(a.map((r) => r.tokens)).toEqual(b.map((r) => r.tokens));
    expect(a.map((r) => r.tokens)).not.toEqual(c.map((r) => r.tokens));
    for (const r of a) {
      expect(r.tokens).toHaveLength(4);
      expect(r.text).toBe(lm.tokenizer.decode(r.tokens));
      expect(r.tokens).not.toContain(lm.tokenizer.eosId);
      for (const t of r.trace) {
        expect(t.steps).toBe(20);
        expect(t.cosChosen).toBeGreaterThanOrEqual(t.cosRunnerUp);
        expect(t.fieldNorm).toBeGreaterThan(0);
      }
    }
    // samples of one prompt share its first field; different prompts do not
    expect(a[0].trace[0].fieldNorm).toBeCloseTo(a[2].trace[0].fieldNorm, 5);
    expect(a[0].trace[0].fieldNorm).not.toBeCloseTo(a[3].trace[0].fieldNorm, 3);
  });

  it('with strong guidance and almost no noise, each token is the nearest token spin to N̂ of its context (fields from the KV cache match a fresh forward)', async () => {
    const quiet = { kind: 'constant' as const, betaMin: 1e-6, betaMax: 1e-6, T: 1 };
    const res = await generateGuided(lm, { prompts: ['Once upon a time'], samples: 2, tokens: 5, eta: 40, steps: 50, schedule: quiet, seed: 1 });
    const readout = new TokenReadout(lm.model.params().get('embed.W_E')!, [lm.tokenizer.eosId]);
    for (const r of res) {
      for (let k = 0; k < r.tokens.length; k++) {
        const ctx = [...r.promptTokens, ...r.tokens.slice(0, k)];
        const N = await contextFields(lm.model, [ctx], { kind: 'final' }); // no cache
        const norm = tf.tidy(() => tf.norm(N)).dataSync()[0];
        const Nhat = tf.tidy(() => tf.div(N, norm));
        expect(r.trace[k].fieldNorm, `token ${k}: field norm`).toBeCloseTo(norm, 3);
        expect(r.tokens[k], `token ${k}`).toBe(readout.nearest(Nhat).ids[0]);
        expect(r.trace[k].cosChosen).toBeGreaterThan(0);
        tf.dispose([N, Nhat]);
      }
    }
    readout.dispose();
    expect(res[0].tokens).toEqual(res[1].tokens); // deterministic limit: both samples agree
  });

  it('runs LLG mode, Euler, the softmax readout and a learned score through the same path', async () => {
    let calls = 0;
    const zero: ScoreModel = {
      meta: meta(),
      bind: () => ({ score: (_S, _t, out) => (calls++, out.fill(0), undefined), dispose: () => {} }),
      dispose: () => {},
    };
    const res = await generateGuided(lm, {
      prompts: ['A'],
      tokens: 2,
      steps: 10,
      lambda: 0.5,
      gamma: 2,
      integrator: 'euler',
      readout: 'softmax',
      readoutTemperature: 0.05,
      score: zero,
    });
    expect(res[0].tokens).toHaveLength(2);
    expect(calls).toBe(2 * 10); // one score call per Euler step
  });

  it('stops at a non-finite value, naming the token and step, and keeps the tokens made before it', async () => {
    let calls = 0;
    const K = 8;
    const bad: ScoreModel = {
      meta: meta(),
      bind: () => ({ score: (_S, _t, out) => void out.fill(++calls > 2 * K + 6 ? NaN : 0), dispose: () => {} }), // Heun: 2 calls per step
      dispose: () => {},
    };
    const before = tf.memory().numTensors;
    const res = await generateGuided(lm, { prompts: ['A', 'B'], tokens: 4, steps: K, score: bad, maxBatch: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(res[0].tokens).toHaveLength(1);
    expect(res[0].error).toMatch(/non-finite value in the reverse SDE at token 2, step 4 of 8/);
    expect(res[1].tokens).toHaveLength(0);
    expect(res[1].error).toMatch(/^not generated/);
  });

  it('refuses bad options and mismatched score checkpoints with one-line UserErrors', async () => {
    const go = (o: object) => generateGuided(lm, { prompts: ['A'], tokens: 1, ...o });
    await expect(go({ eta: -1 })).rejects.toThrow(/eta must be a finite number ≥ 0/);
    await expect(go({ lambda: NaN })).rejects.toThrow(/lambda/);
    await expect(go({ steps: 0 })).rejects.toThrow(/steps must be an integer/);
    await expect(go({ schedule: { kind: 'linear', betaMin: 2, betaMax: 1, T: 1 } })).rejects.toThrow(/betaMin must not exceed betaMax/);
    await expect(go({ fieldSource: { kind: 'layer', layer: 9 } })).rejects.toThrow(/layer 9 does not exist/);
    for (const [over, what] of [
      [{ d: 32 }, /d = 32/],
      [{ vocab: 300 }, /vocabulary 300/],
      [{ fieldSource: 'layer:1' }, /field source layer:1/],
    ] as const) {
      const s: ScoreModel = { meta: meta(over), bind: () => ({ score: (_S, _t, out) => void out.fill(0), dispose: () => {} }), dispose: () => {} };
      await expect(go({ score: s })).rejects.toThrow(what);
    }
    const long = 'x '.repeat(30).trim(); // 30 tokens
    await expect(go({ prompts: [long] })).rejects.toThrow(/--truncate left/);
    await expect(go({ prompts: ['a b c d e f g h i j k l m n o p q r s t'], tokens: 10 })).rejects.toThrow(/exceed the model's context of 24/);
    const ok = await go({ prompts: [long], tokens: 3, truncate: 'left' });
    expect(ok[0].promptTokens).toHaveLength(24 - 2);
  });
});

describe('spinbath sample', () => {
  it('--json keeps the {prompt, text, tokens, trace} contract; several samples give an array', async () => {
    const r = await runSample(['--model', dir, '--prompt', 'The cat', '--tokens', '3', '--steps', '10', '--score', 'none', '--json', '--seed', '3', ...B]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(['prompt', 'text', 'tokens', 'trace']);
    expect(j.prompt).toBe('The cat');
    expect(j.tokens).toHaveLength(3);
    expect(Object.keys(j.trace[0]).sort()).toEqual(['cosChosen', 'cosRunnerUp', 'fieldNorm', 'runnerUp', 'steps']);
    const lib = await generateGuided(lm, { prompts: ['The cat'], tokens: 3, steps: 10, seed: 3 });
    expect(j.tokens).toEqual(lib[0].tokens);

    const file = join(root, 'prompts.txt');
    writeFileSync(file, 'The cat\nA dog\n');
    const m = await runSample(['--model', dir, '--prompts', file, '--samples', '2', '--tokens', '2', '--steps', '5', '--score', 'none', '--json', ...B]);
    expect(m.code, m.stderr).toBe(0);
    const arr = JSON.parse(m.stdout);
    expect(arr).toHaveLength(4);
    expect(Object.keys(arr[0]).sort()).toEqual(['prompt', 'promptNumber', 'sampleNumber', 'text', 'tokens', 'trace']);
    expect(arr.map((r: { promptNumber: number; sampleNumber: number }) => [r.promptNumber, r.sampleNumber])).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ]);
  });

  it('streams the continuation after the prompt without --json', async () => {
    const r = await runSample(['--model', dir, '--prompt', 'The cat', '--tokens', '3', '--steps', '5', '--score', 'none', '--seed', '3', ...B]);
    expect(r.code, r.stderr).toBe(0);
    const lib = await generateGuided(lm, { prompts: ['The cat'], tokens: 3, steps: 5, seed: 3 });
    expect(r.stdout).toBe(`The cat${lib[0].text}\n`);
  });

  it('loads a score checkpoint written by training/ and refuses one made for another model', async () => {
    const network: NetworkConfig = { d: D, width: 8, depth: 2, activation: 'silu', timeEmbedding: 4, condition: true };
    const save = (name: string, over: Partial<ScoreNetMeta>) => {
      const m: ScoreNetMeta = {
        ...meta(),
        fieldScaling: 'unit',
        network,
        norm: { logS2Min: -7, logS2Max: 2.3, logNMean: 1, logNStd: 1 },
        training: { steps: 0, objective: 'dsm', weighting: 'sigma2' },
        ...over,
      };
      saveScoreModel(join(root, name), m, initParams(m.network, 0));
      return join(root, name);
    };
    const good = save('score-ok', {});
    const r = await runSample(['--model', dir, '--score', good, '--prompt', 'The', '--tokens', '2', '--steps', '5', '--json', ...B]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toHaveLength(2);
    // a checkpoint whose output bias is NaN: the first reverse step is non-finite
    const nanDir = save('score-nan', {});
    const w = initParams(network, 0);
    w.get('out.b')!.data.fill(NaN);
    saveScoreModel(nanDir, { ...(JSON.parse(readFileSync(join(nanDir, 'score.json'), 'utf8')) as ScoreNetMeta) }, w);
    const nan = await runSample(['--model', dir, '--score', nanDir, '--prompt', 'The', '--tokens', '2', '--steps', '5', '--json', ...B]);
    expect(nan.code).toBe(2);
    expect(nan.stderr.trim().split('\n')).toHaveLength(1);
    expect(nan.stderr).toMatch(/non-finite value in the reverse SDE at token 1, step 1 of 5/);
    expect(JSON.parse(nan.stdout)).toMatchObject({ prompt: 'The', tokens: [], error: expect.stringMatching(/non-finite/) });
    const other = save('score-other', { vocab: 8257 });
    const bad = await runSample(['--model', dir, '--score', other, '--prompt', 'The', '--tokens', '2', ...B]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/made for another model.*vocabulary 8257/);
  });

  it('exits 2 with one line on bad input', async () => {
    const cases: [string[], RegExp][] = [
      [['--eta', '-0.5'], /--eta must be a finite number ≥ 0/],
      [['--lambda', '-1'], /--lambda must be/],
      [['--steps', '0'], /--steps must be an integer/],
      [['--beta-max', '-3'], /--beta-max must be greater than 0 \(got -3\)/],
      [['--integrator', 'rk4'], /integrator, Given: "rk4", Choices: "heun", "euler"/],
      [['--field-source', 'head:7.0'], /head 7.0 does not exist/],
      [['--prompt', 'x '.repeat(40)], /longer than the model's context.*--truncate left/],
    ];
    for (const [extra, msg] of cases) {
      const prompt = extra.includes('--prompt') ? [] : ['--prompt', 'The'];
      const args = ['--model', dir, ...prompt, '--tokens', '2', '--score', 'none', ...B, ...extra];
      const r = await runSample(args);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(r.stderr, extra.join(' ')).toMatch(msg);
    }
  });
});
