/**
 * TransformerLens layouts (issue 11 point 4): every TransformerLens-named weight view has
 * TransformerLens's shape and indexing, and the attention hooks obey TransformerLens's identities
 * written in its own index order (q = ln1(x)·W_Q[h] + b_Q[h], z = Σ_j pattern·v, result = z·W_O[h]),
 * checked in float64 host loops against the model's activations.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations } from '../../src/model/hooks.js';
import { tlParamsFromHost, transformerLensShapes, type Gpt2Weights } from '../../src/model/weights.js';
import { maxAbsDiff, randomIds, randomWeights, smallConfig } from './gpt2-fixtures.js';

const cfg = smallConfig({ n_inner: 40 });
const [L, H, d, V, n_ctx, dMlp] = [cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions, 40];
const dh = d / H;
let weights: Gpt2Weights;
let model: Gpt2Model;

beforeAll(async () => {
  await useBackend('wasm');
  weights = randomWeights(cfg, 17);
  model = Gpt2Model.fromWeights(weights);
});
afterAll(() => model?.dispose());

/** The weight table of src/model/hooks.ts, written out for this config. */
function documentedWeightShapes(): Map<string, number[]> {
  const m = new Map<string, number[]>([
    ['embed.W_E', [V, d]],
    ['pos_embed.W_pos', [n_ctx, d]],
  ]);
  for (let l = 0; l < L; l++) {
    const b = `blocks.${l}.`;
    for (const n of ['ln1.w', 'ln1.b', 'ln2.w', 'ln2.b', 'attn.b_O', 'mlp.b_out']) m.set(b + n, [d]);
    for (const x of ['Q', 'K', 'V']) {
      m.set(`${b}attn.W_${x}`, [H, d, dh]);
      m.set(`${b}attn.b_${x}`, [H, dh]);
    }
    m.set(b + 'attn.W_O', [H, dh, d]);
    m.set(b + 'mlp.W_in', [d, dMlp]);
    m.set(b + 'mlp.b_in', [dMlp]);
    m.set(b + 'mlp.W_out', [dMlp, d]);
  }
  m.set('ln_final.w', [d]);
  m.set('ln_final.b', [d]);
  m.set('unembed.W_U', [d, V]);
  return m;
}

const sorted = <T>(m: Map<string, T>) => [...m.keys()].sort();

