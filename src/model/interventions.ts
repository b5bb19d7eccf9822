/**
 * Head-level interventions built on the hook mechanism (src/model/hooks.ts): each helper returns
 * Hook[] to pass to `runWithHooks` / `runWithCache`. Zero and mean ablation act on
 * `blocks.{l}.attn.hook_z` [batch, pos, head_index, d_head] (so the fast attention path is kept);
 * patching acts on `blocks.{l}.attn.hook_result` [batch, pos, head_index, d_model] (which switches
 * that layer to the per-head path). Every Hook carries its `intervention` (the same operation as
 * data), which engines without JS hooks (ORT) compile; `fn` is the tfjs implementation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Hook, Intervention } from './hooks.js';

/** One attention head: block `layer`, head index `head` (0-based). */
export interface HeadRef {
  layer: number;
  head: number;
}

/** Group head refs by layer. */
function byLayer<T extends HeadRef>(heads: readonly T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const h of heads) m.set(h.layer, [...(m.get(h.layer) ?? []), h]);
  return m;
}

/** Head mask [1, 1, head, 1]: 1 at the listed heads, 0 elsewhere. */
function headMask(nHead: number, heads: readonly HeadRef[]): tf.Tensor {
  const m = new Float32Array(nHead);
  for (const h of heads) {
    if (h.head < 0 || h.head >= nHead) throw new Error(`head ${h.head} of layer ${h.layer} is out of range [0, ${nHead})`);
    m[h.head] = 1;
  }
  return tf.tensor4d(m, [1, 1, nHead, 1]);
}

/** Zero-ablate heads: z_h ← 0, so result_h = 0 (attn_out keeps the c_proj bias). */
export function zeroAblateHeads(heads: readonly HeadRef[]): Hook[] {
  return [...byLayer(heads)].map(([layer, hs]) => ({
    name: `blocks.${layer}.attn.hook_z`,
    fn: (z: tf.Tensor) => tf.mul(z, tf.sub(1, headMask(z.shape[2] as number, hs))), // [batch, pos, head, d_head]
    intervention: { kind: 'zero', layer, heads: hs.map((h) => h.head) } satisfies Intervention,
  }));
}

/** A head to mean-ablate, with an optional replacement mean. */
export interface MeanAblation extends HeadRef {
  /** The replacement z for this head, [d_head]; default: its mean over the batch and positions of this call. */
  mean?: tf.Tensor | ArrayLike<number>;
}

/**
 * Mean-ablate heads: z_h ← mean (a given [d_head] vector, or, when not given, the head's own z
 * averaged over every batch row and position of the current call).
 */
export function meanAblateHeads(heads: readonly MeanAblation[]): Hook[] {
  return [...byLayer(heads)].map(([layer, hs]) => ({
    name: `blocks.${layer}.attn.hook_z`,
    fn: (z: tf.Tensor) => {
      const [nH, dh] = [z.shape[2] as number, z.shape[3] as number];
      const batchMean = tf.mean(z, [0, 1]); // [head, d_head]
      const rows = [...Array(nH).keys()].map((h) => {
        const spec = hs.find((s) => s.head === h);
        if (!spec?.mean) return tf.slice(batchMean, [h, 0], [1, dh]); // [1, d_head]
        const m = spec.mean instanceof tf.Tensor ? spec.mean : tf.tensor1d(Array.from(spec.mean));
        if (m.size !== dh) throw new Error(`mean for layer ${layer} head ${h} has ${m.size} values, expected d_head = ${dh}`);
        return tf.reshape(m, [1, dh]); // [1, d_head]
      });
      const means = tf.reshape(tf.concat(rows, 0), [1, 1, nH, dh]); // [1, 1, head, d_head]
      const mask = headMask(nH, hs); // [1, 1, head, 1]
      return tf.add(tf.mul(z, tf.sub(1, mask)), tf.mul(means, mask)); // [batch, pos, head, d_head]
    },
    intervention: {
      kind: 'mean',
      layer,
      heads: hs.map((h) => h.head),
      means: hs.map((h) => (h.mean === undefined ? null : Float32Array.from(h.mean instanceof tf.Tensor ? h.mean.dataSync() : Array.from(h.mean)))),
    } satisfies Intervention,
  }));
}

/** A head whose result is replaced at some query positions. */
export interface HeadPatch extends HeadRef {
  /** Query positions of the current call (0-based within this call's tokens). */
  positions: readonly number[];
  /** The new result at those positions: [batch, positions.length, d_model], or [positions.length, d_model] for every row. */
  value: tf.Tensor;
}

/** Patch heads: result_h[:, positions] ← value (activation patching on hook_result); one Hook per patch, in order. */
export function patchHeadResults(patches: readonly HeadPatch[]): Hook[] {
  return patches.map((p) => ({
    name: `blocks.${p.layer}.attn.hook_result`,
    fn: (result: tf.Tensor) => {
      const [B, P, nH, d] = result.shape as [number, number, number, number];
      const n = p.positions.length;
      const value = p.value.rank === 2 ? tf.broadcastTo(p.value, [B, n, d]) : p.value; // [batch, n, d_model]
      if (!tf.util.arraysEqual(value.shape, [B, n, d])) {
        throw new Error(`patch for layer ${p.layer} head ${p.head} has shape [${p.value.shape}], expected [${B}, ${n}, ${d}] or [${n}, ${d}]`);
      }
      const idx = new Int32Array(P); // position → row of value (0 where unpatched; masked out)
      const posMask = new Float32Array(P);
      p.positions.forEach((q, i) => {
        if (q < 0 || q >= P) throw new Error(`patch position ${q} is outside this call's ${P} positions`);
        idx[q] = i;
        posMask[q] = 1;
      });
      const full = tf.expandDims(tf.gather(value, tf.tensor1d(idx, 'int32'), 1), 2); // [batch, pos, 1, d_model]
      const mask = tf.mul(headMask(nH, [p]), tf.tensor4d(posMask, [1, P, 1, 1])); // [1, pos, head, 1]
      return tf.add(tf.mul(result, tf.sub(1, mask)), tf.mul(full, mask)); // [batch, pos, head, d_model]
    },
    intervention: {
      kind: 'patch',
      layer: p.layer,
      head: p.head,
      positions: [...p.positions],
      value: Float32Array.from(p.value.dataSync()),
      valueShape: [...p.value.shape],
    } satisfies Intervention,
  }));
}
