/**
 * Gpt2Model on the engine contract (src/model/engine.ts): it is a LanguageModel; the async twins
 * give what the synchronous methods give; a cache of another engine is refused; KVCache.tile
 * equals prefilling the repeated prompt.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import type { LanguageModel, ModelCache } from '../../src/model/engine.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations } from '../../src/model/hooks.js';
import { zeroAblateHeads } from '../../src/model/interventions.js';
import { maxAbsDiff, randomIds, randomWeights, smallConfig } from './gpt2-fixtures.js';

const cfg = smallConfig();
let gpt2: Gpt2Model;
let model: LanguageModel;

beforeAll(async () => {
  await useBackend('wasm');
  gpt2 = Gpt2Model.fromWeights(randomWeights(cfg, 9));
  model = gpt2; // typechecks only if Gpt2Model implements LanguageModel
});
afterAll(() => gpt2?.dispose());

const read = (t: tf.Tensor) => {
  const a = Float32Array.from(t.dataSync());
  t.dispose();
  return a;
};

describe('Gpt2Model as a LanguageModel', () => {
  it('is the tfjs engine and runs any hook', () => {
    expect(model.engine).toBe('tfjs');
    expect(model.canRun([{ name: 'hook_embed', fn: () => undefined }])).toBe(true);
  });

  it('the async twins equal the synchronous methods', async () => {
    const ids = randomIds(1, 2, 6, cfg.vocab_size);
    expect(maxAbsDiff(read(await model.forwardAsync(ids)), read(model.forward(ids)))).toBe(0);
    expect(
      maxAbsDiff(read(await model.forwardAsync(ids, { lastOnly: true, output: 'residual' })), read(model.forward(ids, { lastOnly: true, output: 'residual' }))),
    ).toBe(0);
    expect(maxAbsDiff(read(await model.lastLogitsAsync(ids)), read(model.lastLogits(ids)))).toBe(0);
    const hooks = zeroAblateHeads([{ layer: 1, head: 2 }]);
    expect(maxAbsDiff(read(await model.runWithHooksAsync(ids, { hooks })), read(model.runWithHooks(ids, { hooks })))).toBe(0);
    const a = await model.runWithCacheAsync(ids, { names: ['blocks.0.attn.hook_z'], hooks });
    const b = model.runWithCache(ids, { names: ['blocks.0.attn.hook_z'], hooks });
    expect(maxAbsDiff(a.activations.get('blocks.0.attn.hook_z')!.dataSync(), b.activations.get('blocks.0.attn.hook_z')!.dataSync())).toBe(0);
    for (const r of [a, b]) {
      disposeActivations(r.activations);
      r.logits.dispose();
    }
  });

  it('refuses a cache made by another engine (UserError E_INPUT)', async () => {
    const foreign: ModelCache = { length: 0, batch: null, tile: () => foreign, dispose: () => undefined };
    const ids = [[1, 2, 3]];
    expect(() => model.forward(ids, { cache: foreign })).toThrow(UserError);
    await expect(model.lastLogitsAsync(ids, { cache: foreign })).rejects.toThrow(/another engine/);
  });

  it('every unembedding route (x·W_Eᵀ kept, (W_E·xᵀ)ᵀ, one row, untied W_U) equals x·W_U from params()', () => {
    const trainable = Gpt2Model.fromWeights(randomWeights(cfg, 9), { trainable: true }); // no W_Eᵀ kept: always (W_E·xᵀ)ᵀ
    const untied = Gpt2Model.fromWeights(randomWeights(cfg, 9, { untiedHead: true }));
    for (const m of [gpt2, trainable, untied]) {
      const WU = m.params().get('unembed.W_U')!; // [d, vocab]
      for (const rows of [1, 5, 8, 20]) {
        const x = tf.randomNormal([rows, cfg.n_embd], 0, 1, 'float32', rows); // [rows, d]
        const want = read(tf.matMul(x, WU)); // [rows, vocab]
        expect(maxAbsDiff(read(m.unembed(x)), want), `rows ${rows}`).toBeLessThanOrEqual(1e-4);
        x.dispose();
      }
    }
    trainable.dispose();
    untied.dispose();
  });

  it('KVCache.tile(n) continues like a cache prefilled with the prompt repeated n times', async () => {
    const prompt = randomIds(2, 1, 5, cfg.vocab_size)[0];
    const next = randomIds(3, 3, 2, cfg.vocab_size); // 3 different continuations
    const one = model.newCache();
    (await model.forwardAsync([prompt], { cache: one })).dispose();
    const tiled = one.tile(3);
    expect([tiled.length, tiled.batch, one.batch]).toEqual([5, 3, 1]);
    const viaTile = read(await model.lastLogitsAsync(next, { cache: tiled }));
    const direct = read(model.lastLogits(next.map((row) => [...prompt, ...row])));
    expect(maxAbsDiff(viaTile, direct)).toBeLessThanOrEqual(1e-4);
    expect(() => tiled.tile(2)).toThrow(/batch 1/);
    const held = tf.memory().numTensors;
    tiled.dispose();
    one.dispose();
    expect(tf.memory().numTensors).toBe(held - 4 * cfg.n_layer);
  });
});
