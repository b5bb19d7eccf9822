/**
 * Options of the guided generator (sampling/generate.ts) and their checks: every out-of-range
 * value is a UserError with one clear line (the CLI exits 2). Also the compatibility check of a
 * score checkpoint against the language model and field source it is used with (ScoreModelMeta).
 */
import { UserError } from '../src/errors.js';
import { checkFieldSource, fieldSourceId, type FieldSource } from '../src/field/source.js';
import type { Gpt2Model } from '../src/model/gpt2.js';
import { SCHEDULE_KINDS, type NoiseSchedule } from '../src/core/schedules.js';
import type { ScoreModelMeta } from '../training/score-model.js';
import { paramRange, type ParamSchedule, type Precession } from './drift.js';
import { INTEGRATOR_NAMES, type IntegratorName } from './integrators/index.js';
import { READOUTS, type ReadoutKind } from './readout.js';

/**
 * The schedule used without a score checkpoint: the one the residual scores are trained with
 * (configs/score/*.json): linear β from 0.01 to 20 in per-dimension units, i.e. divided by d − 1,
 * so that the forward process mixes the same in every d (E[S_T·S_0] = e^{−(d−1)σ²(T)/2} ≈ e^{−5}).
 */
export function defaultSchedule(d: number): NoiseSchedule {
  const k = 1 / Math.max(d - 1, 1);
  return { kind: 'linear', betaMin: 0.01 * k, betaMax: 20 * k, T: 1 };
}
export const DEFAULT_STEPS = 50;
export const MAX_STEPS = 100_000;
export const DEFAULT_READOUT_TEMPERATURE = 0.1;

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
  /** Gilbert damping λ ≥ 0: given → full LLG mode (Eq. 9), c_N = ηγλ/(1+λ²) plus precession. */
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
  score?: import('../training/score-model.js').ScoreModel | null;
  readout?: ReadoutKind;
  /** Softmax readout temperature (default 0.1). */
  readoutTemperature?: number;
  /** Seed of every draw (default 0). */
  seed?: number | string;
  /** Keep the last tokens of a prompt that does not fit the context with the new tokens. */
  truncate?: 'left';
  /** Rows (prompts × samples) per batch of the inner SDE loop (default 64; one prompt's samples are never split). */
  maxBatch?: number;
  onToken?: (e: TokenEvent) => void;
  /** Accumulates wall time (ms) of the language model, the reverse SDE and the readout. */
  profile?: { lmMs: number; sdeMs: number; readoutMs: number };
  /** External steering field α m̂ added to the guidance (sampling/drift.ts DriftOptions.steer). */
  steer?: { direction: Float32Array; alpha: number } | null;
}

const finite = (x: number) => typeof x === 'number' && Number.isFinite(x);

function checkParam(p: ParamSchedule | undefined, flag: string, min: number, strict = false): void {
  if (p === undefined) return;
  if (typeof p !== 'number' && !SCHEDULE_KINDS.includes(p.kind)) throw new UserError('E_ARG', `--${flag}: schedule kind '${p.kind}' is not one of ${SCHEDULE_KINDS.join(', ')}`);
  const [lo, hi] = paramRange(p);
  if (!finite(lo) || !finite(hi) || lo < min || (strict && lo <= min)) {
    throw new UserError('E_ARG', `--${flag} must be a finite number ${strict ? '>' : '≥'} ${min} (got ${typeof p === 'number' ? p : `${p.kind} ${p.from}→${p.to}`})`);
  }
}

/** Check a noise schedule: 0 ≤ β_min ≤ β_max, β_max > 0, T > 0, all finite. */
export function checkSchedule(s: NoiseSchedule): void {
  if (!SCHEDULE_KINDS.includes(s.kind)) throw new UserError('E_ARG', `--schedule must be one of ${SCHEDULE_KINDS.join(', ')} (got '${s.kind}')`);
  if (!finite(s.betaMin) || !finite(s.betaMax) || s.betaMin < 0 || s.betaMax <= 0 || s.betaMin > s.betaMax) {
    throw new UserError('E_ARG', `β out of range: need finite 0 ≤ β_min ≤ β_max with β_max > 0 (got β_min = ${s.betaMin}, β_max = ${s.betaMax})`);
  }
  if (!finite(s.T) || s.T <= 0) throw new UserError('E_ARG', `the schedule's end time T must be a finite number > 0 (got ${s.T})`);
}

