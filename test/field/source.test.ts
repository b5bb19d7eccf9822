/** Context-field sources against the extractor and the model's own logits. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { extractPromptFields } from '../../src/field/extract.js';
import { contextFields, contextFieldsAll, fieldSourceId, parseFieldSource, type FieldSource } from '../../src/field/source.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

let model: Gpt2Model;
const ids = [4, 9, 33, 2, 71];

beforeAll(async () => {
  await useBackend('wasm');
  model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 80, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 4 }, 2));
});

describe('context field sources', () => {
  it('final: N·e_t equals the model logit of every token (tied unembedding)', async () => {
    const N = await contextFields(model, [ids], { kind: 'final' }); // [1, d]
    const logits = model.lastLogits([ids]); // [1, vocab]
    const viaField = tf.matMul(N, tf.transpose(model.params().get('embed.W_E')!));
    expect(tf.max(tf.abs(tf.sub(viaField, logits))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('head and heads: equal the extractor’s N_proj (summed); layer = Σ heads + bias', async () => {
    const f = await extractPromptFields(model, ids, 1, 2, 'residual');
    const d = model.dModel;
    const np = (l: number, h: number) => Array.from(f.Nproj.subarray((l * 4 + h) * d, (l * 4 + h + 1) * d));
    const one = (await contextFields(model, [ids], { kind: 'head', layer: 1, head: 3 })).dataSync();
    np(1, 3).forEach((x, i) => expect(one[i]).toBeCloseTo(x, 5));
    const two = (
      await contextFields(model, [ids], {
        kind: 'heads',
        heads: [
          { layer: 0, head: 1 },
          { layer: 1, head: 2 },
        ],
      })
    ).dataSync();
    np(0, 1).forEach((x, i) => expect(two[i]).toBeCloseTo(x + np(1, 2)[i], 5));
    const layer = (await contextFields(model, [ids], { kind: 'layer', layer: 0 })).dataSync();
    const bias = model.params().get('blocks.0.attn.b_O')!.dataSync();
    for (let i = 0; i < d; i++) expect(layer[i]).toBeCloseTo(bias[i] + [0, 1, 2, 3].reduce((s, h) => s + np(0, h)[i], 0), 5);
  });

  it('incremental (KV cache) fields equal full recomputation', async () => {
    const cache = model.newCache();
    (await contextFields(model, [ids.slice(0, 3)], { kind: 'final' }, cache)).dispose();
    const inc = (await contextFields(model, [ids.slice(3)], { kind: 'final' }, cache)).dataSync();
    const full = (await contextFields(model, [ids], { kind: 'final' })).dataSync();
    full.forEach((x, i) => expect(inc[i]).toBeCloseTo(x, 4));
    cache.dispose();
  });

  it('contextFieldsAll: [batch, pos, d] for every source (one position too); row p = contextFields of the prefix ..p', async () => {
    const sources: FieldSource[] = [
      { kind: 'final' },
      { kind: 'layer', layer: 1 },
      { kind: 'head', layer: 0, head: 2 },
      {
        kind: 'heads',
        heads: [
          { layer: 1, head: 0 },
          { layer: 0, head: 3 },
        ],
      },
    ];
    for (const s of sources) {
      const one = await contextFieldsAll(model, [[ids[0]], [ids[1]]], s);
      expect(one.shape, fieldSourceId(s)).toEqual([2, 1, model.dModel]);
      one.dispose();
      const all = await contextFieldsAll(model, [ids], s); // [1, pos, d]
      expect(all.shape).toEqual([1, ids.length, model.dModel]);
      const rows = all.arraySync() as number[][][];
      for (const p of [0, 2, ids.length - 1]) {
        const f = await contextFields(model, [ids.slice(0, p + 1)], s);
        Array.from(f.dataSync()).forEach((x, i) => expect(rows[0][p][i], `${fieldSourceId(s)} pos ${p}`).toBeCloseTo(x, 4));
        f.dispose();
      }
      all.dispose();
    }
  });

  it('parses and names sources round trip', () => {
    for (const s of ['final', 'layer:2', 'head:3.5', 'heads:3.5+0.1']) expect(fieldSourceId(parseFieldSource(s)!)).toBe(s);
    expect(parseFieldSource('head:3')).toBeNull();
  });
});
