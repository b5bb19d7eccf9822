/**
 * Score-training configs (configs/score/NAME.json), validated with zod. The physics they set:
 * the field source of N_proj (BL Eq. 14), the forward noising schedule β(t) of BL Eq. 12 (σ² = ∫β),
 * the guidance strength η that the residual target −(η/β) P_S N̂ is derived for
 * (docs/residual-score.md), and the network and optimiser.
 *
 *   {
 *     "description": "...",
 *     "field":    { "source": "final" | "layer:L" | "head:L.H" | "heads:L.H+L.H" | {kind, ...},
 *                   "context": W, "stride": S },     windows of W tokens, S new positions each
 *     "data":     { "train_tokens": N | null, "val_tokens": N, "rebuild_stale_cache": true },
 *     "schedule": { "kind": "constant"|"linear"|"cosine", "beta_min", "beta_max", "T", "t_min",
 *                   "units": "absolute" | "per_dimension" },   per_dimension: β/(d−1), so that
 *                   (d−1)σ²(t) — hence E[S_t·S_0] = e^{−(d−1)σ²/2} — is the same for every model
 *     "forward":  { "sampler": "exact"|"walk", "substeps", "levels", "grid" },
 *     "target":   { "eta", "weighting": "sigma2"|"none"|"beta", "objective": "dsm"|"ssm", "hutchinson_step" },
 *     "network":  { "width", "depth", "activation", "time_embedding", "condition" },
 *     "training": { "batch_size", "steps", "lr", "min_lr", "warmup_steps", "beta1", "beta2", "eps",
 *                   "weight_decay", "grad_clip", "ema_decay", "eval_every", "eval_samples",
 *                   "checkpoint_every", "seed" },
 *     "export":   { "dtype": "float32" | "float16" }
 *   }
 *
 * Every object is strict (an unknown field is named) and every number range-checked; one
 * UserError line per problem, naming the field.
 */
import { z } from 'zod';
import { readJsonFile } from '../src/config/load.js';
import { exportSchema, int, real } from '../src/config/fields.js';
import { firstDifference, type ConfigDifference } from '../src/io/checkpointDir.js';
import { zodToUserError } from '../src/config/zodError.js';
import { SCHEDULE_KINDS, sigma2, type NoiseSchedule } from '../src/core/schedules.js';
import { UserError } from '../src/errors.js';
import { fieldSourceSchema, parseFieldSource, type FieldSource } from '../src/field/source.js';
import { FORWARD_SAMPLERS } from './forward.js';
import { ACTIVATIONS } from '../src/score/network.js';
import { WEIGHTINGS } from './objectives.js';

const fieldSchema = z
  .object({
    source: z.union([z.string(), fieldSourceSchema]).default('final'),
    context: int(1, 8192),
    stride: int(1, 8192).optional(),
  })
  .strict();

const dataSchema = z
  .object({
    train_tokens: int(1, 1e9).nullable().default(null),
    val_tokens: int(1, 1e8).default(20000),
    rebuild_stale_cache: z.boolean().default(true),
  })
  .strict();

const scheduleSchema = z
  .object({
    kind: z.enum(SCHEDULE_KINDS),
    beta_min: real(0, 1e6).default(0),
    beta_max: real(0, 1e6, true),
    T: real(0, 1e6, true).default(1),
    t_min: real(0, 1e6, true).default(1e-3),
    units: z.enum(['absolute', 'per_dimension']).default('absolute'),
  })
  .strict();

const forwardSchema = z
  .object({
    sampler: z.enum(FORWARD_SAMPLERS).default('exact'),
    substeps: int(1, 100000).default(64),
    levels: int(2, 4096).default(160),
    grid: int(64, 65536).default(1024),
  })
  .strict();

const targetSchema = z
  .object({
    eta: real(0, 1e3).default(0),
    weighting: z.enum(WEIGHTINGS).default('sigma2'),
    objective: z.enum(['dsm', 'ssm']).default('dsm'),
    hutchinson_step: real(0, 1, true).default(0.02),
  })
  .strict();

const networkSchema = z
  .object({
    width: int(4, 16384),
    depth: int(1, 64),
    activation: z.enum(ACTIVATIONS).default('silu'),
    time_embedding: int(2, 4096).default(64),
    condition: z.boolean().default(true),
  })
  .strict();

