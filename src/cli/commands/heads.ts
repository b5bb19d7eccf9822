/**
 * `spinbath heads`: the GPT-2 head analysis of Bhattacharjee & Lee. Ranks every head by the
 * correlation of its ΔL_theory with the model's ΔL_actual (JSON, CSV, markdown, scatter SVG), and
 * subcommands for the decision landscape of one head, head ablations and the temperature sweep.
 */
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { parseNumberList } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { FIELD_MODES, type FieldMode } from '../../field/extract.js';
import { ablationEffects, analyzeHeads, decisionLandscape, temperatureSweep, type HeadAnalysis } from '../../field/heads.js';
import { ablationPlot, landscapePlot, scatterPlot, temperaturePlot } from '../../field/plots.js';
import { encodePrompts, readPromptFile, type EncodedPrompt } from '../../field/prompts.js';
import { atomicWrite, atomicWriteJson } from '../../io/atomic.js';
import { packageRoot } from '../../model/tokenizer.js';
import { renderSvg } from '../svg.js';
import { initBackend, printJson, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { modelOptions, openModel, parseHead, type ModelArgs } from './model-args.js';

interface HeadsArgs extends ModelArgs {
  prompts?: string;
  mode: FieldMode;
  head?: string;
  heads?: string;
  'prompt-index': number;
  kind: 'zero' | 'mean';
  temps?: string;
  top: number;
}

export function defaultPromptFile(model?: string): string {
  return join(packageRoot(), 'configs', 'prompts', model ? 'factual-recall-20.json' : 'brown-pairs-200.json');
}

/** The five files of the main analysis, rendered before anything is written. */
export async function analysisFiles(a: HeadAnalysis, headIdx: number): Promise<[string, string][]> {
  const h = a.heads[headIdx];
  const csv = ['layer,head,r,p,r_ln,p_ln', ...a.heads.map((x) => [x.layer, x.head, x.r, x.p, x.r_ln, x.p_ln].join(','))].join('\n') + '\n';
  const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));
  const md = [
    `| rank | head | r | r² | p | r (LN-scaled) |`,
    `|---:|---|---:|---:|---:|---:|`,
    ...a.heads.map((x, i) => `| ${i + 1} | L${x.layer}H${x.head} | ${fmt(x.r)} | ${fmt(x.r * x.r)} | ${Number.isNaN(x.p) ? 'n/a' : x.p.toExponential(2)} | ${fmt(x.r_ln)} |`),
  ].join('\n') + '\n';
  return [
    ['heads.json', JSON.stringify(a, null, 2) + '\n'],
    ['heads.csv', csv],
    ['heads.md', md],
    [`scatter-L${h.layer}H${h.head}.svg`, await renderSvg(scatterPlot(a, h))],
    [`scatter-L${h.layer}H${h.head}-ln.svg`, await renderSvg(scatterPlot(a, h, true))],
  ];
}

export function writeAll(out: string, files: [string, string][]): string[] {
  return files.map(([name, text]) => {
    atomicWrite(join(out, name), text);
    return join(out, name);
  });
}

async function prepare(io: Io, args: HeadsArgs) {
  await initBackend(args);
  const promptFile = args.prompts ?? defaultPromptFile(args.model);
  const pairs = readPromptFile(promptFile);
  const lm = await openModel(args, io);
  let encoded: EncodedPrompt[];
  try {
    encoded = encodePrompts(lm.tokenizer, pairs, { nPositions: lm.model.nPositions, vocab: lm.model.vocab, truncateLeft: args.truncate === 'left' });
  } catch (e) {
    lm.dispose();
    throw e;
  }
  return { lm, encoded, promptFile };
}

function warn(io: Io, args: HeadsArgs, encoded: EncodedPrompt[]) {
  if (args.quiet) return;
  for (const p of encoded) for (const w of p.warnings) io.err(`warning: ${w}\n`);
}

async function main(io: Io, args: HeadsArgs) {
  const { lm, encoded } = await prepare(io, args);
  try {
    warn(io, args, encoded);
    const bar = progressBar(`heads (${args.mode})`, encoded.length, args);
    const { analysis } = await analyzeHeads(lm.model, encoded, args.mode, { onPrompt: (d) => bar.update(d) });
    bar.stop();
    let idx = 0;
    if (args.head) {
      const h = parseHead(args.head, lm.model.nLayer, lm.model.nHead);
      idx = analysis.heads.findIndex((x) => x.layer === h.layer && x.head === h.head);
    }
    const out = args.out ?? join('spinbath-out', 'heads');
    const files = writeAll(out, await analysisFiles(analysis, idx));
    if (args.json) return printJson(io, analysis);
    io.out(`${analysis.prompts.length} prompts, ${analysis.heads.length} heads, mode ${analysis.mode}; top ${Math.min(args.top, analysis.heads.length)} by |r|:\n`);
    for (const h of analysis.heads.slice(0, args.top)) io.out(`  L${h.layer}H${h.head}  r = ${h.r.toFixed(3)}  p = ${h.p.toExponential(2)}  (LN-scaled r = ${h.r_ln.toFixed(3)})\n`);
    files.forEach((f) => io.out(`wrote ${f}\n`));
  } finally {
    lm.dispose();
  }
}

function pickPrompt(encoded: EncodedPrompt[], i: number): EncodedPrompt {
  if (!Number.isInteger(i) || i < 0 || i >= encoded.length) throw new UserError('E_ARG', `--prompt-index ${i} is out of range; the prompt file has ${encoded.length} prompts (0-based)`);
  return encoded[i];
}

