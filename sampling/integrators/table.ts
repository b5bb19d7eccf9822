/**
 * The reverse-SDE integrators by name: Heun (Stratonovich, the default), geodesic Euler–Maruyama,
 * the stochastic implicit midpoint (SIB) and Depondt's rotation scheme. Light on purpose (no option
 * schemas), so the sampler's worker threads (sampling/reverseWorker.ts) load it too.
 */
import { depondt } from './depondt.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { midpoint } from './midpoint.js';
import type { Integrator } from './types.js';
import type { IntegratorName } from '../options.js';

export const INTEGRATORS: Record<IntegratorName, Integrator> = { heun, euler, midpoint, depondt };
