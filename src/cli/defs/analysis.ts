/**
 * The yargs definitions of `env`, `toy`, `heads`, `demo` and `logits`: flags, help text and a
 * handler that imports the command's implementation (src/cli/commands/*) only when it runs, so
 * `spinbath --help` loads no tensor, plot or tokenizer library. Each subcommand lists only its own
 * flags; every flag is checked where it is parsed (src/cli/args.ts).
 */
import type { Argv } from 'yargs';
import { PRESET_NAMES } from '../../toy/presets.js';
import { intOpt, numOpt, strOpt } from '../args.js';
import type { GlobalArgs, Io } from '../io.js';
import { engineOptions, modelOptions, type EngineArgs, type ModelArgs } from '../commands/model-args.js';

export const FIELD_MODE_CHOICES = ['residual', 'embedding'] as const;

export interface EnvArgs extends GlobalArgs, EngineArgs {
  out?: string;
}

export interface ToyArgs extends GlobalArgs {
  preset?: string;
  config?: string;
  prompt?: string;
  steps?: number;
  xi?: string;
  y?: number;
  out?: string;
}

export interface HeadsArgs extends ModelArgs {
  prompts?: string;
  mode: string;
  head?: string;
  heads?: string;
  'prompt-number'?: number;
  kind?: string;
  temps?: string;
  top?: number;
  out?: string;
}

export interface DemoArgs extends ModelArgs {
  prompts?: string;
  out?: string;
}

export interface LogitsArgs extends ModelArgs {
  text?: string;
  ids?: string;
  full: boolean;
  top: number;
  out?: string;
}

export function envDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'env',
      'print the engine (and whether ONNX Runtime loads: version, threads, execution providers), the tensor backend, SIMD/threads, the engine of each job and package versions',
      (yy) => engineOptions(yy).option('out', { type: 'string', coerce: strOpt('out'), describe: 'also write the report as JSON to this FILE' }),
      async (a) => (await import('../commands/env.js')).runEnv(io, a),
    );
}

const toySource = <T>(y: Argv<T>) =>
  y
    .option('preset', { type: 'string', choices: PRESET_NAMES, describe: "built-in bath (default: the figure's own)" })
    .option('config', { type: 'string', coerce: strOpt('config'), describe: 'a JSON toy bath (vocab, prompt, WQ/WK/WV, delta, xi, positional, slice)' })
    .option('prompt', { type: 'string', coerce: strOpt('prompt'), describe: 'comma-separated prompt tokens, e.g. A,C,B' })
    .option('steps', { type: 'number', coerce: intOpt('steps', 1, 100_000), describe: 'iterations (step 1 is the prompt itself)' })
    .option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR: also write the figure as NAME.json and NAME.svg into this directory' })
    .conflicts('preset', 'config');

export function toyDef(io: Io) {
  const run = (which: 'all' | 'attractor' | 'phase' | 'positional' | 'spectrum') => async (a: ToyArgs) =>
    (await import('../commands/toy.js')).runToy(io, which, a);
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command('toy', 'toy spin baths of Huo & Johnson: attractors, phase boundaries, bias and positional encoding (Figs. 2–4)', (yy) =>
      yy
        .command(
          '$0',
          'all four figures (JSON + SVG) into --out DIR',
          (c) => c.option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR for the figures (default spinbath-out/toy)' }),
          run('all'),
        )
        .command('attractor', 'greedy iteration and the attractor (Fig. 2)', (c) => toySource(c), run('attractor'))
        .command(
          'phase',
          'phase boundary in a 2-D slice, with bias ξδ (Figs. 3, 4a)',
          (c) => toySource(c).option('xi', { type: 'string', coerce: strOpt('xi'), describe: 'comma-separated bias strengths ξ, e.g. 0,0.025,0.05' }),
          run('phase'),
        )
        .command(
          'positional',
          'boundary rotation under positional encoding (Fig. 4b)',
          (c) => toySource(c).option('y', { type: 'number', coerce: numOpt('y', { min: 0, max: 1 }), describe: 'positional-encoding weight y ∈ [0, 1]' }),
          run('positional'),
        )
        .command('spectrum', 'symmetric/antisymmetric split and spectrum of W_eff', (c) => toySource(c), run('spectrum')),
    );
}

