/**
 * Forward noising of clean token spins (BL Eq. 12 / B5):
 *   dS = √β(t) P_S ∘ dW,   S_t | S_0 ~ heat kernel of S^{d−1} at σ²(t) = ∫₀ᵗ β,
 * batched over rows, with the conditional score coefficient c(u) of every sample (score =
 * c(u) P_{S_t} S_0, src/core/heatKernel.ts). Two samplers:
 *   exact  u = cos θ from the tabulated 1-D marginal (training/heatTable.ts: inverse CDF of
 *          f(θ) ∝ p(cos θ) sin^{d−2}θ), then S_t = cos θ S_0 + sin θ v̂ with v̂ a uniform unit
 *          tangent direction at S_0 (isotropy of the heat kernel). Exact up to quadrature and
 *          interpolation; cost O(n·d) for any σ².
 *   walk   the geodesic random walk of src/core/sphere.ts with `substeps` steps; relative bias of
 *          E[u] ≈ ((d−1)σ²)²/(12·substeps), so it needs substeps ≫ ((d−1)σ²)² (slow in high d).
 *          c(u) then comes from the table at the walked u.
 * Shapes: S0 [n, d] unit rows; sigma2 [n] host float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readData } from '../src/backend.js';
import { normalizeSpins, rowDot, tangentGaussian, geodesicRandomWalk } from '../src/core/sphere.js';
import { beta as betaAt, sigma2 as sigma2At, type NoiseSchedule } from '../src/core/schedules.js';
import type { Rng } from '../src/rng.js';
import { HeatKernelTable, type HeatTableOptions } from './heatTable.js';

/** Forward-noising samplers: the exact heat kernel (tabulated) and the geodesic random walk. */
export const FORWARD_SAMPLERS = ['exact', 'walk'] as const;
/** One of {@link FORWARD_SAMPLERS}. */
export type ForwardSampler = (typeof FORWARD_SAMPLERS)[number];

/** Which forward sampler to use, with its table or number of walk steps. */
export interface NoiseOptions {
  sampler: ForwardSampler;
  table: HeatKernelTable;
  /** Substeps of the geodesic random walk (walk sampler only). */
  substeps?: number;
}

/** Noised spins S_t with u = S_t·S_0 and the heat-kernel score coefficient c(u) per row. */
export interface Noised {
  /** Noised spins S_t [n, d] (unit rows). */
  St: tf.Tensor;
  /** u = S_t·S_0 per row (host). */
  u: Float64Array;
  /** Heat-kernel score coefficient c(u) at σ² per row (host). */
  coeff: Float64Array;
}

/** A uniform unit tangent direction at each row of S [n, d] → [n, d]. */
export function uniformTangentDirections(S: tf.Tensor, rng: Rng): tf.Tensor {
  return tf.tidy(() => normalizeSpins(tangentGaussian(S, 1, rng)));
}

/** Sample S_t | S_0 for per-row σ² (see the file comment). The walk reads u back from the device (async). */
export async function noiseSpins(S0: tf.Tensor, sigma2: Float64Array, rng: Rng, opts: NoiseOptions): Promise<Noised> {
  const n = S0.shape[0] as number;
  if (sigma2.length !== n) throw new Error(`noiseSpins: ${sigma2.length} σ² values for ${n} spins`);
  if (opts.sampler === 'exact') {
    const q = new Float64Array(n);
    for (let i = 0; i < n; i++) q[i] = rng.uniform();
    const { theta, coeff } = opts.table.sample(sigma2, q);
    const u = Float64Array.from(theta, Math.cos);
    const St = tf.tidy(() => {
      const v = uniformTangentDirections(S0, rng); // [n, d]
      const cos = tf.tensor2d(Float32Array.from(u), [n, 1]);
      const sin = tf.tensor2d(Float32Array.from(theta, Math.sin), [n, 1]);
      return normalizeSpins(tf.add(tf.mul(cos, S0), tf.mul(sin, v))); // [n, d]
    });
    return { St, u, coeff };
  }
  const substeps = opts.substeps ?? 64;
  const s2 = tf.tensor1d(Float32Array.from(sigma2));
  const St = geodesicRandomWalk(S0, s2, substeps, rng); // [n, d]
  s2.dispose();
  const dots = tf.tidy(() => tf.reshape(rowDot(St, S0), [n]));
  let u: Float64Array;
  try {
    u = Float64Array.from(await readData(dots), (x) => Math.max(-1, Math.min(1, x)));
  } finally {
    dots.dispose();
  }
  const coeff = new Float64Array(n);
  for (let i = 0; i < n; i++) coeff[i] = opts.table.coeff(sigma2[i], Math.acos(u[i]));
  return { St, u, coeff };
}

/** Relative bias of E[u] of the walk at σ² (sphere.ts): ((d−1)σ²)²/(12·substeps). */
export function walkBias(d: number, sigma2: number, substeps: number): number {
  return ((d - 1) * sigma2) ** 2 / (12 * substeps);
}

/** Training times: t uniform on [tMin, T], with σ²(t) and β(t) (host float64, [n] each). */
export interface TimeSample {
  t: Float64Array;
  sigma2: Float64Array;
  beta: Float64Array;
}

/** Draw n forward times t ~ U[tMin, T] with their σ²(t) and β(t). */
export function sampleTimes(n: number, schedule: NoiseSchedule, tMin: number, rng: Rng): TimeSample {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = tMin + (schedule.T - tMin) * rng.uniform();
  return timesAt(t, schedule);
}

/** σ²(t), β(t) at given times. */
export function timesAt(t: Float64Array, schedule: NoiseSchedule): TimeSample {
  return { t, sigma2: t.map((x) => sigma2At(schedule, x)), beta: t.map((x) => betaAt(schedule, x)) };
}

/** A table covering σ²(tMin) … σ²(T) of a schedule in dimension d. */
export function tableForSchedule(d: number, schedule: NoiseSchedule, tMin: number, opts: HeatTableOptions = {}): HeatKernelTable {
  const lo = sigma2At(schedule, tMin);
  const hi = sigma2At(schedule, schedule.T);
  return new HeatKernelTable(d, lo * (1 - 1e-9), hi * (1 + 1e-9), opts);
}
