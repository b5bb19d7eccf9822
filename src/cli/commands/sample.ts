/**
 * `spinbath sample`: attention-guided spin-diffusion generation (Bhattacharjee & Lee, Sec. V D,
 * BL Eq. 14 / B6; library: sampling/generate.ts `generateGuided`). Flags: src/cli/defs/generation.ts;
 * they map onto the guided option family (sampling/options.ts `guidedOptionsSchema`), validated
 * before anything is printed.
 *
 * Output: with one prompt and one sample the continuation is streamed to stdout token by token
 * (the prompt is echoed with the first token, after every check passed); with several rows each
 * finished row is printed as `[prompt i, sample j] <prompt><text>` (numbered from 1). --json
 * prints, for one row, {"prompt", "text", "tokens", "trace"} and for several rows a JSON array of
 * such objects with "promptNumber" and "sampleNumber" (from 1) added; "error" is present when
 * generation stopped early. trace[i] = {fieldNorm, cosChosen, cosRunnerUp, runnerUp, steps}.
 * --out FILE: the samples as JSON lines {prompt, text, tokens} (the input of `spinbath metrics`).
 *
 * --space euclidean samples the Brownian DDPM baseline instead (sampling/euclidean.ts): --score
 * names a directory written by `spinbath train --space euclidean`; --tokens, --steps, --samples,
 * --field-source, --seed, --json and --out apply; the spin-diffusion options (η, λ, γ, precession,
 * schedule, β, field scale) are refused. Output is printed once each row is done (no streaming).
 */
