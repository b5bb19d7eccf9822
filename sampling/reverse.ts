/**
 * The reverse-time loop of the guided sampler (BL Eq. 14, Sec. V D): from S at
 * τ = 0 (t = T) to τ = T − t_min in K equal steps dτ = (T − t_min)/K, one integrator step and one
 * Wiener increment per step (drawn on the host by sampling/gaussian.ts, seeded from the run's RNG, so
 * every draw follows --seed). Host rows [n·d] throughout: two buffers alternate, nothing grows.
 * After each step the rows are checked for a non-finite value (one pass), so a failure names its
 * step and row.
 *
 * The run's rows (S, the next S, the noise, the integrator's scratch, the drift's field and score
 * buffer) live in one row scope of the WASM row arena (src/core/kernels/rows.ts), so that the
 * elementwise passes run in the SIMD kernels; the scope is released when the run returns, and the
 * final spins are copied out.
 */
import { closeRowScope, openRowScope, rowBuffer, rowsFor, sumFloats } from '../src/core/kernels/rows.js';
import type { Rng } from '../src/rng.js';
import { FastNormal } from './gaussian.js';
import type { Sde } from './drift.js';
import type { Integrator } from './integrators/types.js';

/** t_min as a fraction of T when none is given: the score is singular at t = 0 (σ² → 0). */
export const DEFAULT_T_MIN_FRACTION = 1e-3;

/** Options of {@link integrateReverse}: integrator, number of steps K, time span [tMin, T] and the random stream. */
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
  /**
   * Instead of `rng`: writes step k's (0-based) Wiener increment ΔW̄ ~ N(0, dτ I) [n·d] into `out`
   * (a caller that drew the run's noise beforehand, e.g. a worker thread given its rows' slice).
   */
  noiseAt?: ((k: number, out: Float32Array) => void) | null;
  /**
   * Called after step k (1-based) at τ_k with the new S, owned by the loop and valid only during the
   * callback (it is a row of the arena, overwritten by the next step and reused after the run): copy
   * what you keep.
   */
  onStep?: (k: number, tau: number, S: Float32Array) => void;
}

/** The final spins of a reverse run, its step dτ, and the first non-finite step and row (if any). */
export interface ReverseResult {
  /** Final spins [n·d] (a fresh array, the caller's). */
  S: Float32Array;
  /** First step (1-based) and row whose spin was not finite, or null (the run stops there). */
  nonFinite: { step: number; row: number } | null;
  dtau: number;
}

/**
 * Row buffers a run allocates in its scope: S, next, noise (3), the integrator's scratch (Heun: 3)
 * and the drift's field and score buffer (2), with room to spare; what does not fit is a plain array.
 */
const RUN_ROW_BUFFERS = 12;

/** The first row of S [n·d] holding a non-finite value, or −1 (one summing pass when all are finite). */
function firstNonFiniteRow(S: Float32Array, d: number): number {
  if (Number.isFinite(sumFloats(S))) return -1; // (a float32 sum may overflow: then look row by row)
  for (let o = 0; o < S.length; o += d) {
    let s = 0;
    for (let j = o; j < o + d; j++) s += S[j];
    if (!Number.isFinite(s)) return o / d;
  }
  return -1;
}

/** The step dτ = (T − t_min)/K of a reverse run (t_min defaulting to {@link DEFAULT_T_MIN_FRACTION}·T). */
export function reverseStep(opts: Pick<ReverseOptions, 'steps' | 'T' | 'tMin'>): number {
  return (opts.T - (opts.tMin ?? DEFAULT_T_MIN_FRACTION * opts.T)) / opts.steps;
}

/** Integrate `sde` from S0 [n·d] (not modified) over the reverse time grid. */
export function integrateReverse(S0: Float32Array, sde: Sde, opts: ReverseOptions): ReverseResult {
  const K = opts.steps;
  const dtau = reverseStep(opts);
  const sqrtDt = Math.sqrt(dtau);
  const gauss = opts.rng ? new FastNormal(opts.rng) : null;
  const len = S0.length;
  const scope = openRowScope(rowsFor(RUN_ROW_BUFFERS, len));
  try {
    const noiseAt = opts.noiseAt ?? (gauss ? (_k: number, out: Float32Array) => void gauss.fill(len, sqrtDt, out) : null);
    const noise = noiseAt ? rowBuffer(len) : null; // ΔW̄ [n·d]
    let S = rowBuffer(len);
    S.set(S0);
    let next = rowBuffer(len);
    for (let k = 0; k < K; k++) {
      const tau = k * dtau;
      if (noiseAt) noiseAt(k, noise!);
      opts.integrator.step(S, tau, dtau, sde, noise, next);
      [S, next] = [next, S];
      const bad = firstNonFiniteRow(S, sde.d);
      if (bad >= 0) return { S: Float32Array.from(S), nonFinite: { step: k + 1, row: bad }, dtau };
      opts.onStep?.(k + 1, tau + dtau, S);
    }
    return { S: Float32Array.from(S), nonFinite: null, dtau };
  } finally {
    closeRowScope(scope);
  }
}
