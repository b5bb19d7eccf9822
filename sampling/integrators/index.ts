/** The integrators of the guided reverse sampler, by name (`--integrator`). */
import { euler } from './euler.js';
import { heun } from './heun.js';
import type { Integrator } from './types.js';

export type { Integrator } from './types.js';
export const INTEGRATORS = { heun, euler } as const satisfies Record<string, Integrator>;
export type IntegratorName = keyof typeof INTEGRATORS;
export const INTEGRATOR_NAMES = Object.keys(INTEGRATORS) as IntegratorName[];
