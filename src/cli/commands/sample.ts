/**
 * `spinbath sample`: attention-guided spin-diffusion generation (Bhattacharjee & Lee, Sec. V D,
 * Eq. 14 / B6; library: sampling/generate.ts `generateGuided`).
 *
 *   spinbath sample [--model M] [--score RUN|none] --prompt STR | --prompts FILE
 *                   [--tokens N] [--samples n] [--eta E] [--lambda L] [--gamma G] [--precession P]
 *                   [--steps K] [--schedule NAME] [--beta-min b] [--beta-max B] [--integrator heun|euler|midpoint|depondt]
 *                   [--field-source final|layer:l|head:l.h|heads:l.h+l.h] [--field-scale raw|unit]
 *                   [--readout nearest|softmax] [--readout-temperature T] [--seed S] [--json]
 *                   [--space sphere|euclidean]
 *
 * --space euclidean samples the Brownian DDPM baseline instead (sampling/euclidean.ts): --score
 * names a directory written by `spinbath train --space euclidean`; --steps, --field-source,
 * --samples, --seed apply, the spin-diffusion options (η, λ, integrator, schedule, readout) do not.
 *
 * Output: with one prompt and one sample the continuation is streamed to stdout token by token;
 * with several rows each finished row is printed as `[prompt i, sample j] <prompt><text>`.
 * --json prints, for one row, {"prompt", "text", "tokens", "trace"} and for several rows a JSON
 * array of such objects with "promptIndex" and "sample" added; "error" is present when generation
 * stopped early. trace[i] = {fieldNorm, cosChosen, cosRunnerUp, runnerUp, steps}.
 * --prompts FILE: a .txt file (one prompt per line), a JSON array of strings or of {prompt}, a JSON
 * {prompts: [...]} object, or a CSV with a `prompt` column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Argv } from 'yargs';
import { SCHEDULE_KINDS, type NoiseSchedule, type ScheduleKind } from '../../core/schedules.js';
import { UserError } from '../../errors.js';
import { fieldSourceId, parseFieldSource } from '../../field/source.js';
import { generateGuided, type GuidedOptions, type GuidedResult } from '../../../sampling/generate.js';
import { INTEGRATOR_NAMES, type IntegratorName } from '../../../sampling/integrators/index.js';
import { checkGuidedOptions, defaultSchedule, DEFAULT_STEPS } from '../../../sampling/options.js';
import { READOUTS, type ReadoutKind } from '../../../sampling/readout.js';
import { openScore, scoreHashWarning } from '../../../sampling/score.js';
import type { Precession } from '../../../sampling/drift.js';
import { generateEuclidean } from '../../../sampling/euclidean.js';
import { loadEuclidModel } from '../../../training/euclidean.js';
import { initBackend, printJson, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

interface SampleArgs extends ModelArgs {
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
  space?: string;
}

/** Prompts from a .txt (one per line), JSON (strings, {prompt} objects, or {prompts}) or CSV (prompt column) file. */
export function readSamplePrompts(path: string): string[] {
  if (!existsSync(path)) throw new UserError('E_FILE', `prompt file ${path} does not exist`);
  const text = readFileSync(path, 'utf8');
  const lower = path.toLowerCase();
  let list: unknown[];
  if (lower.endsWith('.json')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new UserError('E_FILE', `prompt file ${path} is not valid JSON: ${(e as Error).message}`);
    }
    const arr = Array.isArray(data) ? data : (data as { prompts?: unknown })?.prompts;
    if (!Array.isArray(arr)) throw new UserError('E_INPUT', `prompt file ${path}: expected a JSON array of prompts or {"prompts": [...]}`);
    list = arr.map((p) => (typeof p === 'object' && p !== null ? (p as { prompt?: unknown }).prompt : p));
  } else if (lower.endsWith('.csv')) {
    let rows: Record<string, string>[];
    try {
      rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: false }) as Record<string, string>[];
    } catch (e) {
      throw new UserError('E_FILE', `prompt file ${path} is not valid CSV: ${(e as Error).message.split('\n')[0]}`);
    }
    if (rows.length > 0 && !('prompt' in rows[0])) throw new UserError('E_INPUT', `prompt file ${path}: the CSV needs a 'prompt' column`);
    list = rows.map((r) => r.prompt);
  } else {
    list = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  }
  list.forEach((p, i) => {
    if (typeof p !== 'string') throw new UserError('E_INPUT', `prompt file ${path}: prompt ${i + 1} is not a string`);
  });
  if (list.length === 0) throw new UserError('E_INPUT', `prompt file ${path} has no prompts`);
  return list as string[];
}

