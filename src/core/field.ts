/**
 * Context fields and token scores (HJ Eq. 6 and the mean-field form of N⁽⁰⁾;
 * BL Eqs. 6–8 for the last-query GPT-2 form).
 *
 * Spins are row vectors; batched inputs carry a leading batch axis: S [b, k, d].
 */
import * as tf from '@tensorflow/tfjs-core';
import { boltzmannWeights, ensembleAverage, pairEnergy, type BoltzmannOptions } from './attention.js';
import { matmul, matmulT } from './linalg.js';

/** Ensemble options of a bath plus the coupling scale τ. */
export interface BathOptions extends BoltzmannOptions {
  /** Energy scale τ: H = −S W_eff Sᵀ / τ. τ = 1 in the toy paper, √d_head in GPT-2. */
  tau?: number;
}

/** W_eff = W_Q W_Kᵀ / τ (HJ Eq. 1's coupling). WQ, WK [d, dk] → [d, d]. */
export function effectiveCoupling(WQ: tf.Tensor, WK: tf.Tensor, tau = 1): tf.Tensor {
  return tf.tidy(() => tf.div(matmulT(WQ, WK), tau)); // [d, d]
}

/** The Boltzmann ensemble of the bath S [b, k, d] under W_eff: σ [b, k, k] (σ_ji, query j, key i). */
export function bathWeights(S: tf.Tensor, Weff: tf.Tensor, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => boltzmannWeights(pairEnergy(S, S, Weff, opts.tau ?? 1), opts));
}

/**
 * Per-query ensemble averages ⟨S⟩_j = Σ_i σ(S_j, S_i) S_i for the bath S [b, k, d], with the values
 * `values` [b, k, dv] (the spins themselves by default). Returns [b, k, dv].
 */
export function ensembleAverages(S: tf.Tensor, Weff: tf.Tensor, opts: BathOptions = {}, values?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => ensembleAverage(bathWeights(S, Weff, opts), values ?? S));
}

/** The toy paper's mean-field context vector N⁽⁰⁾ = Σ_j ⟨S⟩_j⁽⁰⁾ over all k queries: [b, k, d] → [b, d]. */
export function contextFieldMeanField(S: tf.Tensor, Weff: tf.Tensor, opts: BathOptions = {}, values?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(ensembleAverages(S, Weff, opts, values), -2)); // [b, d]
}

/**
 * The last-query context field used for GPT-2: N₀ = Σ_j α_j V_j, with α the attention of the final
 * position over the keys. alpha [..., m], V [..., m, dv] → [..., dv].
 */
export function contextFieldLastQuery(alpha: tf.Tensor, V: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.squeeze(matmul(tf.expandDims(alpha, -2), V), [-2])); // [..., dv]
}

/** N_proj = N₀ W_O (row-vector convention). N0 [..., dv], WO [dv, d] → [..., d]. */
export function projectField(N0: tf.Tensor, WO: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const lead = N0.shape.slice(0, -1);
    return tf.reshape(matmul(tf.reshape(N0, [-1, WO.shape[0] as number]), WO), [...lead, WO.shape[1] as number]);
  });
}

/**
 * HJ Eq. 6: token scores 𝒫(x) = N W_V xᵀ for every candidate x. N [b, d], WV [d, d] (or null for I),
 * X [V, d] → [b, V].
 */
export function tokenScores(N: tf.Tensor, X: tf.Tensor, WV: tf.Tensor | null = null): tf.Tensor {
  return tf.tidy(() => matmulT(WV ? matmul(N, WV) : N, X)); // [b, V]
}

/** Cosine between each candidate x and the effective normal N W_V: [b, d], [V, d] → [b, V]. */
export function tokenCosines(N: tf.Tensor, X: tf.Tensor, WV: tf.Tensor | null = null): tf.Tensor {
  return tf.tidy(() => {
    const n = WV ? matmul(N, WV) : N; // [b, d]
    const nHat = tf.div(n, tf.norm(n, 'euclidean', -1, true)); // [b, d]
    const xHat = tf.div(X, tf.norm(X, 'euclidean', -1, true)); // [V, d]
    return matmulT(nHat, xHat); // [b, V]
  });
}

/** Logit gap ΔL = N·(e_good − e_bad) (BL Eq. 8). N [..., d], eGood/eBad [..., d] → [...]. */
export function logitGap(N: tf.Tensor, eGood: tf.Tensor, eBad: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.mul(N, tf.sub(eGood, eBad)), -1));
}
