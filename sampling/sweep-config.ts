/**
 * Sweep configuration (configs/sweeps/NAME.json), its grid of runs, run ids and shards.
 *
 * Config (zod, strict: an unknown or out-of-range field is named in one line):
 *   {
 *     "name": "default", "description": "...",
 *     "model": "DIR or hub id" (default: the embedded model), "evaluator": ... (default: model),
 *     "prompts": { "source": "brown-test", "count": 8, "length": 16, "seed": 0 } | { "texts": ["…"] },
 *     "tokens": 16, "samples": 1, "seeds": [0, 1], "batchSize": 16,
 *     "guided": { "eta": [0, 0.5, 1, 2], "lambda": ["off", 0.5, 2], "steps": [50],
 *                 "schedules": ["default", { "kind": "linear", "betaMin": 0.1, "betaMax": 20, "T": 1 }],
 *                 "fieldSources": ["final", "head:3.5"], "scores": ["none", "runs/score-A"],
 *                 "gamma": 1, "integrator": "heun",
 *                 "readout": "nearest", "readoutTemperature": 0.1 },
 *     "baselines": [ { "method": "greedy" }, { "method": "top-p", "topP": 0.9 } ]
 *   }
 * λ "off" runs the plain η-guided drift (llg false); a number λ runs full LLG with that damping.
 * "default" schedule = the sampler's own default (a score checkpoint's schedule when it has one).
 * scores: "none" = the pure η-guided drift (zero training), else a score checkpoint directory
 * (loaded once per sweep with sampling/score.ts).
 *
 * Grid order (run index = position): guided runs first, nested loops outermost → innermost:
 * fieldSource, score, schedule, steps, lambda, eta, seed; then each baseline in config order × seeds,
 * except greedy, which draws nothing and runs once (seed null).
 *
 * Run id: the first 16 hex digits of sha256 of the canonical JSON (sorted keys) of
 * { params, setup }, where params are the run's own settings (above, with its seed) and setup the
 * shared ones (model, evaluator, prompt set and the sha256 of its token ids, tokens, samples).
 * Runs with equal ids are the same computation, whichever config file they came from.
 *
 * Shards: `--shard i/n` (0 ≤ i < n) takes the runs whose index ≡ i (mod n): round-robin, so each
 * shard gets a similar mix of cheap and expensive runs, and the n shards cover the grid exactly
 * once. Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT (array 0..n−1); Kubernetes
 * indexed Jobs: --shard $JOB_COMPLETION_INDEX/<completions>.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { readJsonFile } from '../src/config/load.js';
import { zodToUserError } from '../src/config/zodError.js';
import type { NoiseSchedule } from '../src/core/schedules.js';
import { parseFieldSource } from '../src/field/source.js';
import { baselineLabel, type BaselineSpec } from './baselines.js';
import type { ParamSchedule } from './drift.js';
import { baselineSpecSchema, DEFAULT_STEPS, guidedFields, noiseScheduleSchema, promptTextSchema, seedSchema } from './options.js';
import type { IntegratorName } from './choices.js';

// The grids are arrays of the guided option family's own field schemas (sampling/options.ts), so a
// value the sampler or the CLI refuses is refused here too, with the same rule.
const scheduleSchema = noiseScheduleSchema;

/** A plain number (grids hold numbers, not schedules) accepted by the option family's field `f`. */
const numberOf = (f: z.ZodTypeAny) =>
  z.number().superRefine((x, ctx) => {
    const r = f.safeParse(x);
    if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0].message });
  });

const fieldSourceText = z
  .string()
  .refine((s) => parseFieldSource(s) !== null, { message: 'not a field source; write final, layer:L, head:L.H or heads:L.H+L.H' });

const guidedShape = {
  /** η: a constant, or an annealed schedule {kind, from, to} from the noisy start (τ = 0) to the end (sampling/drift.ts ParamSchedule). */
  eta: z.array(guidedFields.eta).min(1),
  lambda: z
    .array(z.union([z.literal('off'), numberOf(guidedFields.lambda)]))
    .min(1)
    .default(['off']),
  steps: z.array(guidedFields.steps).min(1).default([DEFAULT_STEPS]),
  schedules: z
    .array(z.union([z.literal('default'), scheduleSchema]))
    .min(1)
    .default(['default']),
  fieldSources: z.array(fieldSourceText).min(1).default(['final']),
  scores: z.array(z.string().min(1)).min(1).default(['none']),
  gamma: numberOf(guidedFields.gamma).default(1),
  integrator: guidedFields.integrator.default('heun'),
  /** Several integrators (a grid axis, inside steps); overrides `integrator`. */
  integrators: z.array(guidedFields.integrator).min(1).optional(),
  readout: guidedFields.readout.default('nearest'),
  readoutTemperature: guidedFields.readoutTemperature.optional(),
  /** The method this block stands for in reports (issue 14): guided (default), learned-score, steered. */
  method: z.enum(['guided', 'learned-score', 'steered']).optional(),
  /** External steering field: the mean spin of `words` with each strength α (a grid axis). */
  steer: z
    .object({ words: z.array(z.string().min(1)).min(1), alpha: z.array(z.number().finite()).min(1) })
    .strict()
    .optional(),
};
const guidedSchema = z.object(guidedShape).strict();

