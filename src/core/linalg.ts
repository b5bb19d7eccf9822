/**
 * Matrix products with explicit transposes. On tfjs-wasm, matMul(a, b, transposeA, transposeB)
 * runs 10-30x slower than transposing first, and matMul's autograd uses those transposed forms;
 * these wrappers transpose explicitly in both the forward and the backward pass.
 *
 * Batched products: tfjs-wasm sends only a batch of ONE [n,k]·[k,m] product to XNNPack; a batch of
 * several (e.g. [head, pos, d_head] attention products) runs a naive loop at ~2-3 GFLOP/s. When
 * each item is big enough (n·k·m ≥ 64K multiply-adds: attention over ≥ ~32 tokens, per-head
 * W_O products) `matmul` therefore splits the batch into 2-D products (XNNPack, ~30 GFLOP/s) and
 * stacks the results: 2-6x faster at 64-256 tokens. Small items (short prompts, KV-cached
 * decoding with one query) keep the batched kernel, whose per-call overhead is lower. Same values
 * up to float rounding (the summation order differs). Differentiable: the gradient is `matmul`'s
 * own (customGrad), which takes the same route.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Swap the last two axes. */
export function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** Per-item multiply-adds from which a loop of 2-D products beats tfjs-wasm's batched kernel (measured). */
const LOOP_MIN_MACS = 65536;

function loopWins(bt: number, n: number, k: number, m: number): boolean {
  return bt > 1 && n * k * m >= LOOP_MIN_MACS && tf.getBackend() === 'wasm';
}

/**
 * The bt items of x [bt, ...rest] as tensors [...rest]: one read of x, then one upload per item.
 * (tfjs-wasm's Slice, and so unstack/split, copies its WHOLE input once per output: bt² work.)
 */
function splitBatch(x: tf.Tensor): tf.Tensor[] {
  const [bt, ...rest] = x.shape;
  const size = tf.util.sizeFromShape(rest);
  const vals = x.dataSync() as Float32Array;
  return Array.from({ length: bt }, (_, i) => tf.tensor(vals.subarray(i * size, (i + 1) * size), rest, 'float32'));
}

/** a [..., n, k]·b [..., k, m] with equal leading dims, by the faster of the batched kernel and a loop of 2-D products. */
function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank <= 2 || a.rank !== b.rank || !tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2))) return tf.matMul(a, b);
  const lead = a.shape.slice(0, -2);
  const [n, k] = a.shape.slice(-2) as [number, number];
  const m = b.shape[b.rank - 1];
  const bt = tf.util.sizeFromShape(lead);
  if (!loopWins(bt, n, k, m) || a.dtype !== 'float32' || b.dtype !== 'float32') return tf.matMul(a, b);
  return tf.tidy(() => {
    const as = splitBatch(tf.reshape(a, [bt, n, k])); // bt × [n, k]
    const bs = splitBatch(tf.reshape(b, [bt, k, m])); // bt × [k, m]
    const outs = as.map((ai, i) => tf.matMul(ai, bs[i])); // bt × [n, m]
    return tf.reshape(tf.stack(outs), [...lead, n, m]); // [..., n, m]
  });
}

/** Batched a·b with equal leading (batch) dims: a [..., n, k], b [..., k, m] → [..., n, m]. */
export const matmul: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: bmm(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved;
        return [bmm(dy, swapLast(sb)), bmm(swapLast(sa), dy)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0], // its typing admits one tensor argument; the runtime passes each input
) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** Batched a·bᵀ with an explicit transpose: a [..., n, k], b [..., m, k] → [..., n, m]. */
export function matmulT(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return matmul(a, swapLast(b));
}

/**
 * Affine map of the last axis, x·W (+ bias), GPT-2 Conv1D layout (W stored [in, out]).
 * x [..., in], W [in, out], bias [out] → [..., out]; the leading axes are flattened into one matmul.
 */
export function linear(x: tf.Tensor, W: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inDim = W.shape[0] as number;
  const outDim = W.shape[1] as number;
  const lead = x.shape.slice(0, -1);
  const y = matmul(tf.reshape(x, [-1, inDim]), W); // [rows, out]
  const yb = bias ? tf.add(y, bias) : y;
  return tf.reshape(yb, [...lead, outDim]);
}