const headsCommon = <T>(y: Argv<T>) =>
  modelOptions(y)
    .option('prompts', {
      type: 'string',
      coerce: strOpt('prompts'),
      describe:
        'prompt set: JSON, JSONL or CSV with prompt, good, bad (default: configs/prompts/brown-pairs-200.json for the embedded model, factual-recall-20.json otherwise)',
    })
    .option('mode', {
      type: 'string',
      choices: FIELD_MODE_CHOICES,
      default: 'residual',
      describe: 'embedding: heads on raw token embeddings (BL Appendix D); residual: in situ',
    })
    .option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR for the output files (default spinbath-out/heads)' });

const promptNumber = <T>(y: Argv<T>) =>
  y.option('prompt-number', { type: 'number', default: 1, coerce: intOpt('prompt-number', 1), describe: 'which prompt of the set (numbered from 1)' });

export function headsDef(io: Io) {
  const run = (which: 'rank' | 'landscape' | 'ablate' | 'temperature') => async (a: HeadsArgs) => (await import('../commands/heads.js')).runHeads(io, which, a);
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command('heads', 'per-head context fields: rank heads by corr(ΔL_theory, ΔL_actual) (Bhattacharjee & Lee)', (yy) =>
      yy
        .command(
          '$0',
          'rank every head; write heads.json/.csv/.md and scatter SVGs into --out DIR',
          (c) =>
            headsCommon(c)
              .option('head', { type: 'string', coerce: strOpt('head'), describe: 'head for the scatter plot, e.g. 3.5 (default: the top-ranked head)' })
              .option('top', { type: 'number', default: 10, coerce: intOpt('top', 1), describe: 'heads to list' }),
          (a) => run('rank')(a),
        )
        .command(
          'landscape',
          'decision landscape of one head for one prompt (BL Fig. 2)',
          (c) => promptNumber(headsCommon(c)).option('head', { type: 'string', demandOption: true, coerce: strOpt('head'), describe: 'layer.head, e.g. 3.5' }),
          (a) => run('landscape')(a),
        )
        .command(
          'ablate',
          'ΔL_actual with heads ablated (BL Fig. 4)',
          (c) =>
            promptNumber(headsCommon(c))
              .option('heads', { type: 'string', demandOption: true, coerce: strOpt('heads'), describe: 'e.g. 3.5,0.0 (each alone) or 3.5+0.0 (together)' })
              .option('kind', { type: 'string', choices: ['zero', 'mean'] as const, default: 'zero', describe: 'zero or mean ablation' }),
          (a) => run('ablate')(a),
        )
        .command(
          'temperature',
          'mean next-token entropy and top-1 probability vs global temperature (BL Fig. 3)',
          (c) =>
            headsCommon(c).option('temps', {
              type: 'string',
              coerce: strOpt('temps'),
              describe: 'comma-separated temperatures > 0 (default 0.1..2.5 step 0.1)',
            }),
          (a) => run('temperature')(a),
        ),
    );
}

export function demoDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'demo',
      'the main job on the embedded Brown model: head analysis, landscape, ablation, temperature sweep, guided generation',
      (yy) =>
        modelOptions(yy)
          .option('prompts', { type: 'string', coerce: strOpt('prompts'), describe: 'prompt set (default: configs/prompts/brown-pairs-200.json)' })
          .option('out', { type: 'string', coerce: strOpt('out'), describe: 'DIR for every output (default spinbath-out/demo)' }),
      async (a) => (await import('../commands/demo.js')).runDemo(io, a),
    );
}

export function logitsDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'logits',
      'next-token logits of the final position for --text or --ids',
      (yy) =>
        modelOptions(yy)
          .option('text', { type: 'string', coerce: strOpt('text'), describe: 'input text (non-empty)' })
          .option('ids', { type: 'string', coerce: strOpt('ids'), describe: 'comma-separated token ids' })
          .option('full', { type: 'boolean', default: false, describe: 'also print every logit of the final position' })
          .option('top', { type: 'number', default: 10, coerce: intOpt('top', 1), describe: 'how many top tokens to list' })
          .option('out', { type: 'string', coerce: strOpt('out'), describe: 'also write the JSON result to this FILE' })
          .conflicts('text', 'ids'),
      async (a) => (await import('../commands/logits.js')).runLogits(io, a),
    );
}
