/** Attention baselines: greedy / temperature / top-k / top-p / repetition penalty, and `spinbath generate`. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, argmax, chooseToken, generateBaseline, StreamDecoder, topIndices, type BaselineLm } from '../../sampling/baselines.js';
import { useBackend } from '../../src/backend.js';
import { generateDef } from '../../src/cli/defs/generation.js';
import { globalOptions } from '../../src/cli/io.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import type { Tokenizer } from '../../src/model/tokenizer.js';
import { makeRng } from '../../src/rng.js';
import { randomGpt2Weights, tinyTokenizer, writeTinyGpt2 } from '../helpers/tinyGpt2.js';

let lm: BaselineLm;
let tokenizer: Tokenizer;
const promptIds = [
  [4, 9, 33],
  [2, 71, 5],
  [17, 40, 41, 3],
];
const prompts = ['a', 'b', 'c'];

beforeAll(async () => {
  await useBackend('wasm');
  tokenizer = await tinyTokenizer(300); // fits the 300-row embedding below
  lm = { model: Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 300, n_positions: 32 }, 3)), tokenizer };
});
afterAll(() => lm.model.dispose());

const softmax = (z: number[], T: number) => {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp((x - m) / T));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('host samplers', () => {
  it('repetition penalty: z/θ for positive, z·θ for negative logits, once per distinct token', () => {
    const z = Float32Array.from([2, -1, 0.5, 3, 0]);
    applyRepetitionPenalty(z, [0, 1, 1, 4], 2);
    expect(Array.from(z)).toEqual([1, -2, 0.5, 3, 0]);
    const g = Float32Array.from([3, 2.9]);
    expect(chooseToken(applyRepetitionPenalty(g, [0], 1.5), { method: 'greedy' }, makeRng(0))).toBe(1); // 2 < 2.9
  });

  it('topIndices: largest first, ties by lower id; quickselect path equals a full sort', () => {
    expect(topIndices([1, 3, 3, 0, 2], 3)).toEqual([1, 2, 4]);
    const rng = makeRng('top');
    const z = Float32Array.from({ length: 5000 }, () => Math.round(rng.normal() * 20) / 4);
    const full = Array.from({ length: z.length }, (_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
    expect(topIndices(z, 37)).toEqual(full.slice(0, 37));
  });

  it('temperature sampling matches softmax(z/T) (chi-square and 4σ per bucket)', () => {
    const z = [2, 1, 0.5, 0, -1, 1.5];
    const T = 0.7;
    const p = softmax(z, T);
    const N = 20000;
    const counts = new Array(z.length).fill(0);
    const rng = makeRng('temp-test');
    const zf = Float32Array.from(z);
    for (let i = 0; i < N; i++) counts[chooseToken(zf, { method: 'temperature', temperature: T }, rng)]++;
    let chi2 = 0;
    p.forEach((pi, i) => {
      chi2 += (counts[i] - N * pi) ** 2 / (N * pi);
      expect(Math.abs(counts[i] - N * pi)).toBeLessThan(4 * Math.sqrt(N * pi * (1 - pi)));
    });
    expect(chi2).toBeLessThan(20.5); // χ²(5) at p = 0.001
  });

  it('top-k and top-p sample only from their support, with renormalised frequencies', () => {
    const z = Float32Array.from([0, 3, 1, 2, -1]); // order: 1, 3, 2, 0, 4
    const rng = makeRng('support');
    const k2 = new Array(5).fill(0);
    const p8 = new Array(5).fill(0);
    const N = 8000;
    for (let i = 0; i < N; i++) {
      k2[chooseToken(z, { method: 'top-k', topK: 2 }, rng)]++;
      p8[chooseToken(z, { method: 'top-p', topP: 0.8 }, rng)]++;
    }
    expect(k2[0] + k2[2] + k2[4]).toBe(0);
    const q = softmax([3, 2], 1)[0];
    expect(Math.abs(k2[1] / N - q)).toBeLessThan(4 * Math.sqrt((q * (1 - q)) / N));
    // softmax masses: 0.636, 0.234, 0.086, 0.032, 0.012 → the first two reach 0.87 ≥ 0.8
    expect(p8[0] + p8[2] + p8[4]).toBe(0);
    expect(p8[1] + p8[3]).toBe(N);
  });
});

describe('generateBaseline', async () => {
  it('greedy equals the argmax of full-recompute logits at every step', async () => {
    const res = await generateBaseline(lm, { method: 'greedy', prompts, promptIds, tokens: 12 });
    expect(res.map((r) => r.tokens.length)).toEqual([12, 12, 12]);
    for (const r of res) {
      const ctx = [...promptIds[r.promptIndex]];
      for (const t of r.tokens) {
        const z = await lm.model.lastLogitsAsync([ctx]); // [1, vocab]
        expect(t).toBe(argmax(z.dataSync()));
        z.dispose();
        ctx.push(t);
      }
    }
  });

  it('top-k k=1 and top-p p→0 equal greedy; rows do not depend on batching', async () => {
    const greedy = await generateBaseline(lm, { method: 'greedy', prompts, promptIds, tokens: 10, samples: 2 });
    const k1 = await generateBaseline(lm, { method: 'top-k', topK: 1, prompts, promptIds, tokens: 10, samples: 2, seed: 5 });
    const p0 = await generateBaseline(lm, { method: 'top-p', topP: 1e-9, prompts, promptIds, tokens: 10, samples: 2, seed: 6, batchSize: 1 });
    expect(k1.map((r) => r.tokens)).toEqual(greedy.map((r) => r.tokens));
    expect(p0.map((r) => r.tokens)).toEqual(greedy.map((r) => r.tokens));
  });

  it('same seed → same output, batch size does not matter; another seed differs', async () => {
    const opts = { method: 'temperature' as const, temperature: 1.5, prompts, promptIds, tokens: 12, samples: 3 };
    const a = await generateBaseline(lm, { ...opts, seed: 1 });
    const b = await generateBaseline(lm, { ...opts, seed: 1, batchSize: 2 });
    const c = await generateBaseline(lm, { ...opts, seed: 2 });
    expect(b).toEqual(a);
    expect(c.map((r) => r.tokens)).not.toEqual(a.map((r) => r.tokens));
    expect(a[0].text).toBe(tokenizer.decode(a[0].tokens));
  });

  it('no growth of tf.memory().numTensors over a long generation', async () => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    await generateBaseline(lm, {
      method: 'top-p',
      topP: 0.9,
      repetitionPenalty: 1.3,
      prompts,
      promptIds,
      tokens: 28,
      samples: 2,
      onToken: (e) => e.prompt === 0 && e.sample === 0 && counts.push(tf.memory().numTensors),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(counts.length).toBe(28);
    expect(new Set(counts.slice(1)).size).toBe(1);
  });

  it('<|endoftext|> ends a sample (not kept) unless stopAtEos is false', async () => {
    const first = (await generateBaseline(lm, { method: 'greedy', prompts, promptIds, tokens: 4 }))[0].tokens[0];
    const eosLm = { model: lm.model, tokenizer: { ...tokenizer, eosId: first } };
    const stopped = await generateBaseline(eosLm, { method: 'greedy', prompts, promptIds, tokens: 4 });
    expect(stopped[0]).toMatchObject({ tokens: [], text: '', stop: 'eos' });
    expect(stopped[1].stop).toBe(stopped[1].tokens.length === 4 ? 'length' : 'eos');
    const kept = await generateBaseline(eosLm, { method: 'greedy', prompts, promptIds, tokens: 4, stopAtEos: false });
    expect(kept[0].tokens.length).toBe(4);
  });

  it('too long a prompt is a one-line error, or cut with truncate left', async () => {
    const long = [Array.from({ length: 30 }, (_, i) => i)];
    await expect(generateBaseline(lm, { method: 'greedy', prompts: ['x'], promptIds: long, tokens: 5 })).rejects.toThrow(/--truncate left/);
    expect((await generateBaseline(lm, { method: 'greedy', prompts: ['x'], promptIds: long, tokens: 5, truncate: 'left' }))[0].tokens.length).toBe(5);
    expect((await generateBaseline(lm, { method: 'greedy', prompts: ['x'], promptIds: [long[0].slice(0, 28)], tokens: 5 }))[0].tokens.length).toBe(5); // 28 + 4 fed = 32
    await expect(generateBaseline(lm, { method: 'top-p', prompts, promptIds, tokens: 5 })).rejects.toThrow(/topP/);
  });

  it('StreamDecoder holds back a partial UTF-8 character', () => {
    const ids = tokenizer.encode('é!'); // 'é' is two byte tokens in GPT-2's byte-level BPE when alone
    const d = new StreamDecoder(tokenizer);
    let out = '';
    for (let i = 1; i <= ids.length; i++) out += d.push(ids.slice(0, i));
    out += d.push(ids, true);
    expect(out).toBe('é!');
  });
});

describe('spinbath generate', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'spinbath-gen-'));
    writeTinyGpt2(join(dir, 'm'), { config: { vocab_size: 50257, n_positions: 32 }, seed: 1 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(args: string[]) {
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    await generateDef(io)(yargs(args).options(globalOptions))
      .strict()
      .exitProcess(false)
      .fail((m, e) => {
        throw e ?? new Error(m);
      })
      .parseAsync();
    return { out, err };
  }

  it('--json prints one {prompt, text, tokens} line per sample; --out writes the same JSONL', async () => {
    const file = join(dir, 'gen.jsonl');
    const args = [
      'generate',
      '--model',
      join(dir, 'm'),
      '--prompt',
      'The cat',
      '--prompt',
      'A dog',
      '--samples',
      '2',
      '--tokens',
      '6',
      '--top-p',
      '0.9',
      '--seed',
      '3',
      '--json',
    ];
    const r = await run([...args, '--out', file]);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(4);
    expect(Object.keys(lines[0])).toEqual(['prompt', 'text', 'tokens']);
    expect(lines[0].prompt).toBe('The cat');
    expect(lines[3].prompt).toBe('A dog');
    expect(readFileSync(file, 'utf8')).toBe(r.out);
    const again = await run(args);
    expect(again.out).toBe(r.out);
  });

  it('streams text without --json, and rejects conflicting flags in one line', async () => {
    const r = await run(['generate', '--model', join(dir, 'm'), '--prompt', 'Hello', '--tokens', '4']);
    expect(r.out.startsWith('Hello')).toBe(true);
    await expect(run(['generate', '--model', join(dir, 'm'), '--prompt', 'Hello', '--method', 'greedy', '--top-p', '0.5'])).rejects.toThrow(/--top-p/);
    await expect(run(['generate', '--model', join(dir, 'm'), '--prompt', 'Hello', '--top-k', '0'])).rejects.toThrow(/--top-k must be an integer ≥ 1 \(got 0\)/);
  });
});
