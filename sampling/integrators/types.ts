/**
 * The integrator contract of the guided reverse sampler: one `step()` from τ to τ + dτ of the
 * Stratonovich SDE dS = a(S, τ) dτ + g(τ) P_S ∘ dW̄ on S^{d−1} (BL Eq. 14 / B6),
 * with the physics (a, g) supplied by an `Sde` (sampling/drift.ts). Batched host rows: S is [n·d].
 */
import { rowBuffer, rowScopeId } from '../../src/core/kernels/rows.js';
import type { Sde } from '../drift.js';

export interface Integrator {
  readonly name: string;
  /**
   * One step. S [n·d] unit rows (not modified); `noise` the ambient Wiener increment ΔW̄ [n·d] ~
   * N(0, dτ I), drawn once per step by the caller (null: the deterministic flow). Writes the new
   * unit rows into `out` [n·d] (must not alias S) and returns it.
   */
  step(S: Float32Array, tau: number, dtau: number, sde: Sde, noise: Float32Array | null, out: Float32Array): Float32Array;
}

/**
 * A scratch array of `len` floats in slot `slot`, reused from call to call (the sampler is
 * synchronous). Inside a row scope (a reverse run, sampling/reverse.ts) it is a row of the arena
 * (src/core/kernels/rows.ts), taken once per scope, so that the integrator's passes run in the WASM
 * kernels; outside one, a plain array kept in a pool. Contents are unspecified on return.
 */
const pool = new Map<string, { scope: number; rows: Float32Array }>();
export function scratch(owner: string, slot: number, len: number): Float32Array {
  const key = `${owner}/${slot}`;
  const scope = rowScopeId();
  let e = pool.get(key);
  if (!e || e.scope !== scope || e.rows.length !== len) {
    e = { scope, rows: scope === 0 ? new Float32Array(len) : rowBuffer(len) };
    pool.set(key, e);
  }
  return e.rows;
}
