/**
 * The option families of generation, one zod schema each, used by the library (generateGuided,
 * generateBaseline), the CLI (src/cli: flags are mapped to these fields and back, so errors name
 * the flag) and the sweep configs (sampling/sweep-config.ts builds its grids from the same field
 * schemas):
 *   - guided sampling (BL Eq. 14 / BL Eq. 9 LLG mode): `guidedFields`, `guidedOptionsSchema`;
 *   - baselines (greedy, temperature, top-k, top-p, repetition penalty): `baselineSpecSchema`;
 *   - prompts: `promptTextSchema` (a prompt is a non-empty string: an empty or blank prompt is
 *     refused everywhere) and `seedSchema`.
 * Also the compatibility check of a score checkpoint against the model and field source.
 * Light on purpose (zod only): the CLI imports it while building --help.
 */
import { z } from 'zod';
import { SCHEDULE_KINDS, type NoiseSchedule } from '../src/core/schedules.js';
import { UserError } from '../src/errors.js';
import { formatZodPath } from '../src/config/zodError.js';
import type { FieldSource } from '../src/field/source.js';
import type { ScoreModel } from '../src/score/contract.js';
import type { ParamSchedule, Precession } from './drift.js';

export {
  BASELINE_METHODS,
  FIELD_SCALES,
  INTEGRATOR_NAMES,
  PRECESSIONS,
  READOUTS,
  SPACES,
  DEFAULT_STEPS,
  MAX_SEED,
  type BaselineMethod,
  type IntegratorName,
  type ReadoutKind,
  type Space,
} from './choices.js';
import { BASELINE_METHODS, FIELD_SCALES, INTEGRATOR_NAMES, MAX_SEED, PRECESSIONS, READOUTS, SPACES, type IntegratorName, type ReadoutKind } from './choices.js';

/**
 * The schedule used without a score checkpoint: the one the residual scores are trained with
 * (configs/score/*.json): linear β from 0.01 to 20 in per-dimension units, i.e. divided by d − 1,
 * so that the forward process mixes the same in every d (E[S_T·S_0] = e^{−(d−1)σ²(T)/2} ≈ e^{−5}).
 */
export function defaultSchedule(d: number): NoiseSchedule {
  const k = 1 / Math.max(d - 1, 1);
  return { kind: 'linear', betaMin: 0.01 * k, betaMax: 20 * k, T: 1 };
}
export const MAX_STEPS = 100_000;
export const DEFAULT_READOUT_TEMPERATURE = 0.1;
/** Most new tokens per sample any command asks for (the model's context bounds it further). */
export const MAX_TOKENS = 100_000;

const finiteNum = (msg: string) => z.number({ invalid_type_error: msg }).finite(msg);

/** A prompt: a non-empty, non-blank string (an empty prompt is refused everywhere). */
export const promptTextSchema = z.string().refine((s) => s.trim() !== '', { message: 'is empty; give some text' });
/** A seed: an integer in [0, 2^31 − 1] (strings are not hashed). */
export const seedSchema = z
  .number({ invalid_type_error: 'must be a number' })
  .int(`must be an integer in [0, ${MAX_SEED}]`)
  .min(0, `must be an integer in [0, ${MAX_SEED}]`)
  .max(MAX_SEED, `must be an integer in [0, ${MAX_SEED}]`);

/** A parameter that is a number or a schedule {kind, from, to} over reverse time, bounded below by `min` (strictly when `strict`). */
function paramSchedule(min: number, strict = false) {
  const word = `a finite number ${strict ? '>' : '≥'} ${min}`;
  const bound = (x: number) => Number.isFinite(x) && (strict ? x > min : x >= min);
  const num = z.number({ invalid_type_error: `must be ${word}` }).refine(bound, { message: `must be ${word}` });
  const sched = z.object({ kind: z.enum(SCHEDULE_KINDS), from: num, to: num }).strict();
  return z.union([num, sched], { errorMap: () => ({ message: `must be ${word} (or a schedule {kind, from, to})` }) });
}

export const noiseScheduleSchema = z
  .object({ kind: z.enum(SCHEDULE_KINDS), betaMin: z.number().min(0).finite(), betaMax: z.number().positive().finite(), T: z.number().positive().finite() })
  .strict()
  .refine((s) => s.betaMin <= s.betaMax, { message: 'betaMin must not exceed betaMax', path: ['betaMin'] });

