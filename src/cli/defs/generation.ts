/**
 * The yargs definitions of `sample`, `generate`, `metrics` and `sweep` (see defs/analysis.ts for
 * the pattern): flags and help here; the implementations load when a command runs. Numeric flags
 * of the option families (sampling/options.ts) are validated by the family's zod schema in the
 * handler, before any output, with errors naming the flag.
 */
import type { Argv } from 'yargs';
import { SCHEDULE_KINDS } from '../../core/schedules.js';
import { BASELINE_METHODS, DEFAULT_STEPS, FIELD_SCALES, INTEGRATOR_NAMES, PRECESSIONS, READOUTS, SPACES } from '../../../sampling/choices.js';
import { intOpt, strOpt } from '../args.js';
import type { GlobalArgs, Io } from '../io.js';
import { engineOptions, modelOptions, type EngineArgs, type ModelArgs } from '../commands/model-args.js';

export interface SampleArgs extends ModelArgs {
  score?: string;
  prompt?: string;
  prompts?: string;
  tokens: number;
  samples: number;
  eta?: number;
  lambda?: number;
  gamma?: number;
  precession?: string;
  steps: number;
  schedule?: string;
  'beta-min'?: number;
  'beta-max'?: number;
  integrator: string;
  'field-source': string;
  'field-scale'?: string;
  readout: string;
  'readout-temperature': number;
  out?: string;
  space: string;
}

export interface GenerateArgs extends ModelArgs {
  prompt?: string[];
  'prompt-file'?: string;
  tokens: number;
  samples: number;
  method?: string;
  temperature?: number;
  'top-k'?: number;
  'top-p'?: number;
  'repetition-penalty'?: number;
  'penalize-prompt': boolean;
  'stop-at-eos': boolean;
  'batch-size': number;
  out?: string;
}

export interface MetricsArgs extends GlobalArgs, EngineArgs {
  input?: string;
  evaluator?: string;
  offline: boolean;
  out?: string;
}

export interface SweepArgs extends GlobalArgs, EngineArgs {
  config?: string;
  shard?: string;
  model?: string;
  evaluator?: string;
  offline: boolean;
  list: boolean;
  out?: string;
}

export interface ReportArgs extends GlobalArgs, EngineArgs {
  dir: string;
  config?: string;
  model?: string;
  offline: boolean;
  out?: string;
}

export interface MergeArgs extends GlobalArgs {
  dirs: string[];
  out?: string;
}

const PROMPT_FILE_FORMATS = '.txt (one per line), .json (strings or {prompt} objects, or {"prompts": [...]}), .jsonl or .csv (prompt column)';

export function sampleDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'sample',
      'generate text by attention-guided spin diffusion (BL Eq. 14)',
      (yy) =>
        modelOptions(yy)
          .option('score', {
            type: 'string',
            coerce: strOpt('score'),
            describe:
              "score run directory (its latest checkpoint) or checkpoint directory, or 'none' for pure η-guided drift (default: the embedded model's score)",
          })
          .option('prompt', { type: 'string', coerce: strOpt('prompt'), describe: 'the prompt (non-empty)' })
          .option('prompts', { type: 'string', coerce: strOpt('prompts'), describe: `a file of prompts: ${PROMPT_FILE_FORMATS}` })
          .option('tokens', { type: 'number', default: 20, describe: 'new tokens per sample' })
          .option('samples', { type: 'number', default: 1, describe: 'samples per prompt (one batch)' })
          .option('eta', { type: 'number', describe: "guidance strength η ≥ 0 (default: the score's η, else 1)" })
          .option('lambda', { type: 'number', describe: 'Gilbert damping λ ≥ 0: turns on full LLG mode (c_N = ηγλ/(1+λ²), plus precession)' })
          .option('gamma', { type: 'number', describe: 'gyromagnetic ratio γ > 0 in LLG mode (default 1)' })
          .option('precession', { type: 'string', choices: PRECESSIONS, describe: 'LLG precession (default: cross in d = 3, else orthogonal)' })
          .option('steps', { type: 'number', default: DEFAULT_STEPS, describe: 'reverse SDE steps K per token' })
          .option('schedule', { type: 'string', choices: SCHEDULE_KINDS, describe: "noise schedule β(t) (default: the score's, else linear)" })
          .option('beta-min', { type: 'number', describe: "β_min, absolute units (default: the score's, else 0.01/(d−1))" })
          .option('beta-max', { type: 'number', describe: "β_max, absolute units (default: the score's, else 20/(d−1))" })
          .option('integrator', { type: 'string', choices: INTEGRATOR_NAMES, default: 'heun', describe: 'reverse SDE integrator' })
          .option('field-source', {
            type: 'string',
            default: 'final',
            coerce: strOpt('field-source'),
            describe: 'context field: final, layer:L, head:L.H, heads:L.H+L.H',
          })
          .option('field-scale', {
            type: 'string',
            choices: FIELD_SCALES,
            describe: 'the η term pulls toward N̂ (unit, default, as the score is trained) or the raw N_proj (raw)',
          })
          .option('readout', { type: 'string', choices: READOUTS, default: 'nearest', describe: 'nearest (cosine) or softmax over cosines' })
          .option('readout-temperature', { type: 'number', default: 0.1, describe: 'temperature of the softmax readout' })
          .option('out', {
            type: 'string',
            coerce: strOpt('out'),
            describe: 'also write the samples as JSON lines {prompt, text, tokens} to this FILE (atomically)',
          })
          .option('space', {
            type: 'string',
            choices: SPACES,
            default: 'sphere',
            describe: 'sphere (spin diffusion) | euclidean (the Brownian DDPM baseline; --score = its directory)',
          }),
      async (a) => (await import('../commands/sample.js')).runSample(io, a),
    );
}

