/**
 * Positional encoding as an effective spin (HJ Eqs. 4–5):
 * S_i → (1 − y) S_i + y P_i with the sinusoidal P of Vaswani et al.,
 *   (P_i)_{2m+1} = sin(i / base^{2m/d}),  (P_i)_{2m+2} = cos(i / base^{2m/d})   (1-based components).
 *
 *   N^(PE) = (1−y) N⁽⁰⁾ + y Σ_j ⟨P⟩_j + y/(τT) Σ_ij σ_ji [(P_j − 2S_j) W (S_i − ⟨S⟩_j)ᵀ
 *            + S_j W (P_i − ⟨P⟩_j)ᵀ] S_i                                                     (HJ Eq. 4)
 *   H^(PE) = (1−y)² H⁽⁰⁾ − y(1−y)(P_j W S_iᵀ + S_j W P_iᵀ)/τ − y² Σ_m cos((j−i)/base^{2m/d})/τ  (HJ Eq. 5)
 * HJ Eq. 5's last term is −y² P_j W P_iᵀ/τ evaluated for W = I; for odd d the unpaired last sine
 * component adds sin(j ω)·sin(i ω), which we include so that HJ Eq. 5 is exact at W = I for any d.
 */
import * as tf from '@tensorflow/tfjs-core';
import { boltzmannWeights, pairEnergy } from './attention.js';
import { linearResponse } from './bias.js';
import { contextFieldMeanField, type BathOptions } from './field.js';
import { matmul, matmulT } from './linalg.js';

/** Sinusoidal positional encoding (HJ Eqs. 4–5): frequency base and the position of the first token. */
export interface PositionalOptions {
  /** Frequency base (10000 in Vaswani et al.; Fig. 4b's caption prints 1000). */
  base?: number;
  /** Position of the first token (0 as in Vaswani et al.; with it Fig. 4b reproduces the GOOD→EVIL switch). */
  start?: number;
}

/** Frequency of component c (0-based): 1 / base^{2⌊c/2⌋/d}. */
function omega(c: number, d: number, base: number): number {
  return 1 / Math.pow(base, (2 * Math.floor(c / 2)) / d);
}

/** Sinusoidal encodings P [k, d] for positions start..start+k−1. */
export function sinusoidalPositions(k: number, d: number, opts: PositionalOptions = {}): tf.Tensor {
  const base = opts.base ?? 10000;
  const start = opts.start ?? 0;
  const data = new Float32Array(k * d);
  for (let i = 0; i < k; i++) {
    for (let c = 0; c < d; c++) {
      const a = (start + i) * omega(c, d, base);
      data[i * d + c] = c % 2 === 0 ? Math.sin(a) : Math.cos(a);
    }
  }
  return tf.tensor2d(data, [k, d]);
}

/** S̃ = (1 − y) S + y P, with P [k, d] broadcast over the batch: [b, k, d]. */
export function withPositions(S: tf.Tensor, P: tf.Tensor, y: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(S, 1 - y), tf.mul(P, y)));
}

/** Exact PE Hamiltonian −S̃_j W S̃_iᵀ / τ: [b, k, k]. */
export function peHamiltonianExact(S: tf.Tensor, Weff: tf.Tensor, P: tf.Tensor, y: number, tau = 1): tf.Tensor {
  return tf.tidy(() => {
    const St = withPositions(S, P, y);
    return pairEnergy(St, St, Weff, tau);
  });
}

/** HJ Eq. 5, the closed form with the cosine sum (exact when W_eff = I): [b, k, k]. */
export function peHamiltonianEq5(S: tf.Tensor, Weff: tf.Tensor, y: number, tau = 1, opts: PositionalOptions = {}): tf.Tensor {
  const [b, k, d] = S.shape as number[];
  const base = opts.base ?? 10000;
  const start = opts.start ?? 0;
  const cosSum = new Float32Array(k * k);
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let m = 0; m < Math.floor(d / 2); m++) s += Math.cos((j - i) * omega(2 * m, d, base));
      if (d % 2 === 1) {
        const w = omega(d - 1, d, base);
        s += Math.sin((start + j) * w) * Math.sin((start + i) * w);
      }
      cosSum[j * k + i] = s;
    }
  }
  return tf.tidy(() => {
    const P = tf.broadcastTo(sinusoidalPositions(k, d, opts), [b, k, d]);
    const H0 = pairEnergy(S, S, Weff, tau); // [b, k, k]
    const cross = tf.add(pairEnergy(P, S, Weff, tau), pairEnergy(S, P, Weff, tau)); // −(P_j W S_iᵀ + S_j W P_iᵀ)/τ
    const last = tf.mul(tf.tensor2d(cosSum, [k, k]), -(y * y) / tau);
    return tf.add(tf.add(tf.mul(H0, (1 - y) ** 2), tf.mul(cross, y * (1 - y))), last);
  });
}

/** Exact PE context vector: the mean field of the bath S̃ (values S̃ too): [b, d]. */
export function peContextExact(S: tf.Tensor, Weff: tf.Tensor, P: tf.Tensor, y: number, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => contextFieldMeanField(withPositions(S, P, y), Weff, opts));
}

/** HJ Eq. 4: the PE context vector to first order in y: [b, d]. */
export function peContextFirstOrder(S: tf.Tensor, Weff: tf.Tensor, P: tf.Tensor, y: number, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    const tau = opts.tau ?? 1;
    const T = opts.temperature ?? 1;
    const [b, k, d] = S.shape as number[];
    const Pb = tf.broadcastTo(P, [b, k, d]); // [b, k, d]
    const sigma = boltzmannWeights(pairEnergy(S, S, Weff, tau), opts); // [b, k, k]
    const N0 = tf.sum(matmul(sigma, S), 1); // [b, d]
    const meanP = tf.sum(matmul(sigma, Pb), 1); // [b, d]  Σ_j ⟨P⟩_j
    const W2 = tf.reshape(Weff, [1, d, d]);
    const Wb = tf.broadcastTo(W2, [b, d, d]);
    // ΔL_ji · τT / y = (P_j − 2S_j) W S_iᵀ + S_j W P_iᵀ
    const left = matmul(tf.sub(Pb, tf.mul(S, 2)), Wb); // [b, k, d]
    const dLogits = tf.mul(tf.add(matmulT(left, S), matmulT(matmul(S, Wb), Pb)), 1 / (tau * T)); // [b, k, k]
    const response = linearResponse(sigma, dLogits, S); // [b, d]
    return tf.add(tf.add(tf.mul(N0, 1 - y), tf.mul(meanP, y)), tf.mul(response, y));
  });
}