/** The field schemas of guided sampling, one per option (the sweep's grids are arrays of these). */
export const guidedFields = {
  tokens: z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be an integer ≥ 1')
    .min(1, 'must be an integer ≥ 1')
    .max(MAX_TOKENS, `must be an integer in [1, ${MAX_TOKENS}]`),
  samples: z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be an integer ≥ 1')
    .min(1, 'must be an integer ≥ 1')
    .max(10_000, 'must be an integer in [1, 10000]'),
  eta: paramSchedule(0),
  lambda: paramSchedule(0),
  gamma: paramSchedule(0, true),
  steps: z
    .number({ invalid_type_error: 'must be a number' })
    .int(`must be an integer in [1, ${MAX_STEPS}]`)
    .min(1, `must be an integer in [1, ${MAX_STEPS}]`)
    .max(MAX_STEPS, `must be an integer in [1, ${MAX_STEPS}]`),
  integrator: z.enum(INTEGRATOR_NAMES),
  readout: z.enum(READOUTS),
  readoutTemperature: finiteNum('must be a finite number > 0').positive('must be a finite number > 0'),
  fieldScale: z.enum(FIELD_SCALES),
  precession: z.object({ kind: z.enum(PRECESSIONS) }).strict(),
  schedule: noiseScheduleSchema,
  tMin: finiteNum('must be a finite number ≥ 0').min(0, 'must be a finite number ≥ 0'),
  maxBatch: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer ≥ 1').min(1, 'must be an integer ≥ 1'),
};

/** Options of generateGuided other than the model, the score object and callbacks. */
export const guidedOptionsSchema = z
  .object({
    prompts: z.array(promptTextSchema).optional(),
    promptIds: z.array(z.array(z.number().int().min(0))).optional(),
    tokens: guidedFields.tokens,
    samples: guidedFields.samples.optional(),
    eta: guidedFields.eta.optional(),
    lambda: guidedFields.lambda.optional(),
    gamma: guidedFields.gamma.optional(),
    precession: guidedFields.precession.optional(),
    steps: guidedFields.steps.optional(),
    schedule: guidedFields.schedule.optional(),
    tMin: guidedFields.tMin.optional(),
    integrator: guidedFields.integrator.optional(),
    readout: guidedFields.readout.optional(),
    readoutTemperature: guidedFields.readoutTemperature.optional(),
    fieldScale: guidedFields.fieldScale.optional(),
    seed: z.union([seedSchema, z.string()]).optional(),
    truncate: z.literal('left').optional(),
    maxBatch: guidedFields.maxBatch.optional(),
    threads: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer ≥ 1').min(1, 'must be an integer ≥ 1').optional(),
  })
  .passthrough()
  .superRefine((o, ctx) => {
    if (!o.prompts?.length && !o.promptIds?.length) ctx.addIssue({ code: 'custom', path: ['prompts'], message: 'give at least one prompt' });
    if (o.prompts && o.promptIds && o.prompts.length !== o.promptIds.length)
      ctx.addIssue({ code: 'custom', path: ['prompts'], message: `${o.prompts.length} prompt labels for ${o.promptIds.length} encoded prompts` });
    if (o.precession && o.lambda === undefined) ctx.addIssue({ code: 'custom', path: ['precession'], message: 'needs lambda (LLG mode)' });
    if (o.gamma !== undefined && o.lambda === undefined) ctx.addIssue({ code: 'custom', path: ['gamma'], message: 'needs lambda (LLG mode)' });
    if (o.tMin !== undefined && o.tMin >= (o.schedule?.T ?? 1))
      ctx.addIssue({ code: 'custom', path: ['tMin'], message: `must be below the schedule's end time T = ${o.schedule?.T ?? 1}` });
  });

/** `--space`: spin diffusion on the sphere or the Euclidean VP-DDPM baseline. */
export const spaceSchema = z.enum(SPACES, { errorMap: () => ({ message: `must be ${SPACES.join(' or ')}` }) });

/**
 * The settings of the Euclidean DDPM sampler (sampling/euclidean.ts) that the CLI validates: the
 * spin-diffusion options (η, λ, γ, precession, schedule, β, field scale) do not apply to it.
 */
export const euclideanSampleSchema = z
  .object({ tokens: guidedFields.tokens, samples: guidedFields.samples, steps: guidedFields.steps, seed: seedSchema.optional() })
  .strict();

/** The sampler settings of a baseline decoder (method, temperature, top-k, top-p, repetition penalty). */
export const baselineSpecSchema = z
  .object({
    method: z.enum(BASELINE_METHODS),
    temperature: finiteNum('must be a finite number > 0').positive('must be a finite number > 0').optional(),
    topK: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer ≥ 1').min(1, 'must be an integer ≥ 1').optional(),
    topP: z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]').optional(),
    repetitionPenalty: finiteNum('must be a finite number > 0 (1 = off)').positive('must be a finite number > 0 (1 = off)').optional(),
    /** Additive logit bias on the first token of each word (issue 14: the autoregressive equivalent of steering). */
    logitBias: z
      .object({ words: z.array(z.string().min(1, 'must be a non-empty word')).min(1, 'needs at least one word'), bias: finiteNum('must be a finite number') })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.method === 'top-k' && s.topK === undefined) ctx.addIssue({ code: 'custom', path: ['topK'], message: 'method top-k needs topK (an integer ≥ 1)' });
    if (s.method === 'top-p' && s.topP === undefined) ctx.addIssue({ code: 'custom', path: ['topP'], message: 'method top-p needs topP in (0, 1]' });
    if (s.method !== 'top-k' && s.topK !== undefined) ctx.addIssue({ code: 'custom', path: ['topK'], message: `applies to method top-k, not ${s.method}` });
    if (s.method !== 'top-p' && s.topP !== undefined) ctx.addIssue({ code: 'custom', path: ['topP'], message: `applies to method top-p, not ${s.method}` });
    if (s.method === 'greedy' && s.temperature !== undefined)
      ctx.addIssue({ code: 'custom', path: ['temperature'], message: 'does not apply to greedy decoding' });
  });
