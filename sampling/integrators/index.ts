/** The integrators of the guided reverse sampler, by name (`--integrator`). */
export type { Integrator } from './types.js';

// The names live with the other option families in sampling/options.ts (light, for --help).
export { INTEGRATOR_NAMES, type IntegratorName } from '../options.js';
export { INTEGRATORS } from './table.js';
