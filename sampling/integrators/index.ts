/** The integrators of the guided reverse sampler, by name (`--integrator`). */
import { euler } from './euler.js';
import { heun } from './heun.js';
import type { Integrator } from './types.js';

export type { Integrator } from './types.js';
/** The reverse-SDE integrators by name: Heun (Stratonovich, the default) and geodesic Euler–Maruyama. */
export const INTEGRATORS = { heun, euler } as const satisfies Record<string, Integrator>;
/** One of {@link INTEGRATOR_NAMES}. */
export type IntegratorName = keyof typeof INTEGRATORS;
/** The names of {@link INTEGRATORS}. */
export const INTEGRATOR_NAMES = Object.keys(INTEGRATORS) as IntegratorName[];
