/**
 * The decisive report (sampling/decisive.ts) and the controllability hooks:
 *  - Pareto flags on a hand-made set; bootstrap draws are seeded multiplicities summing to P;
 *  - decisiveRows under an n-gram evaluator equals an independent computation (perplexity from
 *    scoreNgram totals, per-prompt distinct-2 from metrics.ts distinctN, the hit rate by counting), and its
 *    95% intervals contain the point estimates and come from the same draws for every setting;
 *  - steering: with an external field α m̂ the stationary law is vMF about N̂ + α m̂ with
 *    κ = 2η|N̂ + α m̂|/β (the drift's closed form with the steered field);
 *  - logit bias: a large bias makes every greedy token a topic-word token.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateBaseline, topicTokenIds } from '../../sampling/baselines.js';
import { bootstrapDraws, decisiveCsv, decisiveRows, methodOf, paretoFlags, perOutputNgram, perOutputNll } from '../../sampling/decisive.js';
import { GuidedDrift } from '../../sampling/drift.js';
import { INTEGRATORS } from '../../sampling/integrators/index.js';
import { computeMetrics, distinctN } from '../../sampling/metrics.js';
import { integrateReverse } from '../../sampling/reverse.js';
import { expandGrid, parseSweepConfig, runLabel } from '../../sampling/sweep-config.js';
import type { ResultLine } from '../../sampling/sweep.js';
import { vmfMeanCos } from '../../sampling/vmf.js';
import { useBackend } from '../../src/backend.js';
import { uniformSpinRows } from '../../src/core/sphere.js';
import { KneserNeyBigram, scoreNgram } from '../../src/lm/ngram.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { makeRng } from '../../src/rng.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('Pareto flags and bootstrap draws', () => {
  it('flags exactly the non-dominated points (perplexity ↓, distinct-2 ↑)', () => {
    const ppl = [10, 20, 15, 30, 10];
    const d2 = [0.5, 0.9, 0.4, 0.9, 0.5];
    const { on, by } = paretoFlags(ppl, d2);
    // 2 is dominated by 0 (lower ppl, higher d2); 3 by 1; 0 and 4 tie (neither dominates)
    expect(on).toEqual([true, true, false, false, true]);
    expect(by[2]).toBe(0);
    expect(by[3]).toBe(1);
  });

  it('draws are seeded multiplicities of the prompts', () => {
    const a = bootstrapDraws(7, 20, 3);
    const b = bootstrapDraws(7, 20, 3);
    expect(a.map((w) => [...w])).toEqual(b.map((w) => [...w]));
    for (const w of a) expect(w.reduce((x, y) => x + y, 0)).toBe(7);
    expect(bootstrapDraws(7, 20, 4).map((w) => [...w])).not.toEqual(a.map((w) => [...w]));
  });
});

describe('decisiveRows', () => {
  it('equals an independent computation under an n-gram evaluator', async () => {
    const V = 50;
    const rng = makeRng('decisive-data');
    const corpus = Array.from({ length: 3000 }, () => rng.int(V));
    const kn = new KneserNeyBigram(corpus, V);
    const P = 6;
    const prompts = { ids: Array.from({ length: P }, () => [rng.int(V), rng.int(V)]) };
    const tokenizer = { encode: (w: string) => [w.trim().length % V] }; // topic word 'ab' → id 2
    const line = (params: ResultLine['params'], seed: number): ResultLine => ({
      runId: `${JSON.stringify(params)}/${seed}`,
      index: 0,
      label: '',
      params: { ...params, seed } as ResultLine['params'],
      setup: {} as ResultLine['setup'],
      generations: prompts.ids.map((_, p) => ({ promptIndex: p, sample: 0, text: '', tokens: Array.from({ length: 8 }, () => rng.int(V)) })),
      metrics: {},
    });
    const top = { kind: 'baseline', method: 'top-p', topP: 0.9 } as const;
    const guided = {
      kind: 'guided',
      fieldSource: 'final',
      score: 'none',
      schedule: 'default',
      steps: 50,
      lambda: 'off',
      eta: 1,
      gamma: 1,
      integrator: 'heun',
      readout: 'nearest',
      readoutTemperature: null,
    } as const;
    const lines = [line(top as never, 0), line(top as never, 1), line(guided as never, 0), line(guided as never, 1)];
    const rows = await decisiveRows(lines, prompts, [{ name: 'kn', kind: 'ngram', model: kn }], tokenizer, { bootstrap: 200, seed: 0, topicWords: ['ab'] });
    expect(rows.map((r) => r.method)).toEqual(['top-p', 'guided']);
    for (const [k, r] of rows.entries()) {
      const mine = lines.slice(2 * k, 2 * k + 2).flatMap((l) => l.generations);
      let nll = 0;
      let n = 0;
      for (const g of mine) {
        const s = scoreNgram(kn, [...prompts.ids[g.promptIndex], ...g.tokens], 2);
        nll += s.nll;
        n += s.tokens;
      }
      expect(r.perplexity).toBeCloseTo(Math.exp(nll / n), 9);
      let u = 0;
      let t = 0;
      for (let p = 0; p < P; p++) {
        const outs = mine.filter((g) => g.promptIndex === p).map((g) => g.tokens);
        const tot = outs.reduce((a, o) => a + o.length - 1, 0);
        u += distinctN(outs, 2) * tot; // unique bigrams of prompt p's outputs (metrics.ts)
        t += tot;
      }
      expect(r.distinct_2).toBeCloseTo(u / t, 12);
      const hits = mine.reduce((a, g) => a + g.tokens.filter((t) => t === 2).length, 0);
      expect(r.hit_rate).toBeCloseTo(hits / (8 * mine.length), 12);
      expect(r.prompts).toBe(P);
      expect(r.seeds).toBe(2);
      expect(r.perplexity_lo).toBeLessThanOrEqual(r.perplexity);
      expect(r.perplexity_hi).toBeGreaterThanOrEqual(r.perplexity);
      expect(r.distinct_2_lo).toBeLessThanOrEqual(r.distinct_2 + 1e-12);
      expect(r.distinct_2_hi).toBeGreaterThanOrEqual(r.distinct_2);
      expect(r.perplexity_hi).toBeGreaterThan(r.perplexity_lo);
    }
    const o = perOutputNgram(kn, [{ prompt: '', text: '', promptTokens: [1, 2], tokens: [3, 4, 5] }]);
    expect(o.count[0]).toBe(3);
    expect(o.nll[0]).toBeCloseTo(scoreNgram(kn, [1, 2, 3, 4, 5], 2).nll, 12);
    const csv = decisiveCsv(rows).split('\n');
    expect(csv[0]).toBe(
      'method,setting,prompts,seeds,evaluator,perplexity,perplexity_lo,perplexity_hi,distinct_2,distinct_2_lo,distinct_2_hi,hit_rate,hit_rate_lo,hit_rate_hi,pareto,dominated_by',
    );
    expect(csv).toHaveLength(4);
  });

  it("maps runs to the issue's method names", () => {
    expect(methodOf({ kind: 'euclidean', model: 'x', steps: 5, seed: 0 })).toBe('euclidean-ddpm');
    expect(methodOf({ kind: 'baseline', method: 'temperature', seed: 0, logitBias: { words: ['a'], bias: 2 } })).toBe('logit-bias');
    expect(methodOf({ kind: 'baseline', method: 'top-k', topK: 5, seed: 0 })).toBe('top-k');
  });
});

describe('decisive sweep grid', () => {
  it('expands integrators, annealed η, steering, euclidean and extra grids; labels name them', () => {
    const c = parseSweepConfig({
      tokens: 4,
      seeds: [0, 1],
      guided: { eta: [1, { kind: 'linear', from: 0.5, to: 3 }] },
      grids: [
        { method: 'steered', eta: [2], steer: { words: ['war'], alpha: [1, 4] } },
        { eta: [2], steps: [5, 10], integrators: ['midpoint', 'depondt'] },
      ],
      euclidean: { models: ['m/e'], steps: [50] },
      baselines: [{ method: 'greedy' }, { method: 'temperature', logitBias: { words: ['war'], bias: 2 } }],
    });
    const g = expandGrid(c);
    expect(g).toHaveLength(2 * 2 + 2 * 2 + 2 * 2 * 2 + 2 + 1 + 2);
    const labels = new Set(g.map(runLabel));
    expect(labels).toContain('guided η=linear 0.5→3 λ=off K=50');
    expect(labels).toContain('steered η=2 λ=off K=50 steer α=4');
    expect(labels).toContain('guided η=2 λ=off K=10 depondt');
    expect(labels).toContain('euclidean-ddpm m/e K=50');
    expect(labels).toContain('temperature bias=2');
    expect(() => parseSweepConfig({ tokens: 4, guided: { eta: [1], integrators: ['rk4'] } }, 'c.json')).toThrow(/integrators\[0\]/);
  });
});

describe('steering field', () => {
  it('stationary law: vMF about N̂ + α m̂ with κ = 2η|N̂ + α m̂|/β (d = 16)', () => {
    const d = 16;
    const n = 512;
    const N = new Float32Array(n * d);
    for (let i = 0; i < n; i++) N[i * d] = 3; // N̂ = e₀
    const m = new Float32Array(d);
    m[1] = 1; // m̂ = e₁
    const alpha = 0.75;
    const beta = 2 / 15;
    const eta = 0.4;
    const G = Math.hypot(1, alpha);
    const kappa = (2 * eta * G) / beta;
    const sde = new GuidedDrift({ N, d, eta, schedule: { kind: 'constant', betaMin: beta, betaMax: beta, T: 1e9 }, steer: { direction: m, alpha } });
    const rng = makeRng('steer-vmf');
    const dtau = 0.008;
    const Kb = 375;
    const Kc = 625;
    const sums = new Float64Array(n);
    let count = 0;
    integrateReverse(uniformSpinRows(n, d, rng), sde, {
      integrator: INTEGRATORS.heun,
      steps: Kb + Kc,
      T: (Kb + Kc) * dtau,
      tMin: 0,
      rng,
      onStep: (k, _t, S) => {
        if (k <= Kb || k % 4 !== 0) return;
        for (let i = 0; i < n; i++) sums[i] += (S[i * d] + alpha * S[i * d + 1]) / G; // S·Ĝ
        count++;
      },
    });
    sde.dispose();
    const means = Array.from(sums, (s) => s / count);
    const mean = means.reduce((a, b) => a + b, 0) / n;
    const se = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
    const exact = vmfMeanCos(d, kappa);
    expect(Math.abs(vmfMeanCos(d, (2 * eta) / beta) - exact), 'the steering changes the law measurably').toBeGreaterThan(8 * se);
    expect(Math.abs(mean - exact), `mean ${mean} vs ${exact}, se ${se}`).toBeLessThanOrEqual(3.5 * se);
  });
});

describe('per-output NLL under a GPT-2 evaluator', () => {
  it('pooled, equals metrics.ts perplexity of the same records (prompt as context)', async () => {
    const model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 50257, n_positions: 32, n_embd: 16, n_layer: 1, n_head: 2 }, 4));
    const tokenizer = await loadTokenizer();
    try {
      const ev = { model, tokenizer };
      const records = ['The cat', 'A long time ago', 'Yes'].map((prompt, i) => ({
        prompt,
        promptTokens: tokenizer.encode(prompt),
        text: '',
        tokens: [100 + i, 200 + i, 300 + i, 7 + i].slice(0, 2 + i),
      }));
      for (const r of records) r.text = tokenizer.decode(r.tokens);
      const { nll, count } = await perOutputNll(ev, records);
      const total = nll.reduce((a, b) => a + b, 0);
      const n = count.reduce((a, b) => a + b, 0);
      expect(n).toBe(2 + 3 + 4);
      expect(Math.exp(total / n)).toBeCloseTo((await computeMetrics(records, ev)).perplexity, 3);
    } finally {
      model.dispose();
    }
  });
});

describe('logit bias', () => {
  it('a large bias on topic words makes every greedy token a topic token; bias 0 changes nothing', async () => {
    const model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 50257, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 }, 9));
    const tokenizer = await loadTokenizer();
    try {
      const lm = { model, tokenizer };
      const words = ['war', 'army'];
      const ids = new Set(topicTokenIds(tokenizer, words));
      expect(ids.size).toBeGreaterThanOrEqual(2);
      const o = { prompts: ['The', 'A man'], tokens: 5, stopAtEos: false };
      const plain = await generateBaseline(lm, { method: 'greedy', ...o });
      const zero = await generateBaseline(lm, { method: 'greedy', ...o, logitBias: { words, bias: 0 } });
      const big = await generateBaseline(lm, { method: 'greedy', ...o, logitBias: { words, bias: 1e4 } });
      expect(zero.map((r) => r.tokens)).toEqual(plain.map((r) => r.tokens));
      for (const r of big) for (const t of r.tokens) expect(ids.has(t)).toBe(true);
      expect(tf.memory().numTensors).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });
});
