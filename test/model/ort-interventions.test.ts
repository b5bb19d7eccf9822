/**
 * Head interventions on the ORT engine (graph inputs, src/model/ort/interventions.ts) against the
 * same Hook objects run as JS hooks by the tfjs engine: zero and mean ablation on hook_z, head-result
 * patching on hook_result, alone, combined, with a KV cache, and with the ablated activations cached.
 * Tolerances: ort-helpers.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations, type Hook } from '../../src/model/hooks.js';
import { meanAblateHeads, patchHeadResults, zeroAblateHeads } from '../../src/model/interventions.js';
import { createOrtGpt2, type OrtGpt2 } from '../../src/model/ort/index.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { randomIds, randomWeights } from './gpt2-fixtures.js';
import { expectClose, SHAPES } from './ort-helpers.js';

let ort: OrtGpt2;
let tfjs: Gpt2Model;
const cfg = SHAPES[1].cfg; // 3 layers × 3 heads, d 24, untied head
const ids = randomIds(31, 2, 7, cfg.vocab_size);
const d = cfg.n_embd;
const dh = d / cfg.n_head;

beforeAll(async () => {
  await useBackend('wasm');
  const w = randomWeights(cfg, 23, { untiedHead: true });
  [ort, tfjs] = [await createOrtGpt2(w, { threads: 1, weights: 'inputs' }), Gpt2Model.fromWeights(w)];
});
afterAll(() => {
  ort?.dispose();
  tfjs?.dispose();
});

const rand = (n: number, seed: string) => normalArray(makeRng(seed), n, 1);
const CASES: [string, () => Hook[]][] = [
  [
    'zero-ablate two heads of layer 1',
    () =>
      zeroAblateHeads([
        { layer: 1, head: 0 },
        { layer: 1, head: 2 },
      ]),
  ],
  [
    'zero-ablate heads in two layers',
    () =>
      zeroAblateHeads([
        { layer: 0, head: 1 },
        { layer: 2, head: 2 },
      ]),
  ],
  [
    'mean-ablate with the call’s own mean',
    () =>
      meanAblateHeads([
        { layer: 0, head: 2 },
        { layer: 2, head: 0 },
      ]),
  ],
  [
    'mean-ablate with given means (array and tensor)',
    () =>
      meanAblateHeads([
        { layer: 1, head: 1, mean: rand(dh, 'm1') },
        { layer: 1, head: 0, mean: tf.tensor1d(rand(dh, 'm0')) },
      ]),
  ],
  [
    'patch one head at two positions, per-row values',
    () => patchHeadResults([{ layer: 1, head: 2, positions: [0, 4], value: tf.tensor(rand(2 * 2 * d, 'p1'), [2, 2, d]) }]),
  ],
  [
    'patch two heads in one layer and one in another, shared and broadcast values',
    () =>
      patchHeadResults([
        { layer: 0, head: 0, positions: [6, 2], value: tf.tensor(rand(d, 'p2'), [1, d]) },
        { layer: 0, head: 1, positions: [1, 2, 3], value: tf.tensor(rand(3 * d, 'p3'), [3, d]) },
        { layer: 2, head: 1, positions: [5], value: tf.tensor(rand(2 * d, 'p4'), [2, 1, d]) },
      ]),
  ],
  [
    'zero + mean + patch together, in order',
    () => [
      ...zeroAblateHeads([{ layer: 0, head: 0 }]),
      ...meanAblateHeads([
        { layer: 0, head: 0 },
        { layer: 1, head: 1 },
      ]),
      ...patchHeadResults([{ layer: 1, head: 1, positions: [2], value: tf.tensor(rand(d, 'p5'), [1, d]) }]),
    ],
  ],
];

describe('ORT interventions equal the tfjs hooks', () => {
  for (const [name, make] of CASES) {
    it(name, async () => {
      const hooks = make();
      expect(ort.canRun(hooks)).toBe(true);
      const [got, ref] = [await ort.runWithHooksAsync(ids, { hooks }), tfjs.runWithHooks(ids, { hooks })];
      expectClose(got, ref, 'logits');
      // The intervention really acted: the logits moved away from the clean run.
      const clean = tfjs.forward(ids);
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(ref, clean))).dataSync()[0])).toBeGreaterThan(1e-3);
      tf.dispose([got, ref, clean]);
    });
  }

  it('the cached hook_z / hook_result / attn_out hold the intervened values, as in tfjs', async () => {
    const hooks = [
      ...meanAblateHeads([{ layer: 1, head: 2 }]),
      ...patchHeadResults([{ layer: 1, head: 0, positions: [3], value: tf.tensor(rand(d, 'p6'), [1, d]) }]),
    ];
    const names = ['blocks.1.attn.hook_z', 'blocks.1.attn.hook_result', 'blocks.1.hook_attn_out', 'blocks.2.hook_resid_pre'];
    const got = await ort.runWithCacheAsync(ids, { names, hooks });
    const ref = tfjs.runWithCache(ids, { names, hooks });
    for (const n of names) expectClose(got.activations.get(n)!, ref.activations.get(n)!, n);
    // Head 2's z is one vector at every batch row and position (its mean), as mean ablation means.
    const z = got.activations.get('blocks.1.attn.hook_z')!.arraySync() as number[][][][];
    for (const row of z) for (const p of row) for (let c = 0; c < dh; c++) expect(p[2][c]).toBeCloseTo(z[0][0][2][c], 6);
    for (const r of [got, ref]) {
      r.logits.dispose();
      disposeActivations(r.activations);
    }
  });

  it('with a KV cache: ablating during decoding equals tfjs with its own cache', async () => {
    const hooks = zeroAblateHeads([
      { layer: 0, head: 1 },
      { layer: 2, head: 0 },
    ]);
    const [oc, tc] = [ort.newCache(), tfjs.newCache()];
    for (const part of [ids.map((r) => r.slice(0, 4)), ids.map((r) => [r[4]]), ids.map((r) => r.slice(5))]) {
      const [got, ref] = [await ort.runWithHooksAsync(part, { hooks, cache: oc }), tfjs.runWithHooks(part, { hooks, cache: tc })];
      expectClose(got, ref, `cached step of ${part[0].length}`);
      tf.dispose([got, ref]);
    }
    expect(oc.length).toBe(7);
    [oc, tc].forEach((c) => c.dispose());
  });

  it('bad interventions fail with the tfjs hooks’ messages', async () => {
    const bad: [string, Hook[]][] = [
      ['head out of range', zeroAblateHeads([{ layer: 0, head: 3 }])],
      ['mean of the wrong size', meanAblateHeads([{ layer: 0, head: 1, mean: [1, 2, 3] }])],
      ['patch of the wrong shape', patchHeadResults([{ layer: 0, head: 1, positions: [1, 2], value: tf.zeros([1, 2, d]) }])],
      ['patch position outside the call', patchHeadResults([{ layer: 0, head: 1, positions: [9], value: tf.zeros([1, d]) }])],
    ];
    for (const [what, hooks] of bad) {
      const refMsg = (() => {
        try {
          tfjs.runWithHooks(ids, { hooks }).dispose();
        } catch (e) {
          return (e as Error).message;
        }
        return 'no error';
      })();
      expect(refMsg, what).not.toBe('no error');
      await expect(ort.runWithHooksAsync(ids, { hooks }), what).rejects.toThrow(refMsg);
    }
  });
});
