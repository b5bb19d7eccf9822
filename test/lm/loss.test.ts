/** crossEntropy's custom gradient against tf's autograd of −log softmax and against finite differences; tokenNll. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { ensureGradients } from '../../src/core/gradients.js';
import { crossEntropy, tokenNll } from '../../src/lm/loss.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { centralDiff } from '../helpers/finiteDiff.js';

beforeAll(async () => {
  await useBackend('wasm');
  await ensureGradients();
});

const N = 6;
const V = 11;
const logitsData = normalArray(makeRng('ce'), N * V, 3);
const targets = [0, 10, 3, 3, 7, 1];

/** −(1/N) Σ log softmax(x_i)[t_i] in float64. */
function ce64(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < N; i++) {
    const row = Array.from({ length: V }, (_, j) => x[i * V + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    s += lse - row[targets[i]];
  }
  return s / N;
}

describe('crossEntropy', () => {
  it('value equals the float64 reference', () => {
    const v = tf.tidy(() => crossEntropy(tf.tensor2d(logitsData, [N, V]), tf.tensor1d(targets, 'int32')).dataSync()[0]);
    expect(Math.abs(v - ce64(logitsData))).toBeLessThan(1e-5);
  });

  it("gradient equals tf's autograd of the naive −mean Σ onehot·logSoftmax", () => {
    const x = tf.tensor2d(logitsData, [N, V]);
    const t = tf.tensor1d(targets, 'int32');
    const dy = tf.scalar(1.7); // an upstream gradient other than 1
    const ours = tf.grad((z: tf.Tensor) => crossEntropy(z, t))(x, dy);
    // (tf.oneHot(…, 'float32') returns zeros on tfjs-wasm 4.22: cast an int32 one-hot instead)
    const onehot = tf.cast(tf.oneHot(t, V), 'float32'); // [N, V]
    const naive = tf.grad((z: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(z), onehot), -1))))(x, dy);
    const a = ours.dataSync();
    const b = naive.dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6);
    tf.dispose([x, t, dy, onehot, ours, naive]);
  });

  it('gradient agrees with central finite differences of the float64 loss', () => {
    const g = tf.tidy(() =>
      tf
        .grad((z: tf.Tensor) => crossEntropy(z, tf.tensor1d(targets, 'int32')))(tf.tensor2d(logitsData, [N, V]))
        .dataSync(),
    );
    const x = Float64Array.from(logitsData);
    const h = 1e-4;
    for (let k = 0; k < x.length; k += 5) {
      expect(Math.abs(g[k] - centralDiff(x, k, h, () => ce64(x)))).toBeLessThan(1e-5);
    }
  });

  it('leaves no tensors behind under tf.variableGrads', () => {
    const w = tf.variable(tf.tensor2d(logitsData, [N, V]));
    const t = tf.tensor1d(targets, 'int32');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => crossEntropy(tf.mul(w, 1), t)), [w]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, t]);
  });
});

describe('tokenNll', () => {
  it('is the per-token −log softmax, also for logits far apart (no cap, no overflow)', () => {
    const nll = tf.tidy(() => tokenNll(tf.tensor2d(logitsData, [N, V]), tf.tensor1d(targets, 'int32')).dataSync());
    const mean = Array.from(nll).reduce((a, b) => a + b, 0) / N;
    expect(Math.abs(mean - ce64(logitsData))).toBeLessThan(1e-5);
    const far = tf.tidy(() => tokenNll(tf.tensor2d([[500, 0, -500]], [1, 3]), tf.tensor1d([2], 'int32')).dataSync()[0]);
    expect(far).toBeCloseTo(1000, 2);
  });
});
