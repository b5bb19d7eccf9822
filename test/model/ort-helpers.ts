/**
 * Shared pieces of the ORT engine's parity tests: the fixture shapes and a tolerance check.
 *
 * Tolerance: both engines compute in float32 with different kernels (summation orders, fused
 * LayerNorm/GELU in ORT), so values differ by a few float32 roundings of the tensor's own scale.
 * `expectClose` asks |ort − tfjs| ≤ 1e-4 · scale elementwise, scale = max |tfjs| over the tensor's
 * unmasked entries (masked attention scores, −1e9, are compared relative to themselves).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { Gpt2Config } from '../../src/model/weights.js';
import { smallConfig } from './gpt2-fixtures.js';

export const RTOL = 1e-4;

/** Fixture shapes: tied gelu_new; untied head with exact gelu and an n_inner; relu with one wide head per 2 dims. */
export const SHAPES: { name: string; cfg: Gpt2Config; untied: boolean }[] = [
  { name: 'tied, gelu_new, 2×4 heads', cfg: smallConfig(), untied: false },
  {
    name: 'untied lm_head, gelu (erf), n_inner 40, 3 layers × 3 heads',
    cfg: smallConfig({ n_embd: 24, n_head: 3, n_layer: 3, n_inner: 40, activation_function: 'gelu' }),
    untied: true,
  },
  {
    name: 'relu, 1 layer × 2 heads, d 16',
    cfg: smallConfig({ n_embd: 16, n_head: 2, n_layer: 1, activation_function: 'relu', vocab_size: 50 }),
    untied: false,
  },
];

/** Elementwise |got − ref| ≤ RTOL · scale (see the file comment); shapes must match exactly. */
export function expectClose(got: tf.Tensor, ref: tf.Tensor, what: string, rtol = RTOL): void {
  expect(got.shape, `${what}: shape`).toEqual(ref.shape);
  const [g, r] = [got.dataSync(), ref.dataSync()];
  let scale = 0;
  for (const v of r) if (Math.abs(v) < 1e8) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < r.length; i++) {
    const tol = rtol * (Math.abs(r[i]) >= 1e8 ? Math.abs(r[i]) : Math.max(scale, 1e-30));
    const excess = Number.isNaN(g[i]) ? Infinity : Math.abs(g[i] - r[i]) / tol;
    if (excess > worst) [worst, at] = [excess, i];
  }
  expect(worst, `${what}: worst |Δ|/tol at flat index ${at} (ort ${g[at]}, tfjs ${r[at]}, scale ${scale})`).toBeLessThanOrEqual(1);
  expect(scale, `${what}: a nonzero reference`).toBeGreaterThan(0);
}
