// Gradients are registered through src/core/gradients.ts (tfjs-core registers none by itself).
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '../../src/core/gradients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import { embeddingLookup, Gpt2Model, truncateLeft } from '../../src/model/gpt2.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { maxAbsDiff, naiveForward, randomIds, randomWeights, smallConfig } from './gpt2-fixtures.js';
import { centralDiff } from '../helpers/finiteDiff.js';

const cfg = smallConfig();
const weights = randomWeights(cfg, 7);
let model: Gpt2Model;

function rows3(t: tf.Tensor): number[][][] {
  return t.arraySync() as number[][][];
}

beforeAll(async () => {
  await useBackend('wasm');
  await ensureGradients();
  model = Gpt2Model.fromWeights(weights);
});
afterAll(() => model?.dispose());

describe('Gpt2Model forward', () => {
  it('runs on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('matches a naive float64 implementation (tied unembedding, gelu_new)', () => {
    const ids = randomIds(1, 2, 12, cfg.vocab_size);
    const logits = model.logits(ids);
    expect(logits.shape).toEqual([2, 12, cfg.vocab_size]);
    const got = rows3(logits);
    logits.dispose();
    for (let b = 0; b < 2; b++) {
      const ref = naiveForward(weights, ids[b]);
      expect(maxAbsDiff(got[b].flat(), ref.flat())).toBeLessThanOrEqual(1e-4);
    }
  });

  for (const variant of [
    { name: 'relu', cfg: smallConfig({ activation_function: 'relu' }), untied: false },
    { name: 'gelu (erf)', cfg: smallConfig({ activation_function: 'gelu' }), untied: false },
    { name: 'untied lm_head, n_inner 48, 3 layers', cfg: smallConfig({ n_inner: 48, n_layer: 3 }), untied: true },
  ]) {
    it(`matches the naive implementation: ${variant.name}`, () => {
      const w = randomWeights(variant.cfg, 11, { untiedHead: variant.untied });
      const m = Gpt2Model.fromWeights(w);
      const ids = randomIds(2, 1, 9, variant.cfg.vocab_size);
      const logits = m.logits(ids);
      expect(maxAbsDiff(logits.dataSync(), naiveForward(w, ids[0]).flat())).toBeLessThanOrEqual(1e-4);
      logits.dispose();
      expect(m.storedParams().has('unembed.W_U')).toBe(variant.untied);
      expect(m.params().get('unembed.W_U')!.shape).toEqual([variant.cfg.n_embd, variant.cfg.vocab_size]);
      m.dispose();
    });
  }

  it('lastLogits is the last position of logits', () => {
    const ids = randomIds(3, 3, 5, cfg.vocab_size);
    const all = rows3(model.logits(ids));
    const last = model.lastLogits(ids);
    expect(last.shape).toEqual([3, cfg.vocab_size]);
    expect(maxAbsDiff(last.dataSync(), all.map((r) => r[4]).flat())).toBeLessThanOrEqual(1e-5);
    last.dispose();
  });

  it('a batch equals its rows run alone', () => {
    const ids = randomIds(4, 3, 10, cfg.vocab_size);
    const batch = model.logits(ids);
    const all = rows3(batch);
    batch.dispose();
    for (let b = 0; b < 3; b++) {
      const one = model.logits([ids[b]]);
      expect(maxAbsDiff(one.dataSync(), all[b].flat())).toBeLessThanOrEqual(1e-5);
      one.dispose();
    }
  });

  it('KV-cached incremental decoding equals full recompute (one token at a time, and chunks)', () => {
    const ids = randomIds(5, 2, 15, cfg.vocab_size);
    const full = model.logits(ids);
    const ref = rows3(full);
    full.dispose();
    for (const chunks of [Array(15).fill(1), [3, 2, 4, 1, 5]]) {
      const cache = model.newCache();
      let start = 0;
      for (const n of chunks) {
        const part = ids.map((r) => r.slice(start, start + n));
        const out = model.logits(part, { cache });
        expect(cache.length).toBe(start + n);
        const want = ref.map((r) => r.slice(start, start + n)).flat(2);
        expect(maxAbsDiff(out.dataSync(), want)).toBeLessThanOrEqual(1e-4);
        out.dispose();
        start += n;
      }
      expect(cache.k[0]!.shape).toEqual([2, cfg.n_head, 15, cfg.n_embd / cfg.n_head]);
      cache.dispose();
    }
  });

  it('rejects prompts longer than n_positions with a UserError suggesting --truncate left', () => {
    const long = [Array(70).fill(1)];
    let err: unknown;
    try {
      model.logits(long);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe('E_INPUT');
    expect((err as UserError).message).toMatch(/70/);
    expect((err as UserError).message).toMatch(/64/);
    expect((err as UserError).message).toMatch(/--truncate left/);
    // a cache that would overflow
    const cache = model.newCache();
    model.logits([Array(60).fill(2)], { cache }).dispose();
    expect(() => model.logits([Array(5).fill(2)], { cache })).toThrow(/60 cached \+ 5 new tokens = 65.*64/);
    cache.dispose();
    // truncation helper
    expect(truncateLeft([1, 2, 3, 4, 5], 3)).toEqual([3, 4, 5]);
    expect(
      truncateLeft(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        2,
      ),
    ).toEqual([
      [2, 3],
      [5, 6],
    ]);
    expect(truncateLeft([1, 2], 5)).toEqual([1, 2]);
    const t = model.logits(truncateLeft(long, 64));
    expect(t.shape).toEqual([1, 64, cfg.vocab_size]);
    t.dispose();
  });

  it('rejects bad ids', () => {
    expect(() => model.logits([[1, 2], [3]])).toThrow(UserError);
    expect(() => model.logits([[1, 97]])).toThrow(/outside the vocabulary/);
    expect(() => model.logits([])).toThrow(UserError);
  });

  it('does not grow tf.memory().numTensors over 20 forwards (plain and KV-cached)', () => {
    const ids = randomIds(6, 2, 8, cfg.vocab_size);
    model.logits(ids).dispose(); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) model.logits(ids).dispose();
    for (let i = 0; i < 20; i++) model.lastLogits(ids).dispose();
    expect(tf.memory().numTensors).toBe(before);
    const cache = model.newCache();
    for (let i = 0; i < 20; i++) model.logits([[i], [i + 1]], { cache }).dispose();
    expect(tf.memory().numTensors).toBe(before + 2 * cfg.n_layer); // the cache holds K and V per layer
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('toWeights round-trips the host weights (c_attn re-joined from W_Q | W_K | W_V)', () => {
    const back = model.toWeights();
    expect([...back.tensors.keys()].sort()).toEqual([...weights.tensors.keys()].sort());
    for (const [name, t] of weights.tensors) {
      expect(back.tensors.get(name)!.shape).toEqual(t.shape);
      expect(maxAbsDiff(back.tensors.get(name)!.data, t.data)).toBe(0);
    }
    const untied = randomWeights(cfg, 3, { untiedHead: true });
    const m = Gpt2Model.fromWeights(untied);
    expect(maxAbsDiff(m.toWeights().tensors.get('lm_head.weight')!.data, untied.tensors.get('lm_head.weight')!.data)).toBe(0);
    m.dispose();
  });

  it('splits c_attn into per-head W_Q, W_K, W_V [n_heads, d_model, d_head] by columns', () => {
    const p = model.params();
    const c = weights.tensors.get('h.1.attn.c_attn.weight')!.data;
    const [d, H] = [cfg.n_embd, cfg.n_head];
    const dh = d / H;
    const wk = p.get('blocks.1.attn.W_K')!.arraySync() as number[][][];
    for (const [h, i, col] of [
      [0, 3, 5],
      [2, 0, 1],
      [H - 1, d - 1, dh - 1],
    ])
      expect(wk[h][i][col]).toBe(c[i * 3 * d + d + h * dh + col]);
    const bv = p.get('blocks.1.attn.b_V')!.arraySync() as number[][];
    expect(bv[1][2]).toBe(weights.tensors.get('h.1.attn.c_attn.bias')!.data[2 * d + dh + 2]);
    const stored = model.storedParams().get('blocks.1.attn.c_attn_k.weight')!.dataSync();
    expect(stored[3 * d + 5]).toBe(c[3 * 3 * d + d + 5]);
  });
});

describe('autograd', () => {
  it('embedding lookup gradient (customGrad, oneHotᵀ·dy) matches the scatter-add of dy', () => {
    const table = tf.variable(tf.tensor2d(normalArray(makeRng(1), 10 * 4), [10, 4]));
    const ids = tf.tensor1d([3, 1, 3, 9], 'int32');
    const dyData = normalArray(makeRng(2), 4 * 4);
    const dy = tf.tensor2d(dyData, [4, 4]);
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(embeddingLookup(table, ids), dy)) as tf.Scalar, [table]);
    const g = grads[table.name].arraySync() as number[][];
    const want = Array.from({ length: 10 }, () => [0, 0, 0, 0]);
    [3, 1, 3, 9].forEach((t, i) => want[t].forEach((_, j) => (want[t][j] += dyData[i * 4 + j])));
    expect(maxAbsDiff(g.flat(), want.flat())).toBeLessThanOrEqual(1e-6);
    tf.dispose([table, ids, dy, value, grads[table.name]]);
  });

  it('d(Σ R·logits)/d wte agrees with finite differences of the float64 reference', () => {
    const w = randomWeights(cfg, 21);
    const m = Gpt2Model.fromWeights(w, { trainable: true });
    const ids = [[5, 17, 5, 40, 2, 88]];
    const R = normalArray(makeRng(9), ids[0].length * cfg.vocab_size);
    const Rt = tf.tensor3d(R, [1, ids[0].length, cfg.vocab_size]);
    const W_E = m.params().get('embed.W_E') as tf.Variable;
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(m.logits(ids), Rt)) as tf.Scalar, [W_E]);
    const g = grads[W_E.name].dataSync();
    const f = (ww: typeof w) =>
      naiveForward(ww, ids[0])
        .flat()
        .reduce((s, v, i) => s + v * R[i], 0);
    const wte = w.tensors.get('wte.weight')!.data;
    const d = cfg.n_embd;
    // entries of rows used as inputs (embedding + unembedding paths) and of an unused row (unembedding only)
    for (const [row, col] of [
      [5, 0],
      [5, 13],
      [17, 31],
      [40, 7],
      [60, 3],
    ]) {
      const i = row * d + col;
      const fd = centralDiff(wte, i, 1e-3, () => f(w));
      expect(Math.abs(g[i] - fd)).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(fd)));
    }
    tf.dispose([Rt, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('training-mode forward on wasm: gradients for every parameter, and SGD lowers the loss', () => {
    const m = Gpt2Model.fromWeights(randomWeights(cfg, 5), { trainable: true });
    const ids = randomIds(8, 2, 10, cfg.vocab_size);
    const targets = tf.oneHot(
      tf.tensor1d(
        ids.flat().map((t) => (t * 7 + 3) % cfg.vocab_size),
        'int32',
      ),
      cfg.vocab_size,
    );
    const vars = [...m.storedParams().values()] as tf.Variable[];
    const loss = () =>
      tf.tidy(() => {
        const logits = tf.reshape(m.logits(ids), [-1, cfg.vocab_size]); // [b·p, vocab]
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), targets), -1))) as tf.Scalar;
      });
    const l0t = loss();
    const l0 = l0t.dataSync()[0];
    l0t.dispose();
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const { value, grads } = tf.variableGrads(loss, vars);
      for (const v of vars) {
        const gr = grads[v.name];
        expect(gr.shape).toEqual(v.shape);
        expect(Array.from(gr.dataSync()).every(Number.isFinite)).toBe(true);
        tf.tidy(() => v.assign(tf.sub(v, tf.mul(gr, 0.05))));
      }
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    const l1t = loss();
    const l1 = l1t.dataSync()[0];
    l1t.dispose();
    expect(l1).toBeLessThan(l0);
    targets.dispose();
    m.dispose();
  });
});
