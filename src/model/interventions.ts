/**
 * Head-level interventions built on the hook mechanism (src/model/hooks.ts): each helper returns
 * Hook[] to pass to `runWithHooks` / `runWithCache`. Zero and mean ablation act on
 * `blocks.{l}.attn.hook_z` (so the fast attention path is kept); patching acts on
 * `blocks.{l}.attn.hook_result` (which switches that layer to the per-head path).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Hook } from './hooks.js';

/** A head by layer and index. */
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

/** Head mask [1, H, 1, 1]: 1 at the listed heads, 0 elsewhere. */
function headMask(nHead: number, heads: readonly HeadRef[]): tf.Tensor {
  const m = new Float32Array(nHead);
  for (const h of heads) {
    if (h.head < 0 || h.head >= nHead) throw new Error(`head ${h.head} of layer ${h.layer} is out of range [0, ${nHead})`);
    m[h.head] = 1;
  }
  return tf.tensor4d(m, [1, nHead, 1, 1]);
}

/** Zero-ablate heads: z_h ← 0, so result_h = 0 (attn_out keeps the c_proj bias). */
export function zeroAblateHeads(heads: readonly HeadRef[]): Hook[] {
  return [...byLayer(heads)].map(([layer, hs]) => ({
    name: `blocks.${layer}.attn.hook_z`,
    fn: (z: tf.Tensor) => tf.mul(z, tf.sub(1, headMask(z.shape[1] as number, hs))), // [batch, head, pos, d_head]
  }));
}

/** A head whose result is replaced by its mean over a reference set. */
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
      const [H, dh] = [z.shape[1] as number, z.shape[3] as number];
      const batchMean = tf.mean(z, [0, 2]); // [head, d_head]
      const rows = [...Array(H).keys()].map((h) => {
        const spec = hs.find((s) => s.head === h);
        if (!spec?.mean) return tf.slice(batchMean, [h, 0], [1, dh]); // [1, d_head]
        const m = spec.mean instanceof tf.Tensor ? spec.mean : tf.tensor1d(Array.from(spec.mean));
        if (m.size !== dh) throw new Error(`mean for layer ${layer} head ${h} has ${m.size} values, expected d_head = ${dh}`);
        return tf.reshape(m, [1, dh]); // [1, d_head]
      });
      const means = tf.reshape(tf.concat(rows, 0), [1, H, 1, dh]); // [1, head, 1, d_head]
      const mask = headMask(H, hs); // [1, head, 1, 1]
      return tf.add(tf.mul(z, tf.sub(1, mask)), tf.mul(means, mask)); // [batch, head, pos, d_head]
    },
  }));
}

/** A head whose result is replaced by given values at given positions. */
export interface HeadPatch extends HeadRef {
  /** Query positions of the current call (0-based within this call's tokens). */
  positions: readonly number[];
  /** The new result at those positions: [batch, positions.length, d_model], or [positions.length, d_model] for every row. */
  value: tf.Tensor;
}

/** Patch heads: result_h[:, positions] ← value (activation patching on hook_result). */
export function patchHeadResults(patches: readonly HeadPatch[]): Hook[] {
  return [...byLayer(patches)].map(([layer, ps]) => ({
    name: `blocks.${layer}.attn.hook_result`,
    fn: (result: tf.Tensor) => {
      const [B, H, P, d] = result.shape as [number, number, number, number];
      let out = result; // [batch, head, pos, d_model]
      for (const p of ps) {
        const n = p.positions.length;
        const value = p.value.rank === 2 ? tf.broadcastTo(p.value, [B, n, d]) : p.value; // [batch, n, d_model]
        if (!tf.util.arraysEqual(value.shape, [B, n, d])) {
          throw new Error(`patch for layer ${layer} head ${p.head} has shape [${p.value.shape}], expected [${B}, ${n}, ${d}] or [${n}, ${d}]`);
        }
        const idx = new Int32Array(P); // position → row of value (0 where unpatched; masked out)
        const posMask = new Float32Array(P);
        p.positions.forEach((q, i) => {
          if (q < 0 || q >= P) throw new Error(`patch position ${q} is outside this call's ${P} positions`);
          idx[q] = i;
          posMask[q] = 1;
        });
        const full = tf.expandDims(tf.gather(value, tf.tensor1d(idx, 'int32'), 1), 1); // [batch, 1, pos, d_model]
        const mask = tf.mul(headMask(H, [p]), tf.tensor4d(posMask, [1, 1, P, 1])); // [1, head, pos, 1]
        out = tf.add(tf.mul(out, tf.sub(1, mask)), tf.mul(full, mask)); // [batch, head, pos, d_model]
      }
      return out;
    },
  }));
}
