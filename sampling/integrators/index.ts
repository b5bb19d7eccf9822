/** The integrators of the guided reverse sampler, by name (`--integrator`). */
import { depondt } from './depondt.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { midpoint } from './midpoint.js';
import type { Integrator } from './types.js';

export type { Integrator } from './types.js';
import type { IntegratorName } from '../options.js';

// The names live with the other option families in sampling/options.ts (light, for --help).
export { INTEGRATOR_NAMES, type IntegratorName } from '../options.js';
/** The reverse-SDE integrators by name: Heun (Stratonovich, the default), geodesic Euler–Maruyama,
 * the stochastic implicit midpoint (SIB) and Depondt's rotation scheme. */
export const INTEGRATORS: Record<IntegratorName, Integrator> = { heun, euler, midpoint, depondt };