/** Validate everything that does not need the model. */
export function checkGuidedOptions(o: GuidedOptions): void {
  if (!Number.isInteger(o.tokens) || o.tokens < 1) throw new UserError('E_ARG', `--tokens must be an integer ≥ 1 (got ${o.tokens})`);
  if (o.samples !== undefined && (!Number.isInteger(o.samples) || o.samples < 1)) throw new UserError('E_ARG', `--samples must be an integer ≥ 1 (got ${o.samples})`);
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > MAX_STEPS)) {
    throw new UserError('E_ARG', `--steps must be an integer in [1, ${MAX_STEPS}] (got ${o.steps})`);
  }
  checkParam(o.eta, 'eta', 0);
  checkParam(o.lambda, 'lambda', 0);
  checkParam(o.gamma, 'gamma', 0, true);
  if (o.schedule) checkSchedule(o.schedule);
  if (o.tMin !== undefined) {
    const T = o.schedule?.T ?? 1;
    if (!finite(o.tMin) || o.tMin < 0 || o.tMin >= T) throw new UserError('E_ARG', `t_min must be in [0, T) (got ${o.tMin}, T = ${T})`);
  }
  if (o.integrator !== undefined && !INTEGRATOR_NAMES.includes(o.integrator)) throw new UserError('E_ARG', `--integrator must be one of ${INTEGRATOR_NAMES.join(', ')} (got '${o.integrator}')`);
  if (o.readout !== undefined && !READOUTS.includes(o.readout)) throw new UserError('E_ARG', `--readout must be one of ${READOUTS.join(', ')} (got '${o.readout}')`);
  if (o.readoutTemperature !== undefined && (!finite(o.readoutTemperature) || o.readoutTemperature <= 0)) {
    throw new UserError('E_ARG', `--readout-temperature must be a finite number > 0 (got ${o.readoutTemperature})`);
  }
  if (o.maxBatch !== undefined && (!Number.isInteger(o.maxBatch) || o.maxBatch < 1)) throw new UserError('E_ARG', `maxBatch must be an integer ≥ 1 (got ${o.maxBatch})`);
  if (!o.prompts?.length && !o.promptIds?.length) throw new UserError('E_ARG', 'give at least one prompt');
  if (o.prompts && o.promptIds && o.prompts.length !== o.promptIds.length) throw new UserError('E_ARG', `${o.prompts.length} prompt labels for ${o.promptIds.length} encoded prompts`);
}

/** The field source must exist in the model; a score must match the model's d and vocabulary and the source. */
export function checkModelCompat(model: Gpt2Model, source: FieldSource, meta: ScoreModelMeta | null): void {
  const bad = checkFieldSource(source, model.nLayer, model.nHead);
  if (bad) throw new UserError('E_ARG', `--field-source ${fieldSourceId(source)}: ${bad}`);
  if (!meta) return;
  const mismatch: string[] = [];
  if (meta.d !== model.dModel) mismatch.push(`d = ${meta.d}, the model has d = ${model.dModel}`);
  if (meta.vocab !== model.vocab) mismatch.push(`vocabulary ${meta.vocab}, the model has ${model.vocab}`);
  if (meta.fieldSource !== fieldSourceId(source)) mismatch.push(`field source ${meta.fieldSource}, sampling uses ${fieldSourceId(source)}`);
  if (mismatch.length) {
    throw new UserError('E_CHECKPOINT', `the score checkpoint was made for another model or field (${mismatch.join('; ')}); pass a matching --score (and --field-source), or --score none`);
  }
}