describe('TransformerLens weight views', () => {
  it('params() holds exactly the documented names, each in its documented shape (tied and untied)', () => {
    const want = documentedWeightShapes();
    expect(sorted(transformerLensShapes(cfg))).toEqual(sorted(want));
    for (const [name, shape] of transformerLensShapes(cfg)) expect(shape, name).toEqual(want.get(name));
    for (const untied of [false, true]) {
      const m = untied ? Gpt2Model.fromWeights(randomWeights(cfg, 4, { untiedHead: true })) : model;
      const p = m.params();
      expect(sorted(p)).toEqual(sorted(want));
      for (const [name, t] of p) expect(t.shape, name).toEqual(want.get(name));
      if (untied) m.dispose();
    }
  });

  it('equal the host rearrangement of the Hugging Face weights (tlParamsFromHost), value for value', () => {
    for (const w of [weights, randomWeights(cfg, 5, { untiedHead: true })]) {
      const m = w === weights ? model : Gpt2Model.fromWeights(w);
      const host = tlParamsFromHost(w);
      const p = m.params();
      expect(sorted(host)).toEqual(sorted(p));
      for (const [name, t] of p) {
        expect(host.get(name)!.shape, name).toEqual(t.shape);
        expect(maxAbsDiff(t.dataSync(), host.get(name)!.data), name).toBe(0);
      }
      if (m !== model) m.dispose();
    }
  });

  it('index as TransformerLens: W_Q[h, i, c] = c_attn[i, h·d_head + c], W_O[h, c, o] = c_proj[h·d_head + c, o]', () => {
    const p = model.params();
    const cAttn = weights.tensors.get('h.0.attn.c_attn.weight')!.data; // [d, 3d]
    const cProj = weights.tensors.get('h.0.attn.c_proj.weight')!.data; // [d, d]
    const WQ = p.get('blocks.0.attn.W_Q')!.arraySync() as number[][][];
    const WV = p.get('blocks.0.attn.W_V')!.arraySync() as number[][][];
    const WO = p.get('blocks.0.attn.W_O')!.arraySync() as number[][][];
    for (let h = 0; h < H; h++) {
      for (const [i, c] of [
        [0, 0],
        [5, dh - 1],
        [d - 1, 3],
      ]) {
        expect(WQ[h][i][c]).toBe(cAttn[i * 3 * d + h * dh + c]);
        expect(WV[h][i][c]).toBe(cAttn[i * 3 * d + 2 * d + h * dh + c]);
        expect(WO[h][c][i]).toBe(cProj[(h * dh + c) * d + i]);
      }
    }
    const WU = p.get('unembed.W_U')!.arraySync() as number[][];
    const wte = weights.tensors.get('wte.weight')!.data;
    expect(WU[7][50]).toBe(wte[50 * d + 7]);
  });

  it('views are built when first read: get builds one, iterating builds all, a second params() reuses them', () => {
    const m = Gpt2Model.fromWeights(randomWeights(cfg, 8));
    const start = tf.memory().numTensors;
    const p = m.params();
    expect(p.size).toBe(documentedWeightShapes().size);
    expect(p.has('blocks.1.attn.W_K')).toBe(true);
    p.get('embed.W_E');
    expect(tf.memory().numTensors).toBe(start); // a stored tensor: nothing built
    const wk = p.get('blocks.1.attn.W_K')!;
    expect(tf.memory().numTensors).toBe(start + 1);
    expect(m.params().get('blocks.1.attn.W_K')).toBe(wk); // cached by the model
    expect([...m.params().values()].length).toBe(p.size);
    expect(tf.memory().numTensors).toBe(start + 7 * L); // W_Q/K/V, b_Q/K/V, W_O per layer (W_U of a frozen tied model is kept already)
    expect([...p].map(([n]) => n)).toEqual([...p.keys()]);
    m.dispose();
  });

  it('a trainable model’s views follow its variables after an update, and storedParams are the Variables', () => {
    const m = Gpt2Model.fromWeights(randomWeights(cfg, 6), { trainable: true });
    const stored = m.storedParams();
    expect([...stored.values()].every((t) => t instanceof tf.Variable)).toBe(true);
    expect(stored.has('unembed.W_U')).toBe(false); // tied: W_E is stored once
    expect(stored.has('blocks.0.attn.W_Q')).toBe(false); // a TransformerLens name always means its shape
    const wq = stored.get('blocks.1.attn.c_attn_q.weight') as tf.Variable; // [d, d]
    const before = m.params().get('blocks.1.attn.W_Q')!;
    const held = tf.memory().numTensors;
    tf.tidy(() => wq.assign(tf.mul(wq, 2)));
    const after = m.params().get('blocks.1.attn.W_Q')!; // [H, d, dh]
    expect(before.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(held); // the stale view was freed when rebuilt
    const flat = wq.arraySync() as number[][];
    const view = after.arraySync() as number[][][];
    expect(view[2][4][1]).toBe(flat[4][2 * dh + 1]);
    const WE = stored.get('embed.W_E') as tf.Variable;
    tf.tidy(() => WE.assign(tf.add(WE, 1)));
    const WU = m.params().get('unembed.W_U')!.arraySync() as number[][];
    expect(WU[3][9]).toBe((WE.arraySync() as number[][])[9][3]);
    m.dispose();
  });
});

describe('TransformerLens attention identities on the hooks', () => {
  /** A [.., ..] float64 host product of a row vector and a matrix given as nested arrays. */
  const vecMat = (x: number[], W: number[][]) => W[0].map((_, j) => x.reduce((s, xi, i) => s + xi * W[i][j], 0));

  it('q/k/v = ln1(x)·W[h] + b[h], z = Σ_j pattern·v, result = z·W_O[h] (batch 2, after 3 cached positions)', () => {
    const ids = randomIds(31, 2, 8, V);
    const cache = model.newCache();
    model
      .forward(
        ids.map((r) => r.slice(0, 3)),
        { cache },
      )
      .dispose();
    const l = 1;
    const names = ['ln1.hook_normalized', 'attn.hook_q', 'attn.hook_k', 'attn.hook_v', 'attn.hook_pattern', 'attn.hook_z', 'attn.hook_result'].map(
      (n) => `blocks.${l}.${n}`,
    );
    const r = model.runWithCache(
      ids.map((row) => row.slice(3)),
      { names, cache },
    );
    const act = (n: string) => r.activations.get(`blocks.${l}.${n}`)!.arraySync() as number[][][][];
    const xhat = r.activations.get(`blocks.${l}.ln1.hook_normalized`)!.arraySync() as number[][][]; // [b, p, d]
    const [q, k, v, pat, z, res] = ['attn.hook_q', 'attn.hook_k', 'attn.hook_v', 'attn.hook_pattern', 'attn.hook_z', 'attn.hook_result'].map(act);
    const p = model.params();
    const get = (n: string) => p.get(`blocks.${l}.${n}`)!.arraySync();
    const [g, beta] = [get('ln1.w') as number[], get('ln1.b') as number[]];
    const W = { Q: get('attn.W_Q') as number[][][], K: get('attn.W_K') as number[][][], V: get('attn.W_V') as number[][][] };
    const bias = { Q: get('attn.b_Q') as number[][], K: get('attn.b_K') as number[][], V: get('attn.b_V') as number[][] };
    const WO = get('attn.W_O') as number[][][];
    const P = 5;
    expect(q[0].length).toBe(P);
    expect(k[0].length).toBe(3 + P); // cached positions included
    let worst = 0;
    const close = (a: number[], b: number[]) => (worst = Math.max(worst, maxAbsDiff(a, b)));
    for (let b = 0; b < 2; b++) {
      for (let pos = 0; pos < P; pos++) {
        const ln = xhat[b][pos].map((x, i) => x * g[i] + beta[i]);
        for (let h = 0; h < H; h++) {
          close(
            q[b][pos][h],
            vecMat(ln, W.Q[h]).map((x, c) => x + bias.Q[h][c]),
          );
          close(
            k[b][3 + pos][h],
            vecMat(ln, W.K[h]).map((x, c) => x + bias.K[h][c]),
          ); // new keys sit after the cached ones
          close(
            v[b][3 + pos][h],
            vecMat(ln, W.V[h]).map((x, c) => x + bias.V[h][c]),
          );
          const zWant = Array.from({ length: dh }, (_, c) => pat[b][h][pos].reduce((s, a, j) => s + a * v[b][j][h][c], 0));
          close(z[b][pos][h], zWant);
          close(res[b][pos][h], vecMat(z[b][pos][h], WO[h]));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
    disposeActivations(r.activations);
    r.logits.dispose();
    cache.dispose();
  });
});
