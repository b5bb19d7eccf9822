/**
 * Matrix products with explicit transposes. On tfjs-wasm, matMul(a, b, transposeA, transposeB)
 * runs 10-30x slower than transposing first, and matMul's autograd uses those transposed forms;
 * these wrappers transpose explicitly in both the forward and the backward pass.
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

/** Batched a·b with equal leading (batch) dims: a [..., n, k], b [..., k, m] → [..., n, m]. */
export const matmul: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved;
        return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
      },
    };
  }) as any,
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