async function landscape(io: Io, args: HeadsArgs) {
  const { lm, encoded } = await prepare(io, args);
  try {
    const h = parseHead(args.head ?? '0.0', lm.model.nLayer, lm.model.nHead);
    const p = pickPrompt(encoded, args['prompt-index']);
    const ls = await decisionLandscape(lm.model, p, h.layer, h.head, args.mode);
    const out = args.out ?? join('spinbath-out', 'heads');
    const name = `landscape-L${h.layer}H${h.head}-p${args['prompt-index']}`;
    const svg = await renderSvg(landscapePlot(ls, p.good, p.bad, p.prompt));
    atomicWriteJson(join(out, `${name}.json`), ls);
    atomicWrite(join(out, `${name}.svg`), svg);
    if (args.json) return printJson(io, ls);
    io.out(`L${h.layer}H${h.head} on "${p.prompt}": ΔL_theory = ${ls.gap.toFixed(4)} (${ls.gap < 0 ? 'favours ' + p.bad : 'favours ' + p.good})\nwrote ${join(out, name)}.{json,svg}\n`);
  } finally {
    lm.dispose();
  }
}

async function ablate(io: Io, args: HeadsArgs) {
  const { lm, encoded } = await prepare(io, args);
  try {
    if (!args.heads) throw new UserError('E_ARG', '--heads is required: comma-separated heads such as 3.5,0.0 (join with + to ablate together: 3.5+0.0)');
    const sets = args.heads.split(',').map((grp) => grp.split('+').map((s) => parseHead(s, lm.model.nLayer, lm.model.nHead, 'heads')));
    const p = pickPrompt(encoded, args['prompt-index']);
    const effects = await ablationEffects(lm.model, p, sets, args.kind);
    const out = args.out ?? join('spinbath-out', 'heads');
    const svg = await renderSvg(ablationPlot(effects, p.prompt));
    const result = { prompt: p.prompt, good: p.good, bad: p.bad, kind: args.kind, effects };
    atomicWriteJson(join(out, 'ablation.json'), result);
    atomicWrite(join(out, 'ablation.svg'), svg);
    if (args.json) return printJson(io, result);
    for (const e of effects) io.out(`${e.label.padEnd(16)} ΔL_actual = ${e.actual.toFixed(4)}  (change ${e.delta >= 0 ? '+' : ''}${e.delta.toFixed(4)})\n`);
    io.out(`wrote ${join(out, 'ablation')}.{json,svg}\n`);
  } finally {
    lm.dispose();
  }
}

async function temperature(io: Io, args: HeadsArgs) {
  const temps = args.temps ? parseNumberList(args.temps, 'temps') : Array.from({ length: 25 }, (_, i) => +(0.1 + i * 0.1).toFixed(2));
  if (temps.some((t) => t <= 0)) throw new UserError('E_ARG', '--temps: every temperature must be > 0');
  const { lm, encoded } = await prepare(io, args);
  try {
    const { logits } = await analyzeHeads(lm.model, encoded, 'residual', { keepLogits: true });
    const rows = temperatureSweep(logits, temps);
    const out = args.out ?? join('spinbath-out', 'heads');
    const svg = await renderSvg(temperaturePlot(rows));
    atomicWriteJson(join(out, 'temperature.json'), rows);
    atomicWrite(join(out, 'temperature.svg'), svg);
    if (args.json) return printJson(io, rows);
    for (const r of rows) io.out(`T = ${r.T.toFixed(2)}  entropy ${r.entropy_bits.toFixed(3)} bits  top-1 ${r.top1.toFixed(4)}\n`);
    io.out(`wrote ${join(out, 'temperature')}.{json,svg}\n`);
  } finally {
    lm.dispose();
  }
}

const common = (y: Argv) =>
  modelOptions(y)
    .option('prompts', { type: 'string', describe: 'prompt set, JSON or CSV with prompt, good, bad (default: configs/prompts/brown-pairs-200.json for the embedded model, factual-recall-20.json otherwise)' })
    .option('mode', { type: 'string', choices: FIELD_MODES as unknown as string[], default: 'residual', describe: 'embedding: heads on raw token embeddings (BL Appendix D); residual: in situ' })
    .option('prompt-index', { type: 'number', default: 0, describe: 'which prompt (0-based) for landscape/ablate' })
    .option('top', { type: 'number', default: 10, describe: 'heads to list' });

export function headsCommand(io: Io) {
  const wrap = (fn: (io: Io, a: HeadsArgs) => Promise<void>) => (a: HeadsArgs) => fn(io, a);
  return {
    command: 'heads',
    describe: 'per-head context fields: rank heads by corr(ΔL_theory, ΔL_actual) (Bhattacharjee & Lee)',
    builder: (y: Argv) =>
      common(y)
        .option('head', { type: 'string', describe: 'head for the scatter plot / landscape, e.g. 3.5 (default: the top-ranked head)' })
        .command('landscape', 'decision landscape of one head for one prompt (BL Fig. 2)', (yy: Argv) => common(yy).option('head', { type: 'string', demandOption: true, describe: 'layer.head' }), wrap(landscape) as never)
        .command('ablate', 'ΔL_actual with heads ablated (BL Fig. 4)', (yy: Argv) => common(yy).option('heads', { type: 'string', describe: 'e.g. 3.5,0.0 (each alone) or 3.5+0.0 (together)' }).option('kind', { type: 'string', choices: ['zero', 'mean'], default: 'zero' }), wrap(ablate) as never)
        .command('temperature', 'mean next-token entropy and top-1 probability vs global temperature (BL Fig. 3)', (yy: Argv) => common(yy).option('temps', { type: 'string', describe: 'comma-separated temperatures (default 0.1..2.5 step 0.1)' }), wrap(temperature) as never),
    handler: wrap(main),
  };
}