const trainingSchema = z
  .object({
    batch_size: int(1, 1 << 20),
    steps: int(1, 1e8),
    lr: real(0, 1, true),
    min_lr: real(0, 1).default(0),
    warmup_steps: int(0, 1e8).default(0),
    beta1: real(0, 0.999999).default(0.9),
    beta2: real(0, 0.999999).default(0.999),
    eps: real(0, 1, true).default(1e-8),
    weight_decay: real(0, 10).default(0),
    grad_clip: real(0, 1e6).default(1),
    ema_decay: real(0, 0.999999).default(0.999),
    eval_every: int(1, 1e8),
    eval_samples: int(1, 1 << 20).default(4096),
    checkpoint_every: int(1, 1e8),
    seed: int(0, 2 ** 31 - 1).default(0),
  })
  .strict();

/** The zod schema of a score-training config: network, schedule, target, forward sampler, training. */
export const scoreConfigSchema = z
  .object({
    description: z.string().optional(),
    field: fieldSchema,
    data: dataSchema.default({}),
    schedule: scheduleSchema,
    forward: forwardSchema.default({}),
    target: targetSchema.default({}),
    network: networkSchema,
    training: trainingSchema,
    export: exportSchema.default({}),
  })
  .strict();

/** A validated score-training config (configs/score/NAME.json). */
export type ScoreConfig = z.output<typeof scoreConfigSchema>;

/** Validate a parsed config; `where` names its source in messages. */
export function parseScoreConfig(raw: unknown, where: string): ScoreConfig {
  const r = scoreConfigSchema.safeParse(raw);
  if (!r.success) throw zodToUserError(r.error, where);
  const c = r.data;
  const bad = (field: string, what: string) => new UserError('E_CONFIG', `${where}: field ${field}: ${what}`);
  if (typeof c.field.source === 'string' && !parseFieldSource(c.field.source)) {
    throw bad('field.source', `'${c.field.source}' is not a field source; write final, layer:L, head:L.H or heads:L.H+L.H`);
  }
  if (c.field.stride !== undefined && c.field.stride > c.field.context) throw bad('field.stride', `${c.field.stride} exceeds field.context ${c.field.context}`);
  const s = c.schedule;
  if (s.kind !== 'constant' && s.beta_min > s.beta_max) throw bad('schedule.beta_min', `${s.beta_min} exceeds schedule.beta_max ${s.beta_max}`);
  if (s.t_min >= s.T) throw bad('schedule.t_min', `${s.t_min} must be below schedule.T ${s.T}`);
  if (!(sigma2(absoluteSchedule(c, 2), s.t_min) > 0)) throw bad('schedule.t_min', 'σ²(t_min) is 0; raise t_min or beta_min');
  if (c.network.time_embedding % 2 !== 0) throw bad('network.time_embedding', `${c.network.time_embedding} must be even (sin and cos pairs)`);
  const t = c.training;
  if (t.min_lr > t.lr) throw bad('training.min_lr', `${t.min_lr} exceeds training.lr ${t.lr}`);
  if (t.warmup_steps >= t.steps) throw bad('training.warmup_steps', `${t.warmup_steps} must be below training.steps ${t.steps}`);
  return c;
}

/** Read and validate configs/score/NAME.json. */
export function loadScoreConfig(path: string): ScoreConfig {
  return parseScoreConfig(readJsonFile(path, 'score config'), path);
}

/** The field source object of a config. */
export function configFieldSource(c: ScoreConfig): FieldSource {
  return typeof c.field.source === 'string' ? parseFieldSource(c.field.source)! : c.field.source;
}

/** The schedule in absolute units for spin dimension d (per_dimension: β/(d−1)). */
export function absoluteSchedule(c: ScoreConfig, d: number): NoiseSchedule {
  const s = c.schedule;
  const k = s.units === 'per_dimension' ? 1 / (d - 1) : 1;
  return { kind: s.kind, betaMin: s.kind === 'constant' ? s.beta_max * k : s.beta_min * k, betaMax: s.beta_max * k, T: s.T };
}

/** First differing field between two configs (all but description), for --resume. */
export function configDifference(saved: ScoreConfig, given: ScoreConfig): ConfigDifference | null {
  return firstDifference(saved, given, ['description']);
}
