/**
 * Perplexity and baselines on hand-computed toy cases: add-one unigram and interpolated
 * Kneser–Ney bigram on a 3-symbol corpus, and the evaluation windows (every target once).
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { scoreWindows, windowPlan, type NllFn } from '../../src/lm/eval.js';
import { discount, KneserNeyBigram, scoreNgram, UnigramModel } from '../../src/lm/ngram.js';

// Symbols a=0, b=1, c=2. Train: a b a b a c c.
const train = [0, 1, 0, 1, 0, 2, 2];
// Test: a c b a b → targets c|a, b|c, a|b, b|a.
const test = [0, 2, 1, 0, 1];

describe('unigram baseline (add-one)', () => {
  it('p(w) = (c(w)+1)/(N+V): counts a3 b2 c2, N 7, V 3 → 4/10, 3/10, 3/10', () => {
    const u = new UnigramModel(train, 3);
    expect(Math.exp(u.logProb(0, 0))).toBeCloseTo(0.4, 12);
    expect(Math.exp(u.logProb(0, 2))).toBeCloseTo(0.3, 12);
    const s = scoreNgram(u, test);
    expect(s.tokens).toBe(4);
    expect(s.perplexity).toBeCloseTo((0.3 * 0.3 * 0.4 * 0.3) ** (-1 / 4), 10);
  });
});

describe('bigram baseline (interpolated Kneser-Ney)', () => {
  // Bigrams ab ×2, ba ×2, ac ×1, cc ×1: n1 = 2, n2 = 2 → D2 = 2/(2+4) = 1/3.
  // Continuation counts N1+(•a) = 1, N1+(•b) = 1, N1+(•c) = 2 (after a and c); 4 types;
  // n1 = 2, n2 = 1 → D1 = 2/4 = 1/2. p_cont = [(N1+(•w) − 1/2) + (1/2)·3/3] / 4 → a 1/4, b 1/4, c 1/2.
  // History a: c(a•) = 3, N1+(a•) = 2, λ = (1/3)·2/3 = 2/9:
  //   p(a|a) = 2/9·1/4 = 1/18, p(b|a) = (2 − 1/3)/3 + 1/18 = 11/18, p(c|a) = (1 − 1/3)/3 + 2/9·1/2 = 6/18.
  // History b: c(b•) = 2, N1+(b•) = 1, λ = 1/6: p(a|b) = (5/3)/2 + 1/24 = 21/24, p(b|b) = 1/24, p(c|b) = 2/24.
  // History c: c(c•) = 1 (the final c has no successor), λ = 1/3: p(c|c) = 2/3 + 1/6 = 5/6, p(a|c) = p(b|c) = 1/12.
  const kn = new KneserNeyBigram(train, 3);
  it('discounts from count-of-counts', () => {
    expect(kn.d2).toBeCloseTo(1 / 3, 12);
    expect(kn.d1).toBeCloseTo(1 / 2, 12);
    expect(discount([3, 4])).toBe(0.5);
  });
  it('gives the hand-computed conditional probabilities, each row summing to 1', () => {
    const want = [
      [1 / 18, 11 / 18, 6 / 18],
      [21 / 24, 1 / 24, 2 / 24],
      [1 / 12, 1 / 12, 5 / 6],
    ];
    for (let v = 0; v < 3; v++) for (let w = 0; w < 3; w++) expect(kn.prob(v, w)).toBeCloseTo(want[v][w], 12);
  });
  it('perplexity of a c b a b = (p(c|a)·p(b|c)·p(a|b)·p(b|a))^(−1/4)', () => {
    const s = scoreNgram(kn, test);
    expect(s.tokens).toBe(4);
    expect(s.perplexity).toBeCloseTo(((6 / 18) * (1 / 12) * (21 / 24) * (11 / 18)) ** (-1 / 4), 10);
  });
  it('falls back to p_cont for a history never seen in training', () => {
    const k = new KneserNeyBigram([0, 1, 0, 1], 4); // token 3 never occurs
    const row = [0, 1, 2, 3].map((w) => k.prob(3, w));
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(row[3]).toBeGreaterThan(0);
  });
});

describe('evaluation windows', () => {
  const covered = (T: number, C: number, S: number) => {
    const seen = new Array<number>(T).fill(0);
    for (const w of windowPlan(T, C, S)) {
      expect(w.len).toBeLessThanOrEqual(C);
      expect(w.score).toBeLessThanOrEqual(w.len);
      for (let k = w.len - w.score; k < w.len; k++) seen[w.start + 1 + k]++;
    }
    return seen;
  };
  it('score every target 1..T−1 exactly once, non-overlapping and strided', () => {
    for (const [T, C, S] of [
      [10, 4, 4],
      [10, 4, 2],
      [10, 4, 1],
      [2, 4, 4],
      [9, 4, 3],
      [100, 16, 16],
    ]) {
      const seen = covered(T, C, S);
      expect(seen[0]).toBe(0);
      expect(seen.slice(1).every((n) => n === 1)).toBe(true);
    }
  });
  it('non-overlapping windows of C = 4 over 10 tokens', () => {
    expect(windowPlan(10, 4, 4)).toEqual([
      { start: 0, len: 4, score: 4 },
      { start: 4, len: 4, score: 4 },
      { start: 8, len: 1, score: 1 },
    ]);
  });
  it('strided windows give each scored target at least C − S tokens of context', () => {
    for (const w of windowPlan(50, 8, 3).slice(1)) expect(w.len - w.score + 1).toBeGreaterThanOrEqual(8 - 3);
  });
  it('rejects a stride outside [1, C]', () => {
    expect(() => windowPlan(10, 4, 5)).toThrow(UserError);
    expect(() => windowPlan(10, 4, 0)).toThrow(UserError);
  });
  it('a context-free scorer gives the same perplexity through any windowing (here: the unigram model)', async () => {
    const u = new UnigramModel(train, 3);
    const nll: NllFn = (_x, y) => Array.from(y, (t) => -u.logProb(0, t));
    const ids = [0, 2, 1, 0, 1, 1, 2, 0, 0, 2, 1];
    const want = scoreNgram(u, ids);
    for (const [C, S, B] of [
      [4, 4, 1],
      [4, 2, 3],
      [3, 1, 8],
    ]) {
      const r = await scoreWindows(ids, windowPlan(ids.length, C, S), nll, B);
      expect(r.tokens).toBe(ids.length - 1);
      expect(r.nll).toBeCloseTo(want.nll, 12);
    }
  });
  it('a bigram scorer sees each target with its true predecessor', async () => {
    const kn = new KneserNeyBigram(train, 3);
    const nll: NllFn = (x, y) => x.flatMap((row, r) => row.map((prev, k) => -kn.logProb(prev, y[r * row.length + k])));
    const ids = [0, 2, 1, 0, 1, 1, 2, 0, 0, 2, 1];
    const r = await scoreWindows(ids, windowPlan(ids.length, 4, 4), nll, 2);
    expect(r.nll).toBeCloseTo(scoreNgram(kn, ids).nll, 12);
  });
});
