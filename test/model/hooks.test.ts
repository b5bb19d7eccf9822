import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations, hookNames, type Hook } from '../../src/model/hooks.js';
import { meanAblateHeads, patchHeadResults, zeroAblateHeads } from '../../src/model/interventions.js';
import { maxAbsDiff, randomIds, randomWeights, smallConfig } from './gpt2-fixtures.js';

const cfg = smallConfig();
const [H, d, dh, V, dMlp] = [cfg.n_head, cfg.n_embd, cfg.n_embd / cfg.n_head, cfg.vocab_size, 4 * cfg.n_embd];
let model: Gpt2Model;
let noBias: Gpt2Model; // every attention c_proj bias is zero

beforeAll(async () => {
  await useBackend('wasm');
  model = Gpt2Model.fromWeights(randomWeights(cfg, 3));
  noBias = Gpt2Model.fromWeights(randomWeights(cfg, 3, { zeroAttnBias: true }));
});
afterAll(() => {
  model?.dispose();
  noBias?.dispose();
});

/** Logits of a run as a flat array (disposes the tensor). */
function read(t: tf.Tensor): Float32Array {
  const a = t.dataSync() as Float32Array;
  t.dispose();
  return a;
}

/** The documented shape of each hook (hooks.ts table) for b rows, p new and pk total positions. */
function documentedShape(name: string, b: number, p: number, pk: number): number[] {
  const leaf = name.split('.').pop()!;
  const table: Record<string, number[]> = {
    hook_embed: [b, p, d],
    hook_pos_embed: [b, p, d],
    hook_resid_pre: [b, p, d],
    hook_scale: [b, p, 1],
    hook_normalized: [b, p, d],
    hook_q: [b, p, H, dh],
    hook_k: [b, pk, H, dh],
    hook_v: [b, pk, H, dh],
    hook_attn_scores: [b, H, p, pk],
    hook_pattern: [b, H, p, pk],
    hook_z: [b, p, H, dh],
    hook_result: [b, p, H, d],
    hook_attn_out: [b, p, d],
    hook_resid_mid: [b, p, d],
    hook_pre: [b, p, dMlp],
    hook_post: [b, p, dMlp],
    hook_mlp_out: [b, p, d],
    hook_resid_post: [b, p, d],
    hook_logits: [b, p, V],
  };
  return table[leaf];
}

