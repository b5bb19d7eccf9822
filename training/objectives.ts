/**
 * Training objectives for the residual tangent score (BL Eqs. 13–14, B6;
 * derivation in docs/residual-score.md). With reverse time τ = T − t the guided sampler is
 *   dS = [η P_S N̂ + β(t) P_S s_θ] dτ + √β P_S ∘ dW̄,
 * and the exact reverse drift is β(t) ∇_S log q_t, so the network's target is the residual
 *   s* = ∇_S log q_t(S | N) − (η/β(t)) P_S N̂.
 *
 * Denoising score matching (DSM): ∇ log q_t = E[c(u) P_{S_t} S_0 | S_t, N] (heat-kernel score of
 * the forward noising, src/core/heatKernel.ts), so the regression target of one sample is
 *   g = c(u) P_{S_t} S_0 − (η/β) P_{S_t} N̂,      loss = E[λ(t) |s_θ − g|²] / (d − 1).
 * Sliced (Hutchinson) score matching (SSM), an independent estimator of the same objective up
 * to a constant: with s_full = s_θ + r, r = (η/β) P_S N̂,
 *   loss = E[λ(t) (|s_full|² + 2 div_S s_full)] / (d − 1),
 *   div_S s_θ ≈ v·[s_θ(exp_S(hv)) − s_θ(exp_S(−hv))]/(2h),  v ~ N(0, P_S)  (E[vᵀJv] = tr(P J P)),
 *   div_S r = −(η/β)(d − 1) S·N̂                                    (div_S P_S a = −(d−1) S·a).
 * Integration by parts on the closed sphere gives, for every field s,
 *   DSM(s) − SSM(s) = E[λ |c P_{S_t} S_0|²] / (d − 1),
 * which test/training checks per sample (a Stein identity). λ(t): σ²(t) (default), 1 or β(t).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expMap, rowDot, tangentProject } from '../src/core/sphere.js';

/** Loss weightings λ(t) of the score objectives. */
export const WEIGHTINGS = ['sigma2', 'none', 'beta'] as const;
/** One of {@link WEIGHTINGS}. */
export type Weighting = (typeof WEIGHTINGS)[number];

/** λ(t) per row from host σ² and β. */
export function lossWeights(kind: Weighting, sigma2: Float64Array, beta: Float64Array): Float32Array {
  const n = sigma2.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = kind === 'sigma2' ? sigma2[i] : kind === 'beta' ? beta[i] : 1;
  return out;
}

/** c P_{S_t} S_0: the conditional heat-kernel score. St, S0 [n, d], coeff [n, 1] → [n, d]. */
export function heatKernelScore(St: tf.Tensor, S0: tf.Tensor, coeff: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(coeff, tangentProject(St, S0)));
}

/** The analytic guidance part r = (η/β) P_S N̂. S, Nhat [n, d], etaOverBeta [n, 1] → [n, d]. */
export function guidanceResidual(S: tf.Tensor, Nhat: tf.Tensor, etaOverBeta: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(etaOverBeta, tangentProject(S, Nhat)));
}

/** DSM target g = c P_{S_t} S_0 − (η/β) P_{S_t} N̂ (the second term only when Nhat is given). → [n, d] */
export function dsmTarget(St: tf.Tensor, S0: tf.Tensor, coeff: tf.Tensor, Nhat: tf.Tensor | null, etaOverBeta: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const g = heatKernelScore(St, S0, coeff);
    return Nhat && etaOverBeta ? tf.sub(g, guidanceResidual(St, Nhat, etaOverBeta)) : g;
  });
}

/** Per-row DSM terms λ|s − g|²/(d−1): s, g [n, d], lambda [n, 1] → [n]. */
export function dsmPerRow(s: tf.Tensor, g: tf.Tensor, lambda: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = s.shape[1] as number;
    return tf.div(tf.squeeze(tf.mul(lambda, tf.sum(tf.square(tf.sub(s, g)), -1, true)), [1]), d - 1);
  });
}

/** Weighted denoising score-matching loss mean λ|s − g|² (BL Eq. 13). */
export function dsmLoss(s: tf.Tensor, g: tf.Tensor, lambda: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mean(dsmPerRow(s, g, lambda)));
}

export interface SsmInputs {
  /** Spins S_t [n, d]. */
  S: tf.Tensor;
  /** λ(t) [n, 1]. */
  lambda: tf.Tensor;
  /** Hutchinson probe, tangent Gaussian at S [n, d]. */
  v: tf.Tensor;
  /** Finite-difference step h per row [n, 1] (geodesic displacement h|v|). */
  h: tf.Tensor;
  /** Guidance: unit fields [n, d] and η/β [n, 1] (both or neither). */
  Nhat?: tf.Tensor | null;
  etaOverBeta?: tf.Tensor | null;
}

/**
 * Per-row SSM terms λ(|s_full|² + 2 div s_full)/(d−1) → [n], where `score(S')` evaluates the
 * network (or any tangent field) at spins S' [n, d] with this batch's times and fields.
 * Differentiable in whatever `score` closes over.
 */
export function ssmPerRow(score: (S: tf.Tensor) => tf.Tensor, x: SsmInputs): tf.Tensor {
  return tf.tidy(() => {
    const d = x.S.shape[1] as number;
    const hv = tf.mul(x.h, x.v); // [n, d]
    const sPlus = score(expMap(x.S, hv)); // [n, d]
    const sMinus = score(expMap(x.S, tf.neg(hv))); // [n, d]
    let div = tf.div(rowDot(x.v, tf.sub(sPlus, sMinus)), tf.mul(x.h, 2)); // [n, 1]
    let s = score(x.S); // [n, d]
    if (x.Nhat && x.etaOverBeta) {
      s = tf.add(s, guidanceResidual(x.S, x.Nhat, x.etaOverBeta));
      div = tf.sub(div, tf.mul(tf.mul(x.etaOverBeta, d - 1), rowDot(x.S, x.Nhat))); // div_S (η/β) P_S N̂
    }
    const terms = tf.add(tf.sum(tf.square(s), -1, true), tf.mul(div, 2)); // [n, 1]
    return tf.div(tf.squeeze(tf.mul(x.lambda, terms), [1]), d - 1);
  });
}

/** Sliced (Hutchinson) score-matching loss on the sphere (BL Eq. 13), for a score function of S. */
export function ssmLoss(score: (S: tf.Tensor) => tf.Tensor, x: SsmInputs): tf.Tensor {
  return tf.tidy(() => tf.mean(ssmPerRow(score, x)));
}
