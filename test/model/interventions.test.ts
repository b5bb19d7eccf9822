/**
 * The declarative form of every intervention (the `intervention` an engine without JS hooks
 * compiles) describes exactly what its tfjs `fn` does: a host interpreter of the description,
 * written from the Intervention TSDoc alone, gives the same activation as `fn`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import type { Hook, Intervention } from '../../src/model/hooks.js';
import { meanAblateHeads, patchHeadResults, zeroAblateHeads } from '../../src/model/interventions.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { maxAbsDiff } from './gpt2-fixtures.js';

const [B, P, H, dh, d] = [2, 5, 4, 3, 8];

beforeAll(async () => {
  await useBackend('wasm');
});

/** Apply an intervention to a row-major host activation of shape [B, P, H, w] (w = d_head or d_model). */
function interpret(iv: Intervention, act: Float32Array, w: number): Float32Array {
  const out = Float32Array.from(act);
  const at = (b: number, p: number, h: number) => ((b * P + p) * H + h) * w;
  const heads = iv.kind === 'patch' ? [iv.head] : iv.heads;
  heads.forEach((h, i) => {
    let fill: (b: number, p: number, c: number) => number;
    if (iv.kind === 'zero') fill = () => 0;
    else if (iv.kind === 'mean') {
      const given = iv.means[i];
      const avg = new Float64Array(w);
      for (let b = 0; b < B; b++) for (let p = 0; p < P; p++) for (let c = 0; c < w; c++) avg[c] += act[at(b, p, h) + c] / (B * P);
      fill = (_b, _p, c) => (given ? given[c] : avg[c]);
    } else {
      const perRow = iv.valueShape.length === 3;
      const n = iv.positions.length;
      fill = (b, p, c) => iv.value[((perRow ? b * n : 0) + iv.positions.indexOf(p)) * w + c];
    }
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < P; p++) {
        if (iv.kind === 'patch' && !iv.positions.includes(p)) continue;
        for (let c = 0; c < w; c++) out[at(b, p, h) + c] = fill(b, p, c);
      }
    }
  });
  return out;
}

/** Run each hook's fn in order on `act` and, separately, interpret each hook's description; compare. */
function check(hooks: Hook[], hookName: (layer: number) => string, w: number, seed: number): void {
  const data = normalArray(makeRng(seed), B * P * H * w);
  let viaFn: tf.Tensor = tf.tensor4d(data, [B, P, H, w]); // [batch, pos, head, w]
  let viaData = data;
  for (const h of hooks) {
    const iv = h.intervention!;
    expect(iv, 'every helper hook carries its description').toBeDefined();
    expect(h.name).toBe(hookName(iv.layer));
    const next = h.fn(viaFn, h.name as string) as tf.Tensor;
    viaFn.dispose();
    viaFn = next;
    viaData = interpret(iv, viaData, w);
  }
  expect(maxAbsDiff(viaFn.dataSync(), viaData)).toBeLessThanOrEqual(1e-6);
  viaFn.dispose();
}

const zName = (l: number) => `blocks.${l}.attn.hook_z`;
const resultName = (l: number) => `blocks.${l}.attn.hook_result`;

describe('declarative interventions', () => {
  it('zero ablation: one hook per layer, heads listed', () => {
    const hooks = zeroAblateHeads([
      { layer: 2, head: 1 },
      { layer: 0, head: 3 },
      { layer: 2, head: 0 },
    ]);
    expect(hooks.map((h) => h.intervention)).toEqual([
      { kind: 'zero', layer: 2, heads: [1, 0] },
      { kind: 'zero', layer: 0, heads: [3] },
    ]);
    check(
      hooks.filter((h) => h.intervention!.layer === 2),
      zName,
      dh,
      1,
    );
  });

  it('mean ablation: given means as Float32Array, null for the call’s own batch/position mean', () => {
    const given = [0.5, -1, 2];
    const hooks = meanAblateHeads([
      { layer: 1, head: 2 },
      { layer: 1, head: 0, mean: given },
      { layer: 1, head: 3, mean: tf.tensor1d([1, 2, 3]) },
    ]);
    const iv = hooks[0].intervention as Extract<Intervention, { kind: 'mean' }>;
    expect(iv.heads).toEqual([2, 0, 3]);
    expect(iv.means[0]).toBeNull();
    expect(Array.from(iv.means[1]!)).toEqual(given);
    expect(Array.from(iv.means[2]!)).toEqual([1, 2, 3]);
    check(hooks, zName, dh, 2);
  });

  it('patching: one hook per patch, value per row [batch, n, d] or shared [n, d], applied in order', () => {
    const perRow = tf.tensor3d(normalArray(makeRng(3), B * 2 * d), [B, 2, d]);
    const shared = tf.tensor2d(normalArray(makeRng(4), 3 * d), [3, d]);
    const hooks = patchHeadResults([
      { layer: 0, head: 1, positions: [4, 0], value: perRow },
      { layer: 0, head: 2, positions: [1, 2, 3], value: shared },
      { layer: 0, head: 1, positions: [0], value: tf.tensor2d(normalArray(makeRng(5), d), [1, d]) }, // overrides the first patch at position 0
    ]);
    expect(hooks.map((h) => h.intervention!.kind)).toEqual(['patch', 'patch', 'patch']);
    expect((hooks[0].intervention as Extract<Intervention, { kind: 'patch' }>).valueShape).toEqual([B, 2, d]);
    check(hooks, resultName, d, 6);
    tf.dispose([perRow, shared]);
  });
});
