/**
 * Geometry of the spin sphere S^{d−1} (BL Eqs. 10, 12–14, B2–B3): the one
 * implementation of tangent projection, exponential and logarithm maps, and the geodesic random
 * walk used by forward noising (training/) and by the reverse samplers (sampling/).
 * Batched: spins are rows, S [n, d].
 *
 * Two forms of the same maps: tensors (tfjs; training, analysis) and host rows (Float32Array
 * [n·d], row-major; the reverse sampler's inner loop, where a step's few thousand numbers cost less
 * on the host than the dispatch of tfjs kernels). test/core/sphere.test.ts checks them equal. The
 * host row functions run WASM SIMD kernels on rows of the row arena (src/core/kernels/rows.ts),
 * plain loops otherwise (test/core/rows.test.ts checks the two agree).
 */
import * as tf from '@tensorflow/tfjs-core';
import { normalArray, type Rng } from '../rng.js';

export { expMapRows, normalizeRows, projectCombineRows, retractRows, tangentProjectRows, uniformSpinRows, type RowCombination } from './sphereRows.js';

/** Row-wise dot product: [n, d], [n, d] → [n, 1]. */
export function rowDot(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.mul(a, b), -1, true));
}

/** Project rows onto the sphere: S / |S|. */
export function normalizeSpins(S: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(S, tf.rsqrt(tf.sum(tf.square(S), -1, true))));
}

/** BL Eq. 10 / B3: P_S v = v − (S·v) S, the tangent projection at S. [n, d], [n, d] (or [d]) → [n, d]. */
export function tangentProject(S: tf.Tensor, v: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(v, tf.mul(rowDot(S, v), S)));
}

/** Exponential map: exp_S(v) = cos|v| S + sin|v| v/|v| for tangent v (v = 0 gives S). */
export function expMap(S: tf.Tensor, v: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const n = tf.norm(v, 'euclidean', -1, true); // [n, 1]
    const safe = tf.maximum(n, 1e-12);
    // sin|v|/|v| → 1 as |v| → 0
    const sinc = tf.where(tf.less(n, 1e-6), tf.onesLike(n), tf.div(tf.sin(n), safe));
    return normalizeSpins(tf.add(tf.mul(tf.cos(n), S), tf.mul(sinc, v)));
  });
}

/** Logarithm map: log_S(T) = θ (T − cosθ S)/|T − cosθ S|, θ = arccos(S·T) ∈ [0, π]. */
export function logMap(S: tf.Tensor, T: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const c = tf.clipByValue(rowDot(S, T), -1, 1); // [n, 1]
    const theta = tf.acos(c);
    const w = tf.sub(T, tf.mul(c, S)); // [n, d]
    const wn = tf.norm(w, 'euclidean', -1, true);
    const scale = tf.where(tf.less(wn, 1e-12), tf.zerosLike(wn), tf.div(theta, tf.maximum(wn, 1e-12)));
    return tf.mul(scale, w);
  });
}

/** Geodesic angle θ = arccos(S·T) per row: [n, d] → [n]. */
export function geodesicAngle(S: tf.Tensor, T: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.squeeze(tf.acos(tf.clipByValue(rowDot(S, T), -1, 1)), [-1]));
}

/** Uniform spins on S^{d−1} from the seeded RNG (normalised Gaussians): [n, d]. */
export function uniformSpins(n: number, d: number, rng: Rng): tf.Tensor {
  return tf.tidy(() => normalizeSpins(tf.tensor2d(normalArray(rng, n * d), [n, d])));
}

/** A tangent Gaussian at S with per-row variance `variance` [n] (or a scalar): P_S ξ √var. */
export function tangentGaussian(S: tf.Tensor, variance: tf.Tensor | number, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const [n, d] = S.shape as number[];
    const xi = tf.tensor2d(normalArray(rng, n * d), [n, d]);
    const sd = typeof variance === 'number' ? Math.sqrt(variance) : tf.reshape(tf.sqrt(variance), [n, 1]);
    return tangentProject(S, tf.mul(xi, sd));
  });
}

/**
 * Brownian motion on S^{d−1} with generator ½Δ run for "time" σ² (per row), by a geodesic random
 * walk: `substeps` tangent Gaussian steps of variance h = σ²/substeps, each followed by the exponential
 * map. This is the forward noising of BL Eq. 12 with σ²(t) = ∫₀ᵗ β(s) ds. S0 [n, d], sigma2 [n] → [n, d].
 * Discretisation: E[cos|v|] per step is 1 − (d−1)h/2 + (d²−1)h²/24 against the exact e^{−(d−1)h/2}, so
 * E[S_t·S_0] carries a relative bias ≈ ((d−1)σ²)²/(12·substeps): choose substeps ≫ ((d−1)σ²)² in high d.
 */
export function geodesicRandomWalk(S0: tf.Tensor, sigma2: tf.Tensor | number, substeps: number, rng: Rng): tf.Tensor {
  let S = tf.clone(S0);
  const n = S0.shape[0] as number;
  const stepVar = tf.tidy(() => (typeof sigma2 === 'number' ? tf.fill([n], sigma2 / substeps) : tf.div(sigma2, substeps)));
  for (let k = 0; k < substeps; k++) {
    const next = tf.tidy(() => expMap(S, tangentGaussian(S, stepVar, rng)));
    S.dispose();
    S = next;
  }
  stepVar.dispose();
  return S;
}
