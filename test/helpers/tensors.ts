/** Small helpers for tests: seeded random tensors and host comparisons. */
import * as tf from '@tensorflow/tfjs-core';
import { makeRng, normalArray } from '../../src/rng.js';

export function randn(shape: number[], seed: string | number, std = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(normalArray(makeRng(seed), n, std), shape);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function toArray(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