function parsePrecession(s: string | undefined): Precession | undefined {
  if (s === undefined) return undefined;
  if (s === 'none' || s === 'cross' || s === 'orthogonal' || s === 'field') return { kind: s };
  throw new UserError('E_ARG', `--precession must be none, cross, orthogonal or field (got '${s}')`);
}

/** The schedule from --schedule/--beta-min/--beta-max on top of `base`, or undefined when none is given. */
function scheduleFrom(args: SampleArgs, base: NoiseSchedule | undefined, d: number): NoiseSchedule | undefined {
  if (args.schedule === undefined && args['beta-min'] === undefined && args['beta-max'] === undefined) return undefined;
  if (args.schedule !== undefined && !SCHEDULE_KINDS.includes(args.schedule as ScheduleKind)) {
    throw new UserError('E_ARG', `--schedule must be one of ${SCHEDULE_KINDS.join(', ')} (got '${args.schedule}')`);
  }
  const b = base ?? defaultSchedule(d);
  return { kind: (args.schedule as ScheduleKind | undefined) ?? b.kind, betaMin: args['beta-min'] ?? b.betaMin, betaMax: args['beta-max'] ?? b.betaMax, T: b.T };
}

function jsonRow(r: GuidedResult, many: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = { prompt: r.prompt, text: r.text, tokens: r.tokens, trace: r.trace };
  if (many) Object.assign(o, { promptIndex: r.promptIndex, sample: r.sample });
  if (r.error) o.error = r.error;
  return o;
}

