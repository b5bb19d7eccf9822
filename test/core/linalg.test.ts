/**
 * core/linalg matmul on both of its paths (tfjs-wasm's batched kernel for small items, a loop of
 * 2-D products for large ones), values and gradients against tf.matMul's own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { ensureGradients } from '../../src/core/gradients.js';
import { matmul, matmulT } from '../../src/core/linalg.js';
import { maxAbsDiff, randn } from '../helpers/tensors.js';

beforeAll(async () => {
  await useBackend('wasm');
  await ensureGradients();
});

describe('matmul', () => {
  // [2, 3, 8, 8]: 512 MACs per item (batched kernel); [2, 3, 64, 80]·[.., 80, 48]: 245,760 (loop path)
  for (const [n, k, m] of [
    [8, 8, 8],
    [64, 80, 48],
  ]) {
    it(`equals tf.matMul in value and gradient, items ${n}×${k}×${m}`, () => {
      const a = randn([2, 3, n, k], `a${n}`);
      const b = randn([2, 3, k, m], `b${n}`);
      expect(maxAbsDiff(matmul(a, b), tf.matMul(a, b))).toBeLessThan(1e-4);
      expect(maxAbsDiff(matmulT(a, tf.transpose(b, [0, 1, 3, 2])), tf.matMul(a, b))).toBeLessThan(1e-4);
      const w = randn([2, 3, n, m], `w${n}`);
      const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matmul(x, y), w)))([a, b]);
      const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), w)))([a, b]);
      expect(maxAbsDiff(ours[0], ref[0])).toBeLessThan(1e-4);
      expect(maxAbsDiff(ours[1], ref[1])).toBeLessThan(1e-4);
    });
  }
});
