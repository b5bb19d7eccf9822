/**
 * The named choices of the generation option families (sampling/options.ts holds their zod
 * schemas). Plain constants with no imports, so the CLI's --help can list them without loading zod.
 */

/** Integrators of the reverse SDE (sampling/integrators). */
export const INTEGRATOR_NAMES = ['heun', 'euler', 'midpoint', 'depondt'] as const;
/** One of {@link INTEGRATOR_NAMES}. */
export type IntegratorName = (typeof INTEGRATOR_NAMES)[number];
/** Diffusion spaces of `train`/`sample`: spin diffusion on the sphere, or the Brownian (Euclidean) VP-DDPM baseline. */
export const SPACES = ['sphere', 'euclidean'] as const;
/** One of {@link SPACES}. */
export type Space = (typeof SPACES)[number];
/** Token readouts (sampling/readout.ts). */
export const READOUTS = ['nearest', 'softmax'] as const;
/** One of {@link READOUTS}. */
export type ReadoutKind = (typeof READOUTS)[number];
/** LLG precession forms (sampling/drift.ts). */
export const PRECESSIONS = ['none', 'cross', 'orthogonal', 'field'] as const;
/** How N enters the η term. */
export const FIELD_SCALES = ['unit', 'raw'] as const;
/** The attention baselines (sampling/baselines.ts): greedy, temperature, top-k and top-p (nucleus) sampling. */
export const BASELINE_METHODS = ['greedy', 'temperature', 'top-k', 'top-p'] as const;
/** One of {@link BASELINE_METHODS}. */
export type BaselineMethod = (typeof BASELINE_METHODS)[number];

/** Default number K of reverse-SDE steps per token. */
export const DEFAULT_STEPS = 50;
/** Largest seed (seeds are integers in [0, 2^31 − 1], as the training configs' `seed`). */
export const MAX_SEED = 2 ** 31 - 1;
