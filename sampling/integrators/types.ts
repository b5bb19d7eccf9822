/**
 * The integrator contract of the guided reverse sampler: one `step()` from τ to τ + dτ of the
 * Stratonovich SDE dS = a(S, τ) dτ + g(τ) P_S ∘ dW̄ on S^{d−1} (Bhattacharjee & Lee, Eq. 14 / B6),
 * with the physics (a, g) supplied by an `Sde` (sampling/drift.ts). Batched: S is [n, d].
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Sde } from '../drift.js';

export interface Integrator {
  readonly name: string;
  /**
   * One step. S [n, d] unit rows (not disposed); `noise` the ambient Wiener increment ΔW̄ [n, d] ~
   * N(0, dτ I), drawn once per step by the caller (null: the deterministic flow). Returns the new
   * unit rows [n, d]; every intermediate is released (tf.tidy).
   */
  step(S: tf.Tensor, tau: number, dtau: number, drift: Sde, noise: tf.Tensor | null): tf.Tensor;
}
