/**
 * The reverse-time loop of the guided sampler (Bhattacharjee & Lee, Sec. V D, Eq. 14): from S at
 * τ = 0 (t = T) to τ = T − t_min in K equal steps dτ = (T − t_min)/K, one integrator step and one
 * Wiener increment per step (drawn on the host by sampling/gaussian.ts, seeded from the run's RNG, so
 * every draw follows --seed).
 * Memory: each step runs in tf.tidy and the previous S is released; the loop keeps only one
 * row-sum per step [n] to locate the first non-finite value after the run (one read-back per run).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../src/rng.js';
import { FastNormal } from './gaussian.js';
import type { Sde } from './drift.js';
import type { Integrator } from './integrators/types.js';

/** t_min as a fraction of T when none is given: the score is singular at t = 0 (σ² → 0). */
export const DEFAULT_T_MIN_FRACTION = 1e-3;

export interface ReverseOptions {
  integrator: Integrator;
  /** K ≥ 1. */
  steps: number;
  /** End time T of the forward process (the reverse run starts at t = T). */
  T: number;
  /** The run stops at t = t_min (default 1e-3·T). */
  tMin?: number;
  /** Seeds the Wiener increments (sampling/gaussian.ts, four words drawn per run); null: the deterministic flow. */
  rng: Rng | null;
  /** Called after step k (1-based) at τ_k with the new S (owned by the loop: do not dispose). */
  onStep?: (k: number, tau: number, S: tf.Tensor) => void;
}

export interface ReverseResult {
  /** Final spins [n, d] (the caller disposes). */
  S: tf.Tensor;
  /** First step (1-based) and row whose spin was not finite, or null. */
  nonFinite: { step: number; row: number } | null;
  dtau: number;
}

/** Integrate `sde` from S0 [n, d] (not disposed) over the reverse time grid. */
export function integrateReverse(S0: tf.Tensor, sde: Sde, opts: ReverseOptions): ReverseResult {
  const [n, d] = S0.shape as [number, number];
  const tMin = opts.tMin ?? DEFAULT_T_MIN_FRACTION * opts.T;
  const K = opts.steps;
  const dtau = (opts.T - tMin) / K;
  const sqrtDt = Math.sqrt(dtau);
  const sums: tf.Tensor[] = []; // [n] per step
  const gauss = opts.rng ? new FastNormal(opts.rng) : null;
  let S = tf.clone(S0);
  try {
    for (let k = 0; k < K; k++) {
      const tau = k * dtau;
      const noise = gauss ? tf.tensor2d(gauss.fill(n * d, sqrtDt), [n, d]) : null; // ΔW̄ [n, d]
      const next = opts.integrator.step(S, tau, dtau, sde, noise);
      noise?.dispose();
      S.dispose();
      S = next;
      sums.push(tf.sum(S, 1));
      opts.onStep?.(k + 1, tau + dtau, S);
    }
    return { S, nonFinite: firstNonFinite(sums, n), dtau };
  } catch (e) {
    S.dispose();
    throw e;
  } finally {
    tf.dispose(sums);
  }
}

function firstNonFinite(sums: tf.Tensor[], n: number): { step: number; row: number } | null {
  if (sums.length === 0) return null;
  const all = tf.tidy(() => tf.stack(sums)); // [K, n]
  const v = all.dataSync();
  all.dispose();
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return { step: Math.floor(i / n) + 1, row: i % n };
  return null;
}