/** A baseline method with its parameters, as validated by `baselineSpecSchema`. */
export type BaselineSpec = z.infer<typeof baselineSpecSchema>;

/** Passed to `onToken` as each token is chosen: the row (prompt, sample), the token and the tokens so far. */
export interface TokenEvent {
  /** Row in the results array (prompt-major: promptIndex·samples + sample). */
  row: number;
  promptIndex: number;
  sample: number;
  /** 0-based index of the new token. */
  index: number;
  token: number;
  /** All tokens generated so far for this row. */
  tokens: number[];
}

/** Options of {@link generateGuided}; every field but the prompts has a default (see sampling/README.md). */
export interface GuidedOptions {
  /** Prompts (text); or give `promptIds` (already encoded; then `prompts` only labels them). */
  prompts?: string[];
  promptIds?: number[][];
  /** Samples per prompt, generated as one batch (default 1). */
  samples?: number;
  /** New tokens per sample. */
  tokens: number;
  /** Guidance strength η ≥ 0 (default: the score's meta.eta, else 1). */
  eta?: ParamSchedule;
  /** Gilbert damping λ ≥ 0: given → full LLG mode (BL Eq. 9), c_N = ηγλ/(1+λ²) plus precession. */
  lambda?: ParamSchedule;
  /** Gyromagnetic ratio γ > 0 in LLG mode (default 1). */
  gamma?: ParamSchedule;
  /** Precession form in LLG mode (sampling/drift.ts; default cross in d = 3, orthogonal otherwise). */
  precession?: Precession;
  /** K reverse steps per token (default 50). */
  steps?: number;
  /** β(t) in absolute units (default: the score's meta.schedule, else defaultSchedule(d)). */
  schedule?: NoiseSchedule;
  /** The reverse run ends at t_min (default: the score's tMin, else 1e-3·T). */
  tMin?: number;
  integrator?: IntegratorName;
  /** Default { kind: 'final' }. */
  fieldSource?: FieldSource;
  /** N̂ ('unit', default: the convention the score is trained with) or the raw N_proj in the η term (sampling/drift.ts). */
  fieldScale?: 'raw' | 'unit';
  /** Learned residual score; null/absent: pure η-guided drift (the zero-training baseline). */
  score?: ScoreModel | null;
  readout?: ReadoutKind;
  /** Softmax readout temperature (default 0.1). */
  readoutTemperature?: number;
  /** Seed of every draw (default 0). */
  seed?: number | string;
  /** Keep the last tokens of a prompt that does not fit the context with the new tokens. */
  truncate?: 'left';
  /** Rows (prompts × samples) per batch of the inner SDE loop (default 64; one prompt's samples are never split). */
  maxBatch?: number;
  /**
   * Threads for the reverse SDE (default 1; the CLI passes its --threads): a chunk's rows are split
   * across worker threads (sampling/reversePool.ts), with the same tokens for every thread count.
   * 1 (or a chunk of fewer than 16 rows, or a score model that is not a NetScoreModel) runs in the
   * calling thread. Opt-in because on 2 cores shared with other work, where the ORT forward already
   * uses both, the workers measured slower per token than one thread (README, performance).
   */
  threads?: number;
  /** Called as each token is chosen (for streaming). */
  onToken?: (e: TokenEvent) => void;
  /** Accumulates wall time (ms) of the language model, the reverse SDE and the readout. */
  profile?: { lmMs: number; sdeMs: number; readoutMs: number };
  /** External steering field α m̂ added to the guidance (sampling/drift.ts DriftOptions.steer). */
  steer?: { direction: Float32Array; alpha: number } | null;
}

/** One line from a failed option parse: `what: field F: message`. */
function optionError(err: z.ZodError, what: string): UserError {
  const issue = err.issues[0];
  return new UserError('E_ARG', `${what}: ${formatZodPath(issue.path as (string | number)[])} ${issue.message}`);
}

/** Check a noise schedule: 0 ≤ β_min ≤ β_max, β_max > 0, T > 0, all finite. */
export function checkSchedule(s: NoiseSchedule): void {
  const r = noiseScheduleSchema.safeParse(s);
  if (!r.success) throw optionError(r.error, 'noise schedule');
}

/** Validate everything that does not need the model (guidedOptionsSchema). */
export function checkGuidedOptions(o: GuidedOptions): void {
  const r = guidedOptionsSchema.safeParse(o);
  if (!r.success) throw optionError(r.error, 'guided options');
}

/** Validate a baseline decoder's settings (baselineSpecSchema). */
export function checkBaselineSpec(s: BaselineSpec): BaselineSpec {
  const r = baselineSpecSchema.safeParse(s);
  if (!r.success) throw optionError(r.error, 'baseline');
  return r.data;
}