/** The Brownian DDPM baseline (training/euclidean.ts, sampling/euclidean.ts): model directories × step counts. */
const euclideanSchema = z.object({ models: z.array(z.string().min(1)).min(1), steps: z.array(guidedFields.steps).min(1).default([DEFAULT_STEPS]) }).strict();

/** The decisive report (sampling/decisive.ts): evaluators, bootstrap and the topic words of the hit rate. */
const reportSchema = z
  .object({
    evaluators: z.array(z.string().min(1)).min(1),
    bootstrap: z.number().int().min(10).max(100_000).default(1000),
    seed: seedSchema.default(0),
    topicWords: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** Either the Brown test split (source, count, length, seed) or fixed texts; one object so errors name the field. */
const promptsSchema = z
  .object({
    source: z.enum(['brown-test', 'texts']).default('brown-test'),
    count: z.number().int().min(1).max(10_000).optional(),
    length: z.number().int().min(1).max(4096).optional(),
    seed: seedSchema.optional(),
    texts: z.array(promptTextSchema).min(1).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.source === 'texts' || p.texts !== undefined) {
      if (p.texts === undefined) ctx.addIssue({ code: 'custom', path: ['texts'], message: 'source texts needs "texts": ["…", …]' });
      for (const k of ['count', 'length', 'seed'] as const)
        if (p[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `applies to source brown-test, not to "texts"` });
    } else {
      if (p.count === undefined) ctx.addIssue({ code: 'custom', path: ['count'], message: 'source brown-test needs "count" (number of prompts)' });
      if (p.length === undefined) ctx.addIssue({ code: 'custom', path: ['length'], message: 'source brown-test needs "length" (tokens per prompt)' });
    }
  })
  .transform((p) =>
    p.texts !== undefined
      ? { source: 'texts' as const, texts: p.texts }
      : { source: 'brown-test' as const, count: p.count!, length: p.length!, seed: p.seed ?? 0 },
  );

/** The zod schema of a sweep config: prompts, guided grid (η, λ, schedule, source, seeds), baselines, evaluator. */
export const sweepConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^[\w.-]+$/, 'use letters, digits, _ . - only')
      .optional(),
    description: z.string().optional(),
    model: z.string().min(1).optional(),
    evaluator: z.string().min(1).optional(),
    prompts: promptsSchema.default({ source: 'brown-test', count: 8, length: 16, seed: 0 }),
    tokens: guidedFields.tokens,
    samples: guidedFields.samples.default(1),
    seeds: z.array(seedSchema).min(1).default([0]),
    batchSize: z.number().int().min(1).max(4096).default(16),
    guided: guidedSchema.optional(),
    /** Further guided blocks, expanded after `guided` (e.g. a learned-score or a steered block). */
    grids: z.array(guidedSchema).optional(),
    euclidean: euclideanSchema.optional(),
    baselines: z.array(baselineSpecSchema).default([]),
    report: reportSchema.optional(),
  })
  .strict()
  .refine((c) => c.guided !== undefined || c.baselines.length > 0 || (c.grids?.length ?? 0) > 0 || c.euclidean !== undefined, {
    message: 'the grid is empty: give "guided" and/or "baselines"',
    path: ['guided'],
  });

/** A validated sweep config (configs/sweeps/NAME.json). */
export type SweepConfig = z.infer<typeof sweepConfigSchema>;
export type PromptSpec = SweepConfig['prompts'];

/** Validate a parsed config; `where` names it in errors. */
export function parseSweepConfig(value: unknown, where = 'sweep config'): SweepConfig {
  const r = sweepConfigSchema.safeParse(value);
  if (!r.success) throw zodToUserError(r.error, where);
  return r.data;
}

