/** The integrators of the guided reverse sampler, by name (`--integrator`). */
import { depondt } from './depondt.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { midpoint } from './midpoint.js';
import type { Integrator } from './types.js';

export type { Integrator } from './types.js';
export const INTEGRATORS = { heun, euler, midpoint, depondt } as const satisfies Record<string, Integrator>;
export type IntegratorName = keyof typeof INTEGRATORS;
export const INTEGRATOR_NAMES = Object.keys(INTEGRATORS) as IntegratorName[];