import type { NoiseSchedule, ScheduleKind } from '../../core/schedules.js';
import { UserError } from '../../errors.js';
import { atomicWrite } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import { readPromptRecords } from '../../io/promptFile.js';
import { defaultSchedule, euclideanSampleSchema, guidedOptionsSchema, promptTextSchema, type GuidedOptions } from '../../../sampling/options.js';
import { parseFlags } from '../args.js';
import type { SampleArgs } from '../defs/generation.js';
import { initBackend, printJson, seedOf, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { openModel } from './model-args.js';

/** Library field → flag, so a schema error names the flag. */
/** One generated row, as both samplers (sphere and Euclidean) return it. */
interface SampleRow {
  prompt: string;
  text: string;
  tokens: number[];
  trace: unknown;
  promptIndex: number;
  sample: number;
  error?: string;
}

/** `--out FILE.jsonl`: one {prompt, text, tokens} line per row, written atomically. */
function writeSamples(out: string, results: SampleRow[]): void {
  atomicWrite(out, results.map((r) => JSON.stringify({ prompt: r.prompt, text: r.text, tokens: r.tokens }) + '\n').join(''));
}

/** `--json`: a row with its trace (numbered from 1 when there are several rows, and its error if any). */
function sampleJson(r: SampleRow, many: boolean) {
  return {
    prompt: r.prompt,
    text: r.text,
    tokens: r.tokens,
    trace: r.trace,
    ...(many ? { promptNumber: r.promptIndex + 1, sampleNumber: r.sample + 1 } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

const FLAG_OF: Record<string, string> = {
  prompts: 'prompt',
  tokens: 'tokens',
  samples: 'samples',
  eta: 'eta',
  lambda: 'lambda',
  gamma: 'gamma',
  precession: 'precession',
  steps: 'steps',
  'schedule.betaMin': 'beta-min',
  'schedule.betaMax': 'beta-max',
  schedule: 'schedule',
  integrator: 'integrator',
  readout: 'readout',
  readoutTemperature: 'readout-temperature',
  fieldScale: 'field-scale',
  seed: 'seed',
};

/** The prompts of --prompt / --prompts (one of them, non-empty). */
function promptsOf(args: SampleArgs): string[] {
  if (args.prompt === undefined && args.prompts === undefined) throw new UserError('E_ARG', 'give --prompt STR or --prompts FILE');
  if (args.prompt !== undefined && args.prompts !== undefined) throw new UserError('E_ARG', 'give either --prompt or --prompts, not both');
  if (args.prompts !== undefined) return readPromptRecords(args.prompts, { flag: '--prompts' }).map((r) => r.prompt);
  if (!promptTextSchema.safeParse(args.prompt).success) throw new UserError('E_INPUT', '--prompt is empty; give some text');
  return [args.prompt!];
}

/** The schedule from --schedule/--beta-min/--beta-max on top of `base`, or undefined when none is given. */
function scheduleFrom(args: SampleArgs, base: NoiseSchedule): NoiseSchedule | undefined {
  if (args.schedule === undefined && args['beta-min'] === undefined && args['beta-max'] === undefined) return undefined;
  return {
    kind: (args.schedule as ScheduleKind | undefined) ?? base.kind,
    betaMin: args['beta-min'] ?? base.betaMin,
    betaMax: args['beta-max'] ?? base.betaMax,
    T: base.T,
  };
}

/** The guided options of the flags (no model needed), validated by the option family's schema. */
function optionsOf(args: SampleArgs, prompts: string[], scheduleBase: NoiseSchedule): GuidedOptions {
  const o: GuidedOptions = {
    prompts,
    samples: args.samples,
    tokens: args.tokens,
    eta: args.eta,
    lambda: args.lambda,
    gamma: args.gamma,
    precession: args.precession !== undefined ? { kind: args.precession as 'none' } : undefined,
    steps: args.steps,
    schedule: scheduleFrom(args, scheduleBase),
    integrator: args.integrator as GuidedOptions['integrator'],
    fieldScale: args['field-scale'] as GuidedOptions['fieldScale'],
    readout: args.readout as GuidedOptions['readout'],
    readoutTemperature: args['readout-temperature'],
    seed: seedOf(args),
    truncate: args.truncate === 'left' ? 'left' : undefined,
  };
  for (const k of Object.keys(o) as (keyof GuidedOptions)[]) if (o[k] === undefined) delete o[k];
  parseFlags(guidedOptionsSchema, o as unknown as Record<string, unknown>, FLAG_OF);
  return o;
}

/** Flags that belong to spin diffusion only (refused with --space euclidean). */
const SPHERE_ONLY = ['eta', 'lambda', 'gamma', 'precession', 'schedule', 'beta-min', 'beta-max', 'field-scale'] as const;

/** `--space euclidean`: the Brownian VP-DDPM baseline (sampling/euclidean.ts); all checks before any work. */
async function runEuclideanSample(io: Io, args: SampleArgs, prompts: string[]): Promise<void> {
  if (args.score === undefined || args.score === 'none')
    throw new UserError('E_ARG', '--space euclidean needs --score DIR (a directory written by `spinbath train --space euclidean`)');
  for (const k of SPHERE_ONLY)
    if (args[k] !== undefined) throw new UserError('E_ARG', `--${k} applies to spin diffusion (--space sphere), not to the Euclidean DDPM; drop it`);
  const seed = seedOf(args);
  parseFlags(euclideanSampleSchema, { tokens: args.tokens, samples: args.samples, steps: args.steps, seed }, FLAG_OF);
  const { parseFieldSource, fieldSourceId } = await import('../../field/source.js');
  const source = parseFieldSource(args['field-source']);
  if (!source) throw new UserError('E_ARG', `--field-source: '${args['field-source']}' is not final, layer:L, head:L.H or heads:L.H+L.H`);
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const [{ loadEuclidModel }, { generateEuclidean }] = await Promise.all([import('../../score/euclid.js'), import('../../../sampling/euclidean.js')]);
  const ddpm = loadEuclidModel(args.score);
  try {
    const lm = await openModel(args, io);
    try {
      const rows = prompts.length * args.samples;
      const bar = args.json ? null : progressBar('sample', rows * args.tokens, args);
      let done = 0;
      const results = await generateEuclidean(lm, {
        prompts,
        samples: args.samples,
        tokens: args.tokens,
        steps: args.steps,
        ddpm,
        fieldSource: source,
        seed,
        truncate: args.truncate === 'left' ? 'left' : undefined,
        onToken: () => bar?.update(++done),
      });
      bar?.stop();
      if (args.out !== undefined) writeSamples(args.out, results);
      if (args.json) printJson(io, rows === 1 ? sampleJson(results[0], false) : results.map((r) => sampleJson(r, true)));
      else
        for (const r of results) io.out(rows > 1 ? `[prompt ${r.promptIndex + 1}, sample ${r.sample + 1}] ${r.prompt}${r.text}\n` : `${r.prompt}${r.text}\n`);
      if (!args.quiet && !args.json)
        io.err(
          `${rows} × ${args.tokens} tokens (Euclidean DDPM, K = ${args.steps}, field ${fieldSourceId(source)})${args.out !== undefined ? `; wrote ${args.out}` : ''}\n`,
        );
    } finally {
      lm.dispose();
    }
  } finally {
    ddpm.dispose();
  }
}

export async function runSample(io: Io, args: SampleArgs): Promise<void> {
  const prompts = promptsOf(args);
  if (args.space === 'euclidean') return runEuclideanSample(io, args, prompts);
  // the flags alone (against the generic default schedule: β checks need no model)
  optionsOf(args, prompts, defaultSchedule(2));
  const { parseFieldSource, fieldSourceId } = await import('../../field/source.js');
  const source = parseFieldSource(args['field-source']);
  if (!source) throw new UserError('E_ARG', `--field-source: '${args['field-source']}' is not final, layer:L, head:L.H or heads:L.H+L.H`);
  if (args.out !== undefined) checkOutFile(args.out);
  if (args.score !== undefined && args.score !== 'none') {
    const { resolveScoreDir } = await import('../../../sampling/score.js');
    resolveScoreDir(args.score);
  }

  await initBackend(args);
  const [{ generateGuided }, { openScore, scoreHashWarning }] = await Promise.all([
    import('../../../sampling/generate.js'),
    import('../../../sampling/score.js'),
  ]);
  const lm = await openModel(args, io);
  let score = null;
  try {
    score = await openScore(args.score, { embedded: !args.model, quiet: args.quiet || args.json, warn: (m) => io.err(`warning: ${m}\n`) });
    const hashWarning = score ? scoreHashWarning(score, lm.dir) : null;
    if (hashWarning && !args.quiet) io.err(`warning: ${hashWarning}\n`);
    const options = optionsOf(args, prompts, score?.meta.schedule ?? defaultSchedule(lm.model.dModel));
    const schedule = options.schedule;
    if (score && schedule && !args.quiet) {
      const m = score.meta.schedule;
      if (schedule.kind !== m.kind || schedule.betaMin !== m.betaMin || schedule.betaMax !== m.betaMax) {
        io.err(
          `warning: the score was trained on a ${m.kind} schedule β ${m.betaMin}→${m.betaMax}; sampling with ${schedule.kind} ${schedule.betaMin}→${schedule.betaMax}\n`,
        );
      }
    }
    const rows = prompts.length * args.samples;
    const stream = rows === 1 && !args.json;
    const bar = stream ? null : progressBar('sample', rows * args.tokens, args);
    let done = 0;
    let shown: string | null = null; // null until the first token: the prompt is echoed with it
    const results = await generateGuided(lm, {
      ...options,
      fieldSource: source,
      score,
      threads: args.threads,
      onToken: (e) => {
        bar?.update(++done);
        if (!stream) return;
        if (shown === null) {
          io.out(prompts[0]);
          shown = '';
        }
        const text = lm.tokenizer.decode(e.tokens);
        if (text.startsWith(shown) && !text.endsWith('\uFFFD')) {
          io.out(text.slice(shown.length));
          shown = text;
        }
      },
    });
    bar?.stop();
    if (stream) io.out((shown === null ? prompts[0] : '') + results[0].text.slice((shown ?? '').length) + '\n');
    if (args.out !== undefined) writeSamples(args.out, results);
    if (args.json) printJson(io, rows === 1 ? sampleJson(results[0], false) : results.map((r) => sampleJson(r, true)));
    else if (!stream) for (const r of results) io.out(`[prompt ${r.promptIndex + 1}, sample ${r.sample + 1}] ${r.prompt}${r.text}\n`);
    if (!args.quiet && !args.json) {
      const how = `${args.integrator}, K = ${args.steps}, field ${fieldSourceId(source)}, ${score ? 'learned residual score' : 'no score (pure η drift)'}`;
      io.err(`${rows} × ${args.tokens} tokens (${how})${args.out !== undefined ? `; wrote ${args.out}` : ''}\n`);
    }
    const failed = results.find((r) => r.error && !r.error.startsWith('not generated'));
    if (failed) throw new UserError('E_NUMERIC', `${failed.error} — stopped; the tokens generated before it are printed above`);
  } finally {
    score?.dispose();
    lm.dispose();
  }
}