/** Read and validate a sweep config file; a bad file is a one-line UserError naming the field. */
export function loadSweepConfig(path: string): SweepConfig {
  return parseSweepConfig(readJsonFile(path, 'sweep config'), path);
}

export interface GuidedParams {
  kind: 'guided';
  fieldSource: string;
  /** 'none' or a score checkpoint directory. */
  score: string;
  schedule: NoiseSchedule | 'default';
  steps: number;
  lambda: number | 'off';
  eta: ParamSchedule;
  gamma: number;
  integrator: IntegratorName;
  readout: 'nearest' | 'softmax';
  readoutTemperature: number | null;
  seed: number;
  /** Only when the block names one (so older run ids are unchanged). */
  method?: 'guided' | 'learned-score' | 'steered';
  steer?: { words: string[]; alpha: number };
}
export interface EuclideanParams {
  kind: 'euclidean';
  model: string;
  steps: number;
  seed: number;
}
export interface BaselineParams extends BaselineSpec {
  kind: 'baseline';
  seed: number | null;
}
export type RunParams = GuidedParams | BaselineParams | EuclideanParams;

/** Shared settings of every run of a sweep (part of each run id). */
export interface SweepSetup {
  model: string;
  evaluator: string;
  prompts: PromptSpec;
  /** sha256 (16 hex) of the prompt token ids. */
  promptHash: string;
  tokens: number;
  samples: number;
}

/** Every run of the grid, in index order (see the file comment). */
export function expandGrid(c: SweepConfig): RunParams[] {
  const runs: RunParams[] = [];
  for (const g of [...(c.guided ? [c.guided] : []), ...(c.grids ?? [])]) {
    const alphas = g.steer ? g.steer.alpha : [null];
    for (const fieldSource of g.fieldSources)
      for (const score of g.scores)
        for (const schedule of g.schedules)
          for (const steps of g.steps)
            for (const integrator of g.integrators ?? [g.integrator])
              for (const lambda of g.lambda)
                for (const alpha of alphas)
                  for (const eta of g.eta)
                    for (const seed of c.seeds) {
                      const extra = {
                        ...(g.method ? { method: g.method } : {}),
                        ...(g.steer && alpha !== null ? { steer: { words: g.steer.words, alpha } } : {}),
                      };
                      runs.push({
                        kind: 'guided',
                        fieldSource,
                        score,
                        schedule,
                        steps,
                        lambda,
                        eta,
                        gamma: g.gamma,
                        integrator,
                        readout: g.readout,
                        readoutTemperature: g.readoutTemperature ?? null,
                        seed,
                        ...extra,
                      });
                    }
  }
  if (c.euclidean)
    for (const model of c.euclidean.models)
      for (const steps of c.euclidean.steps) for (const seed of c.seeds) runs.push({ kind: 'euclidean', model, steps, seed });
  for (const b of c.baselines) {
    for (const seed of b.method === 'greedy' ? [null] : c.seeds) runs.push({ kind: 'baseline', ...b, seed });
  }
  return runs;
}

/** JSON with object keys sorted at every level (stable across key order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sha16(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

export function runId(params: RunParams, setup: SweepSetup): string {
  return sha16(canonicalJson({ params, setup }));
}

/** A short human label of a run without its seed, e.g. 'guided η=0.5 λ=off K=50' or 'top-p 0.9'. */
export function runLabel(p: RunParams): string {
  if (p.kind === 'baseline') return baselineLabel(p);
  if (p.kind === 'euclidean') return `euclidean-ddpm ${p.model} K=${p.steps}`;
  const eta = typeof p.eta === 'number' ? String(p.eta) : `${p.eta.kind} ${p.eta.from}→${p.eta.to}`;
  const extra = [
    p.fieldSource !== 'final' ? p.fieldSource : '',
    p.score !== 'none' ? `score ${p.score}` : '',
    p.schedule !== 'default' ? `${p.schedule.kind} ${p.schedule.betaMin}→${p.schedule.betaMax}` : '',
    p.integrator !== 'heun' ? p.integrator : '',
    p.readout !== 'nearest' ? p.readout : '',
    p.steer ? `steer α=${p.steer.alpha}` : '',
  ].filter(Boolean);
  return [`${p.method && p.method !== 'guided' ? `${p.method} ` : 'guided '}η=${eta} λ=${p.lambda} K=${p.steps}`, ...extra].join(' ');
}

// One shard convention for sweeps and the field-cache build (src/io/shard.ts).
export { parseShard, shardIndices } from '../src/io/shard.js';
