/**
 * Softmax cross-entropy for language-model training and evaluation.
 *
 * On CPU the [tokens × vocab] elementwise work dominates everything but the matmuls, so
 * `crossEntropy` is a tf.customGrad with the fewest passes over that matrix we found on
 * tfjs-wasm (measured there: one exp pass costs ~5× the fused Softmax kernel):
 *
 *   forward   p = softmax(logits)                          1 kernel (wasm's fused Softmax)
 *             loss = mean_i −log p[i, t_i]                  gathers N values only
 *   backward  g = (p − onehot(t)) · dy/N                   1 scatter (copy + N updates), 1 multiply
 *
 * p is saved for the backward pass, so exp is never recomputed. −log p[i, t_i] is exact while
 * p[i, t_i] ≥ FLT_MIN (a per-token loss below −log FLT_MIN ≈ 87.3); beyond that the reported loss
 * is capped at 87.3 (the gradient, p − onehot, is unaffected). Evaluation uses `tokenNll`, which
 * has no cap: logZ = max(x) − log(max(p)) and max(p) ≥ 1/vocab never underflows.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Smallest normal float32: the floor of p[i, t_i] before the log. */
const FLT_MIN = 1.1754943508222875e-38;

/** Flat indices i·vocab + t_i of the target entries of a [N, vocab] matrix. targets int32 [N] → int32 [N]. */
function targetIndex(targets: tf.Tensor, vocab: number): tf.Tensor {
  const n = targets.shape[0] as number;
  return tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(vocab, 'int32')), targets); // [N]
}

/**
 * Mean cross-entropy −(1/N) Σ_i log softmax(logits_i)[t_i] with the hand-written gradient above.
 * logits float32 [N, vocab], targets int32 [N] → scalar. No gradient flows to `targets`.
 */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  if (logits.rank !== 2 || targets.rank !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: logits [N, vocab] and targets [N] expected, got [${logits.shape}] and [${targets.shape}]`);
  }
  if (targets.dtype !== 'int32') throw new Error(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  const [n, vocab] = logits.shape as [number, number];
  const ce = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(x); // [N, vocab]
    const flat = targetIndex(targets, vocab); // [N]
    const pt = tf.gather(tf.reshape(p, [-1]), flat); // [N]  p[i, t_i]
    save([p, pt, targets]);
    return {
      value: tf.neg(tf.mean(tf.log(tf.maximum(pt, FLT_MIN)))), // scalar
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sp, spt, st] = saved;
        const idx = tf.stack([tf.range(0, n, 1, 'int32'), st], 1); // [N, 2]  (i, t_i)
        const pMinusOnehot = tf.tensorScatterUpdate(sp, idx, tf.sub(spt, 1)); // [N, vocab]
        return [tf.mul(pMinusOnehot, tf.div(dy, n))]; // [N, vocab]
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as unknown as (x: tf.Tensor) => tf.Scalar;
  return ce(logits);
}

/**
 * Per-token negative log-likelihood −log softmax(logits_i)[t_i], without gradient or cap:
 * logZ_i = max_j x_ij − log max_j p_ij. logits [N, vocab], targets int32 [N] → float32 [N].
 */
export function tokenNll(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const vocab = logits.shape[1] as number;
    const m = tf.max(logits, -1); // [N]
    const pmax = tf.max(tf.softmax(logits), -1); // [N]
    const xt = tf.gather(tf.reshape(logits, [-1]), targetIndex(targets, vocab)); // [N]
    return tf.sub(tf.sub(m, tf.log(pmax)), xt); // [N]
  });
}