describe('hook points', () => {
  it('hookNames lists every hook point, in the order the forward runs them', () => {
    const seen: string[] = [];
    const logits = model.runWithHooks(randomIds(1, 1, 4, V), { hooks: [{ name: () => true, fn: (_a, n) => void seen.push(n) }] });
    logits.dispose();
    expect(seen).toEqual(hookNames(cfg.n_layer));
  });

  it('runWithCache keeps exactly the named activations, with the documented shapes (also with a KV cache)', () => {
    const ids = randomIds(2, 2, 7, V);
    const names = ['hook_embed', 'blocks.1.attn.hook_k', 'blocks.0.attn.hook_pattern', 'ln_final.hook_scale'];
    const r = model.runWithCache(ids, { names });
    expect([...r.activations.keys()].sort()).toEqual([...names].sort());
    for (const [n, t] of r.activations) expect(t.shape).toEqual(documentedShape(n, 2, 7, 7));
    disposeActivations(r.activations);
    r.logits.dispose();

    // every hook, decoding 3 new tokens after 4 cached ones: k, v, scores and pattern span 7 keys
    const cache = model.newCache();
    model
      .logits(
        ids.map((row) => row.slice(0, 4)),
        { cache },
      )
      .dispose();
    const all = model.runWithCache(
      ids.map((row) => row.slice(4)),
      { names: () => true, cache },
    );
    expect([...all.activations.keys()]).toEqual(hookNames(cfg.n_layer));
    for (const [n, t] of all.activations) expect(t.shape, n).toEqual(documentedShape(n, 2, 3, 7));
    // scores are the masked scaled Q·Kᵀ: query j (at position 4 + j) sees keys ≤ 4 + j
    const s = all.activations.get('blocks.0.attn.hook_attn_scores')!.arraySync() as number[][][][];
    expect(s[0][1][0][5]).toBeLessThan(-1e8);
    expect(s[0][1][0][4]).toBeGreaterThan(-100);
    const pat = all.activations.get('blocks.0.attn.hook_pattern')!.arraySync() as number[][][][];
    expect(pat[1][2][2].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // ln_final.hook_scale is the divisor sqrt(var + eps) of the final LN's input
    const resid = all.activations.get('blocks.1.hook_resid_post')!.arraySync() as number[][][];
    const x = resid[1][2];
    const mean = x.reduce((a, b) => a + b, 0) / d;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / d + cfg.layer_norm_epsilon);
    expect((all.activations.get('ln_final.hook_scale')!.arraySync() as number[][][])[1][2][0]).toBeCloseTo(sd, 4);
    disposeActivations(all.activations);
    all.logits.dispose();
    cache.dispose();
  });

  it('Σ_h hook_result + c_proj bias = hook_attn_out, and the fast path equals the per-head path', () => {
    const ids = randomIds(3, 2, 9, V);
    const fast = model.runWithCache(ids, { names: ['blocks.0.hook_attn_out', 'blocks.1.hook_attn_out'] });
    const slow = model.runWithCache(ids, { names: (n) => n.endsWith('hook_attn_out') || n.endsWith('hook_result') });
    const bO = model.params();
    for (const l of [0, 1]) {
      const res = slow.activations.get(`blocks.${l}.attn.hook_result`)!;
      expect(res.shape).toEqual([2, 9, H, d]);
      const summed = tf.tidy(() => tf.add(tf.sum(res, 2), bO.get(`blocks.${l}.attn.b_O`)!));
      expect(maxAbsDiff(read(summed), slow.activations.get(`blocks.${l}.hook_attn_out`)!.dataSync())).toBeLessThanOrEqual(1e-5);
      const fastOut = fast.activations.get(`blocks.${l}.hook_attn_out`)!.dataSync();
      expect(maxAbsDiff(fastOut, slow.activations.get(`blocks.${l}.hook_attn_out`)!.dataSync())).toBeLessThanOrEqual(1e-5);
    }
    expect(maxAbsDiff(read(fast.logits), read(slow.logits))).toBeLessThanOrEqual(1e-5);
    disposeActivations(fast.activations);
    disposeActivations(slow.activations);
  });

  it('a hook returning a new tensor replaces the activation; a wrong shape is rejected', () => {
    const ids = randomIds(4, 1, 6, V);
    const plain = read(model.logits(ids));
    // replacing scores / pattern by equal values recomputes the same pattern / z
    const same = read(
      model.runWithHooks(ids, {
        hooks: [{ name: (n) => n.endsWith('hook_attn_scores') || n.endsWith('hook_pattern'), fn: (a) => tf.mul(a, 1) }],
      }),
    );
    expect(maxAbsDiff(same, plain)).toBeLessThanOrEqual(1e-5);
    // doubling the logits through hook_logits
    const doubled = read(model.runWithHooks(ids, { hooks: [{ name: 'hook_logits', fn: (a) => tf.mul(a, 2) }] }));
    expect(
      maxAbsDiff(
        doubled,
        plain.map((x) => 2 * x),
      ),
    ).toBeLessThanOrEqual(1e-5);
    expect(() => model.runWithHooks(ids, { hooks: [{ name: 'hook_embed', fn: () => tf.zeros([1, 6, 3]) }] })).toThrow(/shape/);
  });

  it('hooks are removed after an exception inside a hook; nothing leaks, the KV cache is untouched', () => {
    const ids = randomIds(5, 2, 5, V);
    const plain = read(model.logits(ids));
    const before = tf.memory().numTensors;
    const boom: Hook = {
      name: 'blocks.1.mlp.hook_post',
      fn: () => {
        throw new Error('boom');
      },
    };
    expect(() => model.runWithHooks(ids, { hooks: [boom] })).toThrow('boom');
    expect(() => model.runWithCache(ids, { names: () => true, hooks: [boom] })).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(read(model.logits(ids)), plain)).toBe(0);

    const cache = model.newCache();
    model
      .logits(
        ids.map((r) => r.slice(0, 3)),
        { cache },
      )
      .dispose();
    const held = tf.memory().numTensors;
    expect(() =>
      model.runWithHooks(
        ids.map((r) => r.slice(3)),
        { hooks: [boom], cache },
      ),
    ).toThrow('boom');
    expect(cache.length).toBe(3);
    expect(tf.memory().numTensors).toBe(held);
    const rest = read(
      model.logits(
        ids.map((r) => r.slice(3)),
        { cache },
      ),
    );
    const want = plain.filter((_, i) => Math.floor(i / V) % 5 >= 3);
    expect(maxAbsDiff(rest, want)).toBeLessThanOrEqual(1e-4);
    cache.dispose();
  });

  it('runWithCache memory stays bounded over 20 runs', () => {
    const ids = randomIds(6, 2, 6, V);
    const names = (n: string) => n.endsWith('hook_z') || n === 'hook_logits';
    const warm = model.runWithCache(ids, { names });
    disposeActivations(warm.activations);
    warm.logits.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      const r = model.runWithCache(ids, { names });
      expect(r.activations.size).toBe(cfg.n_layer + 1);
      expect(tf.memory().numTensors).toBe(before + cfg.n_layer + 2);
      disposeActivations(r.activations);
      r.logits.dispose();
      model.runWithHooks(ids, { hooks: zeroAblateHeads([{ layer: 0, head: 1 }]) }).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('interventions', () => {
  const allHeads = (layer: number) => [...Array(H).keys()].map((head) => ({ layer, head }));

  it('zero-ablating every head of a layer = attn_out replaced by the c_proj bias alone', () => {
    // Zero-ablation removes the heads' contribution Σ_h z_h·W_O,h; the c_proj bias b_O stays.
    const ids = randomIds(7, 2, 8, V);
    for (const layer of [0, 1]) {
      const ablated = read(model.runWithHooks(ids, { hooks: zeroAblateHeads(allHeads(layer)) }));
      const bO = model.params().get(`blocks.${layer}.attn.b_O`)!;
      const biasOnly = read(
        model.runWithHooks(ids, {
          hooks: [{ name: `blocks.${layer}.hook_attn_out`, fn: (a) => tf.add(tf.zerosLike(a), bO) }],
        }),
      );
      expect(maxAbsDiff(ablated, biasOnly)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(ablated, read(model.logits(ids)))).toBeGreaterThan(1e-3);
    }
  });

  it('with a zero c_proj bias, attn_out := 0 equals zero-ablating all heads', () => {
    const ids = randomIds(8, 2, 8, V);
    const ablated = read(noBias.runWithHooks(ids, { hooks: zeroAblateHeads(allHeads(1)) }));
    const zeroed = read(noBias.runWithHooks(ids, { hooks: [{ name: 'blocks.1.hook_attn_out', fn: (a) => tf.zerosLike(a) }] }));
    expect(maxAbsDiff(ablated, zeroed)).toBeLessThanOrEqual(1e-5);
  });

  it('zero-ablating one head zeroes its z and its result only', () => {
    const ids = randomIds(9, 1, 6, V);
    const r = model.runWithCache(ids, { names: ['blocks.1.attn.hook_result', 'blocks.1.attn.hook_z'], hooks: zeroAblateHeads([{ layer: 1, head: 2 }]) });
    const res = r.activations.get('blocks.1.attn.hook_result')!.arraySync() as number[][][][];
    const z = r.activations.get('blocks.1.attn.hook_z')!.arraySync() as number[][][][];
    expect(
      res[0]
        .map((atPos) => atPos[2])
        .flat()
        .every((v) => v === 0),
    ).toBe(true); // [pos][head][d]
    expect(
      z[0]
        .map((atPos) => atPos[2])
        .flat()
        .every((v) => v === 0),
    ).toBe(true);
    expect(
      res[0]
        .map((atPos) => atPos[1])
        .flat()
        .some((v) => v !== 0),
    ).toBe(true);
    disposeActivations(r.activations);
    r.logits.dispose();
  });

  it('mean-ablation replaces z by a given vector, or by its batch/position mean', () => {
    const ids = randomIds(10, 2, 6, V);
    const clean = model.runWithCache(ids, { names: ['blocks.0.attn.hook_z'] });
    const zClean = clean.activations.get('blocks.0.attn.hook_z')!;
    const meanH1 = tf.tidy(() => tf.mean(tf.slice(zClean, [0, 0, 1, 0], [-1, -1, 1, -1]), [0, 1, 2])).dataSync(); // [d_head]
    const given = Array.from({ length: dh }, (_, i) => i / 10);
    const r = model.runWithCache(ids, {
      names: ['blocks.0.attn.hook_z'],
      hooks: meanAblateHeads([
        { layer: 0, head: 1 },
        { layer: 0, head: 3, mean: given },
      ]),
    });
    const z = r.activations.get('blocks.0.attn.hook_z')!.arraySync() as number[][][][];
    const zc = zClean.arraySync() as number[][][][];
    for (const b of [0, 1]) {
      for (let p = 0; p < 6; p++) {
        expect(maxAbsDiff(z[b][p][1], meanH1)).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(z[b][p][3], given)).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(z[b][p][0], zc[b][p][0])).toBe(0);
      }
    }
    for (const x of [clean, r]) {
      disposeActivations(x.activations);
      x.logits.dispose();
    }
  });

  it('patching a head result at given positions replaces exactly those entries', () => {
    const ids = randomIds(11, 2, 7, V);
    const other = randomIds(12, 2, 7, V);
    const name = 'blocks.0.attn.hook_result';
    const src = model.runWithCache(other, { names: [name] });
    const value = tf.tidy(() => tf.reshape(tf.slice(src.activations.get(name)!, [0, 2, 3, 0], [-1, 2, 1, -1]), [2, 2, d])); // [batch, 2, d_model]
    const base = model.runWithCache(ids, { names: [name] });
    const patched = model.runWithCache(ids, {
      names: [name, 'blocks.0.hook_attn_out'],
      hooks: patchHeadResults([{ layer: 0, head: 3, positions: [2, 3], value }]),
    });
    const P = patched.activations.get(name)!.arraySync() as number[][][][];
    const B = base.activations.get(name)!.arraySync() as number[][][][];
    const S = src.activations.get(name)!.arraySync() as number[][][][];
    for (let b = 0; b < 2; b++) {
      for (let h = 0; h < H; h++) {
        for (let p = 0; p < 7; p++) {
          const want = h === 3 && (p === 2 || p === 3) ? S[b][p][h] : B[b][p][h];
          expect(maxAbsDiff(P[b][p][h], want)).toBe(0);
        }
      }
    }
    // attn_out follows the patched results
    const sum = tf.tidy(() => tf.add(tf.sum(patched.activations.get(name)!, 2), model.params().get('blocks.0.attn.b_O')!));
    expect(maxAbsDiff(read(sum), patched.activations.get('blocks.0.hook_attn_out')!.dataSync())).toBeLessThanOrEqual(1e-5);
    // patching a head with its own values changes nothing
    const own = tf.tidy(() => tf.reshape(tf.slice(base.activations.get(name)!, [0, 0, 1, 0], [-1, -1, 1, -1]), [2, 7, d]));
    const self = read(model.runWithHooks(ids, { hooks: patchHeadResults([{ layer: 0, head: 1, positions: [0, 1, 2, 3, 4, 5, 6], value: own }]) }));
    expect(maxAbsDiff(self, base.logits.dataSync())).toBeLessThanOrEqual(1e-5);
    for (const x of [src, base, patched]) {
      disposeActivations(x.activations);
      x.logits.dispose();
    }
    tf.dispose([value, own]);
  });
});