async function run(io: Io, args: SampleArgs): Promise<void> {
  if (args.prompt === undefined && args.prompts === undefined) throw new UserError('E_ARG', 'give --prompt STR or --prompts FILE');
  if (args.prompt !== undefined && args.prompts !== undefined) throw new UserError('E_ARG', 'give either --prompt or --prompts, not both');
  const prompts = args.prompts !== undefined ? readSamplePrompts(args.prompts) : [args.prompt!];
  const source = parseFieldSource(args['field-source']);
  if (!source) throw new UserError('E_ARG', `--field-source: '${args['field-source']}' is not final, layer:L, head:L.H or heads:L.H+L.H`);
  if (!INTEGRATOR_NAMES.includes(args.integrator as IntegratorName)) throw new UserError('E_ARG', `--integrator must be one of ${INTEGRATOR_NAMES.join(', ')}`);
  if (!READOUTS.includes(args.readout as ReadoutKind)) throw new UserError('E_ARG', `--readout must be one of ${READOUTS.join(', ')}`);
  if (args['field-scale'] !== undefined && args['field-scale'] !== 'raw' && args['field-scale'] !== 'unit') throw new UserError('E_ARG', `--field-scale must be unit or raw`);
  const precession = parsePrecession(args.precession);
  if (precession && args.lambda === undefined) throw new UserError('E_ARG', '--precession needs --lambda (LLG mode)');
  if (args.gamma !== undefined && args.lambda === undefined) throw new UserError('E_ARG', '--gamma needs --lambda (LLG mode)');

  const space = args.space ?? 'sphere';
  if (space !== 'sphere' && space !== 'euclidean') throw new UserError('E_ARG', `--space must be sphere or euclidean (got '${space}')`);
  if (space === 'euclidean') {
    if (!args.score || args.score === 'none') throw new UserError('E_ARG', '--space euclidean needs --score DIR (a directory written by `spinbath train --space euclidean`)');
    for (const k of ['eta', 'lambda', 'gamma', 'precession', 'schedule', 'beta-min', 'beta-max', 'field-scale'] as const) {
      if (args[k] !== undefined) throw new UserError('E_ARG', `--${k} applies to spin diffusion (--space sphere), not to the Euclidean DDPM`);
    }
    if (!Number.isInteger(args.steps) || args.steps < 1) throw new UserError('E_ARG', `--steps must be a positive integer (got ${args.steps})`);
    if (!Number.isInteger(args.tokens) || args.tokens < 1) throw new UserError('E_ARG', `--tokens must be a positive integer (got ${args.tokens})`);
    await initBackend(args);
    const ddpm = loadEuclidModel(args.score);
    const lm = await openModel(args);
    try {
      const results = await generateEuclidean(lm, { prompts, samples: args.samples, tokens: args.tokens, steps: args.steps, ddpm, fieldSource: source, seed: args.seed, truncate: args.truncate === 'left' ? 'left' : undefined });
      const many = results.length > 1;
      if (args.json) printJson(io, many ? results.map((r) => jsonRow(r, true)) : jsonRow(results[0], false));
      else for (const r of results) io.out(many ? `[prompt ${r.promptIndex}, sample ${r.sample}] ${r.prompt}${r.text}\n` : `${r.prompt}${r.text}\n`);
      if (!args.quiet && !args.json) io.err(`${results.length} × ${args.tokens} tokens (Euclidean DDPM, K = ${args.steps}, field ${fieldSourceId(source)})\n`);
    } finally {
      ddpm.dispose();
      lm.dispose();
    }
    return;
  }
  await initBackend(args);
  const lm = await openModel(args);
  let score = null;
  try {
    score = await openScore(args.score, { embedded: !args.model, quiet: args.quiet || args.json, warn: (m) => io.err(`warning: ${m}\n`) });
    const hashWarning = score ? scoreHashWarning(score, lm.dir) : null;
    if (hashWarning && !args.quiet) io.err(`warning: ${hashWarning}\n`);
    const schedule = scheduleFrom(args, score?.meta.schedule, lm.model.dModel);
    if (score && schedule && !args.quiet) {
      const m = score.meta.schedule;
      if (schedule.kind !== m.kind || schedule.betaMin !== m.betaMin || schedule.betaMax !== m.betaMax) {
        io.err(`warning: the score was trained on a ${m.kind} schedule β ${m.betaMin}→${m.betaMax}; sampling with ${schedule.kind} ${schedule.betaMin}→${schedule.betaMax}\n`);
      }
    }
    const rows = prompts.length * args.samples;
    const stream = rows === 1 && !args.json;
    const bar = stream ? null : progressBar('sample', rows * args.tokens, args);
    let done = 0;
    let shown = '';
    const options: GuidedOptions = {
      prompts,
      samples: args.samples,
      tokens: args.tokens,
      eta: args.eta,
      lambda: args.lambda,
      gamma: args.gamma,
      precession,
      steps: args.steps,
      schedule,
      integrator: args.integrator as IntegratorName,
      fieldSource: source,
      fieldScale: args['field-scale'] as 'raw' | 'unit' | undefined,
      score,
      readout: args.readout as ReadoutKind,
      readoutTemperature: args['readout-temperature'],
      seed: args.seed,
      truncate: args.truncate === 'left' ? 'left' : undefined,
      onToken: (e) => {
        bar?.update(++done);
        if (!stream) return;
        const text = lm.tokenizer.decode(e.tokens);
        if (text.startsWith(shown) && !text.endsWith('\uFFFD')) {
          io.out(text.slice(shown.length));
          shown = text;
        }
      },
    };
    checkGuidedOptions(options); // bad input fails before anything is printed
    if (stream) io.out(prompts[0]);
    const results = await generateGuided(lm, options);
    bar?.stop();
    if (stream) io.out(results[0].text.slice(shown.length) + '\n');
    if (args.json) printJson(io, rows === 1 ? jsonRow(results[0], false) : results.map((r) => jsonRow(r, true)));
    else if (!stream) for (const r of results) io.out(`[prompt ${r.promptIndex}, sample ${r.sample}] ${r.prompt}${r.text}\n`);
    if (!args.quiet && !args.json) {
      const how = `${args.integrator}, K = ${args.steps}, field ${fieldSourceId(source)}, ${score ? 'learned residual score' : 'no score (pure η drift)'}`;
      io.err(`${rows} × ${args.tokens} tokens (${how})\n`);
    }
    const failed = results.find((r) => r.error && !r.error.startsWith('not generated'));
    if (failed) throw new UserError('E_NUMERIC', `${failed.error} — stopped; the tokens generated before it are printed above`);
  } finally {
    score?.dispose();
    lm.dispose();
  }
}

