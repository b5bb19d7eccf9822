/** Generation metrics against hand-computed cases, and `spinbath metrics`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMetrics, distinctN, evaluatorScores, loopPeriod, repetitionRate, textStats, zipfCoefficient, type Evaluator } from '../../sampling/metrics.js';
import { useBackend } from '../../src/backend.js';
import { metricsDef } from '../../src/cli/defs/generation.js';
import { globalOptions } from '../../src/cli/io.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { randomGpt2Weights, tinyTokenizer, writeTinyGpt2 } from '../helpers/tinyGpt2.js';

describe('text statistics (token ids)', () => {
  it('distinct-n pools n-grams over outputs without crossing them', () => {
    const outs = [
      [1, 2, 3, 1, 2],
      [1, 2],
    ];
    expect(distinctN(outs, 1)).toBeCloseTo(3 / 7, 12);
    expect(distinctN(outs, 2)).toBeCloseTo(3 / 5, 12); // 12 23 31 12 | 12
    expect(distinctN(outs, 3)).toBe(1); // 123 231 312
    expect(distinctN([[1]], 2)).toBeNaN();
  });

  it('repetition: 1 − unique/total 4-grams per output, averaged over outputs that have one', () => {
    expect(repetitionRate([1, 2, 3, 4, 1, 2, 3, 4, 1])).toBeCloseTo(1 - 4 / 6, 12);
    expect(repetitionRate([1, 2, 3])).toBeNaN();
    const s = textStats([[1, 2, 3, 4, 1, 2, 3, 4, 1], [5, 6, 7, 8, 9], [1]]);
    expect(s.repetition_4).toBeCloseTo((1 / 3 + 0) / 2, 12);
  });

  it('loops: the last 3p tokens are one p-block repeated, p ≤ 8', () => {
    expect(loopPeriod([1, 1, 1])).toBe(1);
    expect(loopPeriod([5, 1, 2, 1, 2, 1, 2])).toBe(2);
    expect(loopPeriod([3, 1, 2, 3, 1, 2, 3, 1, 2, 3])).toBe(3);
    expect(loopPeriod([1, 2, 1, 2])).toBe(0); // only twice
    expect(loopPeriod([1, 2, 1, 2, 1, 2, 7])).toBe(0); // broken at the end
    const block9 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(loopPeriod([...block9, ...block9, ...block9])).toBe(0); // period 9 > 8
    const block8 = block9.slice(0, 8);
    expect(loopPeriod([...block8, ...block8, ...block8])).toBe(8);
    expect(textStats([[1, 1, 1], [1, 2, 3], [4, 2, 4, 2, 4, 2], [9]]).loop_rate).toBe(0.5);
  });

  it('Zipf: recovers the exponent of an exact power law', () => {
    const fromCounts = (counts: number[]) => counts.flatMap((c, id) => new Array(c).fill(id + 100));
    expect(zipfCoefficient([fromCounts([60, 30, 20, 15, 12, 10])])).toBeCloseTo(1, 10); // 60/r
    expect(zipfCoefficient([fromCounts([9, 36, 144, 16])])).toBeCloseTo(2, 10); // 144/r², any id order
    expect(zipfCoefficient([[1, 1, 1]])).toBeNaN();
  });
});

describe('evaluator metrics', () => {
  let ev: Evaluator;
  beforeAll(async () => {
    await useBackend('wasm');
    ev = { model: Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 300, n_positions: 16 }, 4)), tokenizer: await tinyTokenizer(300) };
  });
  afterAll(() => ev.model.dispose());

  it('perplexity and entropy equal a direct computation from full-recompute logits', async () => {
    const recs = [
      { promptTokens: [40, 41, 42], tokens: [43, 44, 45, 46] },
      { promptTokens: [72, 69], tokens: [76, 76, 79] },
      { promptTokens: [72, 70], tokens: [33] },
    ].map((r) => ({ ...r, prompt: ev.tokenizer.decode(r.promptTokens), text: ev.tokenizer.decode(r.tokens) }));
    let nll = 0;
    let ent = 0;
    let n = 0;
    for (const r of recs) {
      const ctx = [...r.promptTokens];
      for (const t of r.tokens) {
        const zt = ev.model.lastLogits([ctx]);
        const z = Array.from(zt.dataSync());
        zt.dispose();
        const m = Math.max(...z);
        const logZ = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
        const logp = z.map((x) => x - logZ);
        nll -= logp[t];
        ent -= logp.reduce((a, lp) => a + Math.exp(lp) * lp, 0) / Math.LN2;
        n++;
        ctx.push(t);
      }
    }
    const n0 = tf.memory().numTensors;
    const s = await evaluatorScores(ev, recs);
    expect(tf.memory().numTensors).toBe(n0);
    expect(s.tokens).toBe(8);
    expect(s.nll).toBeCloseTo(nll, 3);
    const m = await computeMetrics(recs, ev);
    expect(m.perplexity).toBeCloseTo(Math.exp(nll / n), 3);
    expect(m.entropy_bits).toBeCloseTo(ent / n, 4);
    expect(m.distinct_1).toBeCloseTo(7 / 8, 12);
  });

  it('re-encodes text whose tokens are not the evaluator’s own; empty prompts start at <|endoftext|>', async () => {
    const ids = ev.tokenizer.encode('%$&'); // [4, 3, 5]
    const rec = { prompt: '', text: '%$&', tokens: [1, 2, 3] }; // decodes to something else
    expect(ids.every((t) => t < 300)).toBe(true);
    const s = await evaluatorScores(ev, [rec]);
    expect(s.tokens).toBe(ids.length);
  });
});

describe('spinbath metrics', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'spinbath-metrics-'));
    writeTinyGpt2(join(dir, 'm'), { config: { vocab_size: 50257, n_positions: 32 }, seed: 2 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(args: string[]) {
    let out = '';
    const io = { out: (t: string) => void (out += t), err: () => {} };
    await metricsDef(io)(yargs(args).options(globalOptions))
      .strict()
      .exitProcess(false)
      .fail((m, e) => {
        throw e ?? new Error(m);
      })
      .parseAsync();
    return out;
  }

  it('--json reports every metric together; bad lines are one-line errors naming the line', async () => {
    const file = join(dir, 'g.jsonl');
    writeFileSync(
      file,
      [
        { prompt: 'The cat', text: ' sat on the mat', tokens: [3332, 319, 262, 2603] },
        { prompt: 'A', text: ' dog dog dog' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    const m = JSON.parse(await run(['metrics', '--input', file, '--evaluator', join(dir, 'm'), '--json']));
    for (const k of ['perplexity', 'entropy_bits', 'distinct_1', 'distinct_2', 'distinct_3', 'repetition_4', 'loop_rate', 'zipf']) expect(k in m).toBe(true);
    expect(m.outputs).toBe(2);
    expect(m.perplexity).toBeGreaterThan(1);
    expect(m.ngram_unit).toBe('token ids');
    writeFileSync(file, '{"prompt": "x", "text": 3}\n');
    await expect(run(['metrics', '--input', file, '--evaluator', join(dir, 'm')])).rejects.toThrow(/line 1: field text/);
  });
});
