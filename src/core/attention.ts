/**
 * The one implementation of attention in spinbath, written in the spin-bath terms of
 * Huo & Johnson (2025): pair energies (HJ Eq. 1), a Boltzmann ensemble over keys (the softmax),
 * and ensemble averages of the value spins. The GPT-2 forward pass, the toy bath and the
 * context-field extractor all call these functions.
 *
 * Shapes are batched: any leading axes ([...]) are carried through.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matmul, matmulT } from './linalg.js';

/** HJ Eq. 1 in query/key form: H_ji = −Q_j·K_i / τ. Q [..., k, dk], K [..., m, dk] → H [..., k, m]. */
export function pairEnergyQK(Q: tf.Tensor, K: tf.Tensor, tau = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(matmulT(Q, K), -1 / tau)); // [..., k, m]
}

/**
 * HJ Eq. 1: H(S_j, S_i) = −S_j W_eff S_iᵀ / τ for query spins Sq [..., k, d], key spins Sk [..., m, d]
 * and coupling W_eff [d, d] (W_eff = W_Q W_Kᵀ). Returns H [..., k, m].
 */
export function pairEnergy(Sq: tf.Tensor, Sk: tf.Tensor, Weff: tf.Tensor, tau = 1): tf.Tensor {
  return tf.tidy(() => {
    const d = Weff.shape[0] as number;
    const lead = Sq.shape.slice(0, -1);
    const SqW = tf.reshape(matmul(tf.reshape(Sq, [-1, d]), Weff), [...lead, Weff.shape[1] as number]); // [..., k, d]
    return pairEnergyQK(SqW, Sk, tau);
  });
}

/** Temperature T, scale τ and causal masking of the Boltzmann ensemble (HJ softmax). */
export interface BoltzmannOptions {
  /** Temperature T of the ensemble (softmax of −H/T); T = 1 is standard attention. */
  temperature?: number;
  /** Causal mask: query j sees keys i ≤ j + queryOffset. */
  causal?: boolean;
  /** Position of the first query among the keys (KV-cached decoding: the number of cached keys). */
  queryOffset?: number;
}

/**
 * Boltzmann weights of the ensemble: σ_ji = exp(−H_ji/T) / Σ_α exp(−H_jα/T) over the keys i that
 * query j may see. H [..., k, m] → σ [..., k, m], each row summing to 1.
 */
export function boltzmannWeights(H: tf.Tensor, opts: BoltzmannOptions = {}): tf.Tensor {
  const T = opts.temperature ?? 1;
  return tf.tidy(() => {
    let logits = tf.mul(H, -1 / T); // [..., k, m]
    if (opts.causal) {
      const k = H.shape[H.rank - 2];
      const m = H.shape[H.rank - 1];
      logits = tf.add(logits, causalMask(k, m, opts.queryOffset ?? m - k));
    }
    return tf.softmax(logits);
  });
}

/** Additive causal mask [k, m]: 0 where key i ≤ query j + offset, −1e9 elsewhere. */
export function causalMask(k: number, m: number, offset: number): tf.Tensor {
  const data = new Float32Array(k * m);
  for (let j = 0; j < k; j++) for (let i = 0; i < m; i++) if (i > j + offset) data[j * m + i] = -1e9;
  return tf.tensor2d(data, [k, m]);
}

/** Ensemble averages ⟨V⟩_j = Σ_i σ_ji V_i. σ [..., k, m], V [..., m, dv] → [..., k, dv]. */
export function ensembleAverage(sigma: tf.Tensor, V: tf.Tensor): tf.Tensor {
  return matmul(sigma, V); // [..., k, dv]
}

/** The result of {@link attend}: pair energies, Boltzmann weights (the pattern) and the ensemble averages z. */
export interface AttendResult {
  /** Pair energies H [..., k, m] (attention scores are −H). */
  energy: tf.Tensor;
  /** Boltzmann weights σ [..., k, m] (the attention pattern). */
  pattern: tf.Tensor;
  /** Ensemble averages ⟨V⟩ [..., k, dv] (per-head context vectors, z). */
  z: tf.Tensor;
}

/** Full attention in spin-bath form: energies, Boltzmann weights, ensemble averages. */
export function attend(Q: tf.Tensor, K: tf.Tensor, V: tf.Tensor, tau: number, opts: BoltzmannOptions = {}): AttendResult {
  const energy = pairEnergyQK(Q, K, tau); // [..., k, m]
  const pattern = boltzmannWeights(energy, opts); // [..., k, m]
  const z = ensembleAverage(pattern, V); // [..., k, dv]
  return { energy, pattern, z };
}