export function sampleCommand(io: Io) {
  return {
    command: 'sample',
    describe: 'generate text by attention-guided spin diffusion (Bhattacharjee & Lee Eq. 14)',
    builder: (y: Argv) =>
      modelOptions(y)
        .option('score', { type: 'string', describe: "score checkpoint directory, or 'none' for pure η-guided drift (default: the embedded model's score when present)" })
        .option('prompt', { type: 'string', describe: 'the prompt' })
        .option('prompts', { type: 'string', describe: 'a file of prompts (.txt lines, JSON, or CSV with a prompt column)' })
        .option('tokens', { type: 'number', default: 20, describe: 'new tokens per sample' })
        .option('samples', { type: 'number', default: 1, describe: 'samples per prompt (one batch)' })
        .option('eta', { type: 'number', describe: "guidance strength η ≥ 0 (default: the score's η, else 1)" })
        .option('lambda', { type: 'number', describe: 'Gilbert damping λ ≥ 0: turns on full LLG mode (c_N = ηγλ/(1+λ²), plus precession)' })
        .option('gamma', { type: 'number', describe: 'gyromagnetic ratio γ > 0 in LLG mode (default 1)' })
        .option('precession', { type: 'string', describe: 'LLG precession: none, cross (d = 3), orthogonal (default), field' })
        .option('steps', { type: 'number', default: DEFAULT_STEPS, describe: 'reverse SDE steps K per token' })
        .option('schedule', { type: 'string', describe: `noise schedule β(t): ${SCHEDULE_KINDS.join(', ')} (default: the score's, else linear)` })
        .option('beta-min', { type: 'number', describe: "β_min, absolute units (default: the score's, else 0.01/(d−1))" })
        .option('beta-max', { type: 'number', describe: "β_max, absolute units (default: the score's, else 20/(d−1))" })
        .option('integrator', { type: 'string', default: 'heun', describe: `${INTEGRATOR_NAMES.join(' | ')}` })
        .option('field-source', { type: 'string', default: 'final', describe: 'context field: final, layer:L, head:L.H, heads:L.H+L.H' })
        .option('field-scale', { type: 'string', describe: 'the η term pulls toward N̂ (unit, default, as the score is trained) or the raw N_proj (raw)' })
        .option('readout', { type: 'string', default: 'nearest', describe: 'nearest (cosine) or softmax over cosines' })
        .option('readout-temperature', { type: 'number', default: 0.1, describe: 'temperature of the softmax readout' })
        .option('space', { type: 'string', default: 'sphere', describe: 'sphere (spin diffusion) | euclidean (the Brownian DDPM baseline; --score = its directory)' }),
    handler: (a: SampleArgs) => run(io, a),
  };
}
