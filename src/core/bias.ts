/**
 * A linear bias of the spins, S → S B with B = I + ξδ (HJ Eqs. 2–3).
 *
 * Exact forms recompute the bath with the biased spins. First-order forms expand in ξ:
 *   H = H⁽⁰⁾ − ξ S_j M S_iᵀ / τ,  M = δ W_eff + W_eff δᵀ                            (HJ Eq. 2)
 *   N = N⁽⁰⁾ + ξ N⁽⁰⁾ δ + ξ/(τT) Σ_ij σ_ji [S_j M (S_i − ⟨S⟩_j)ᵀ] S_i               (HJ Eq. 3)
 * For an antisymmetric δ (B orthogonal to first order, as the paper assumes) M = δW − Wδ, which is
 * the paper's printed form; the general M above is what the expansion gives for any δ.
 */
import * as tf from '@tensorflow/tfjs-core';
import { boltzmannWeights, pairEnergy } from './attention.js';
import { contextFieldMeanField, type BathOptions } from './field.js';
import { matmul, matmulT } from './linalg.js';

/** B = I + ξδ. */
export function biasMatrix(delta: tf.Tensor, xi: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.eye(delta.shape[0] as number), tf.mul(delta, xi))); // [d, d]
}

/** Apply a d×d matrix to every spin (row vector): S [b, k, d] → S·B [b, k, d]. */
export function applyRight(S: tf.Tensor, B: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [b, k, d] = S.shape as number[];
    return tf.reshape(matmul(tf.reshape(S, [b * k, d]), B), [b, k, d]);
  });
}

/** The first-order coupling of the bias: M = δ W_eff + W_eff δᵀ (= δW − Wδ for antisymmetric δ). */
export function biasCoupling(Weff: tf.Tensor, delta: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(matmul(delta, Weff), matmulT(Weff, delta))); // [d, d]
}

/** Exact biased Hamiltonian −(S_j B) W_eff (S_i B)ᵀ / τ: [b, k, k]. */
export function biasedHamiltonianExact(S: tf.Tensor, Weff: tf.Tensor, delta: tf.Tensor, xi: number, tau = 1): tf.Tensor {
  return tf.tidy(() => {
    const SB = applyRight(S, biasMatrix(delta, xi));
    return pairEnergy(SB, SB, Weff, tau);
  });
}

/** HJ Eq. 2: H⁽⁰⁾ − ξ S_j M S_iᵀ / τ: [b, k, k]. */
export function biasedHamiltonianFirstOrder(S: tf.Tensor, Weff: tf.Tensor, delta: tf.Tensor, xi: number, tau = 1): tf.Tensor {
  return tf.tidy(() => tf.add(pairEnergy(S, S, Weff, tau), tf.mul(pairEnergy(S, S, biasCoupling(Weff, delta), tau), xi)));
}

/** Exact biased context vector: the mean field of the biased bath S B (values biased too): [b, d]. */
export function biasedContextExact(S: tf.Tensor, Weff: tf.Tensor, delta: tf.Tensor, xi: number, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => contextFieldMeanField(applyRight(S, biasMatrix(delta, xi)), Weff, opts));
}

/**
 * The response term Σ_ij σ_ji [S_j M (S_i − ⟨S⟩_j)ᵀ] S_i shared by HJ Eqs. 3 and 4, for a general
 * first-order change of the logits ΔL_ji = A_j·S_i (A = the per-query effective field [b, k, d],
 * here S M) plus an optional per-pair extra term: returns Σ_i (Σ_j σ_ji (ΔL_ji − ⟨ΔL⟩_j)) V_i.
 */
export function linearResponse(sigma: tf.Tensor, dLogits: tf.Tensor, V: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.sum(tf.mul(sigma, dLogits), -1, true); // [b, k, 1]  ⟨ΔL⟩_j
    const w = tf.mul(sigma, tf.sub(dLogits, mean)); // [b, k, k]  dσ_ji
    const c = tf.sum(w, 1); // [b, k]  Σ_j dσ_ji
    return tf.squeeze(matmul(tf.expandDims(c, 1), V), [1]); // [b, dv]
  });
}

/** HJ Eq. 3: N⁽⁰⁾ + ξ N⁽⁰⁾ δ + ξ/(τT) Σ_ij σ_ji [S_j M (S_i − ⟨S⟩_j)ᵀ] S_i: [b, d]. */
export function biasedContextFirstOrder(S: tf.Tensor, Weff: tf.Tensor, delta: tf.Tensor, xi: number, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    const tau = opts.tau ?? 1;
    const T = opts.temperature ?? 1;
    const sigma = boltzmannWeights(pairEnergy(S, S, Weff, tau), opts); // [b, k, k]
    const N0 = tf.sum(matmul(sigma, S), 1); // [b, d]
    const dLogits = tf.mul(pairEnergy(S, S, biasCoupling(Weff, delta), tau), -1 / T); // [b, k, k]  S_j M S_iᵀ/(τT)
    const response = linearResponse(sigma, dLogits, S); // [b, d]
    return tf.add(tf.add(N0, tf.mul(matmul(N0, delta), xi)), tf.mul(response, xi));
  });
}