export function generateDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'generate',
      'generate text with an autoregressive baseline: greedy, temperature, top-k, top-p, repetition penalty',
      (yy) =>
        modelOptions(yy)
          .option('prompt', { type: 'string', array: true, describe: 'prompt text, non-empty (repeat for several prompts)' })
          .option('prompt-file', { type: 'string', coerce: strOpt('prompt-file'), describe: `a file of prompts: ${PROMPT_FILE_FORMATS}` })
          .option('tokens', { type: 'number', default: 32, describe: 'new tokens per sample (at most)' })
          .option('samples', { type: 'number', default: 1, describe: 'samples per prompt' })
          .option('method', { type: 'string', choices: BASELINE_METHODS, describe: 'decoding method (default: from the flags below, else greedy)' })
          .option('temperature', { type: 'number', describe: 'softmax temperature T > 0 (default 1)' })
          .option('top-k', { type: 'number', describe: 'sample among the K largest logits' })
          .option('top-p', { type: 'number', describe: 'nucleus: sample among the smallest top set with probability ≥ P' })
          .option('repetition-penalty', { type: 'number', describe: 'CTRL penalty θ for tokens already in the context (1 = off, 1.2 typical)' })
          .option('penalize-prompt', {
            type: 'boolean',
            default: true,
            describe: 'the repetition penalty also counts prompt tokens (--no-penalize-prompt: generated only)',
          })
          .option('stop-at-eos', { type: 'boolean', default: true, describe: '<|endoftext|> ends a sample (--no-stop-at-eos to keep going)' })
          .option('batch-size', { type: 'number', default: 16, coerce: intOpt('batch-size', 1, 4096), describe: 'rows (prompt × sample) per forward batch' })
          .option('out', {
            type: 'string',
            coerce: strOpt('out'),
            describe: 'also write the samples as JSON lines {prompt, text, tokens} to this FILE (atomically)',
          }),
      async (a) => (await import('../commands/generate.js')).runGenerate(io, a),
    );
}

export function metricsDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'metrics',
      'quality and diversity of generations: evaluator perplexity, entropy, distinct-n, repetition, loops, Zipf',
      (yy) =>
        engineOptions(yy)
          .option('input', {
            type: 'string',
            coerce: strOpt('input'),
            describe: 'JSONL of generations: {"prompt", "text", "tokens"} per line (as written by sample/generate --out)',
          })
          .option('evaluator', {
            type: 'string',
            coerce: strOpt('evaluator'),
            describe: 'model that scores the continuations (directory or hub id; default: the embedded model)',
          })
          .option('offline', { type: 'boolean', default: false, describe: 'never download; use the hub cache only' })
          .option('out', { type: 'string', coerce: strOpt('out'), describe: 'also write the metrics as JSON to this FILE' }),
      async (a) => (await import('../commands/metrics.js')).runMetrics(io, a),
    );
}

export function sweepDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command('sweep', 'grid of guided-generation settings and baselines on a prompt set: resumable, shardable (--shard i/n), mergeable', (yy) =>
      yy
        .command(
          '$0',
          'run the grid of --config (or one shard of it) into --out DIR',
          (c) =>
            engineOptions(c)
              .option('config', { type: 'string', coerce: strOpt('config'), describe: 'sweep config JSON (configs/sweeps/default.json, tiny.json)' })
              .option('shard', { type: 'string', coerce: strOpt('shard'), describe: 'run only shard i of n (0-based i/n): the runs with index mod n = i' })
              .option('model', { type: 'string', coerce: strOpt('model'), describe: 'generating model (overrides the config; default: the embedded model)' })
              .option('evaluator', {
                type: 'string',
                coerce: strOpt('evaluator'),
                describe: 'model for perplexity/entropy (overrides the config; default: the generating model)',
              })
              .option('offline', { type: 'boolean', default: false, describe: 'never download; use the hub cache only' })
              .option('list', { type: 'boolean', default: false, describe: 'print the grid (index, shard, setting, seed) and exit' })
              .option('out', {
                type: 'string',
                coerce: strOpt('out'),
                describe: 'run DIR (default spinbath-out/sweeps/NAME[/shard-i-of-n]); locked while the sweep runs',
              }),
          async (a) => (await import('../commands/sweep.js')).runSweepCommand(io, a),
        )
        .command(
          'merge <dirs..>',
          'join shard outputs: dedupe by run id, error on conflicting duplicates',
          (c) =>
            c
              .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'shard output directories (or results.jsonl files)' })
              .option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR for the merged results and report (default spinbath-out/sweeps/merged)' }),
          async (a) => (await import('../commands/sweep.js')).runMerge(io, a),
        )
        .command(
          'report <dir>',
          "the decisive report: every setting under the config's evaluators, 95% bootstrap intervals over prompts, Pareto flags, plots",
          (c) =>
            engineOptions(c)
              .positional('dir', { type: 'string', demandOption: true, describe: 'a (merged) sweep output directory' })
              .option('config', { type: 'string', coerce: strOpt('config'), describe: 'the sweep config the runs came from (its "report" section)' })
              .option('model', {
                type: 'string',
                coerce: strOpt('model'),
                describe: 'generating model (overrides the config; its tokenizer reads the prompts)',
              })
              .option('offline', { type: 'boolean', default: false, describe: 'never download; use the hub cache only' })
              .option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR for summary.csv and the plots (default DIR/decisive)' }),
          async (a) => (await import('../commands/sweep.js')).runReport(io, a),
        ),
    );
}
