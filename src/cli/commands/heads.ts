/**
 * `spinbath heads`: the GPT-2 head analysis of Bhattacharjee & Lee. Ranks every head by the
 * correlation of its ΔL_theory with the model's ΔL_actual (JSON, CSV, markdown, scatter SVG), and
 * subcommands for the decision landscape of one head, head ablations and the temperature sweep.
 */
import { join } from 'node:path';
import { parseNumberList } from '../../config/load.js';
import { UserError } from '../../errors.js';
import type { FieldMode } from '../../field/extract.js';
import { ablationEffects, analyzeHeads, decisionLandscape, temperatureSweep } from '../../field/heads.js';
import { ablationPlot, landscapePlot, temperaturePlot } from '../../field/plots.js';
import { analysisFiles } from '../../field/report.js';
import { defaultPromptFile, encodePrompts, readPromptFile, type EncodedPrompt } from '../../field/prompts.js';
import { atomicWrite, atomicWriteJson, writeFilesAtomic } from '../../io/atomic.js';
import { checkOutDir } from '../../io/output.js';
import { renderSvg } from '../../plot/render.js';
import type { HeadsArgs } from '../defs/analysis.js';
import { initBackend, printJson, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { openModel, parseHead } from './model-args.js';

const writeAll = writeFilesAtomic;

/** --prompt-number (from 1; landscape and ablate). */
const promptNumber = (args: HeadsArgs): number => args['prompt-number'] ?? 1;

async function prepare(io: Io, args: HeadsArgs) {
  const promptFile = args.prompts ?? defaultPromptFile(args.model);
  const pairs = readPromptFile(promptFile);
  if (promptNumber(args) > pairs.length)
    throw new UserError('E_ARG', `--prompt-number ${promptNumber(args)} is out of range; the prompt file has ${pairs.length} prompts (numbered from 1)`);
  await initBackend(args);
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
    const { analysis } = await analyzeHeads(lm.model, encoded, args.mode as FieldMode, { onPrompt: (d) => bar.update(d) });
    bar.stop();
    let idx = 0;
    if (args.head) {
      const h = parseHead(args.head, lm.model.nLayer, lm.model.nHead);
      idx = analysis.heads.findIndex((x) => x.layer === h.layer && x.head === h.head);
    }
    const out = args.out ?? join('spinbath-out', 'heads');
    const files = writeAll(out, await analysisFiles(analysis, idx));
    if (args.json) return printJson(io, analysis);
    io.out(
      `${analysis.prompts.length} prompts, ${analysis.heads.length} heads, mode ${analysis.mode}; top ${Math.min(args.top ?? 10, analysis.heads.length)} by |r|:\n`,
    );
    for (const h of analysis.heads.slice(0, args.top ?? 10))
      io.out(`  L${h.layer}H${h.head}  r = ${h.r.toFixed(3)}  p = ${h.p.toExponential(2)}  (LN-scaled r = ${h.r_ln.toFixed(3)})\n`);
    files.forEach((f) => io.out(`wrote ${f}\n`));
  } finally {
    lm.dispose();
  }
}

/** The prompt numbered `n` (from 1). */
function pickPrompt(encoded: EncodedPrompt[], n: number): EncodedPrompt {
  if (!Number.isInteger(n) || n < 1 || n > encoded.length)
    throw new UserError('E_ARG', `--prompt-number ${n} is out of range; the prompt file has ${encoded.length} prompts (numbered from 1)`);
  return encoded[n - 1];
}

async function landscape(io: Io, args: HeadsArgs) {
  const { lm, encoded } = await prepare(io, args);
  try {
    const h = parseHead(args.head ?? '0.0', lm.model.nLayer, lm.model.nHead);
    const p = pickPrompt(encoded, promptNumber(args));
    const ls = await decisionLandscape(lm.model, p, h.layer, h.head, args.mode as FieldMode);
    const out = args.out ?? join('spinbath-out', 'heads');
    const name = `landscape-L${h.layer}H${h.head}-p${promptNumber(args)}`;
    const svg = await renderSvg(landscapePlot(ls, p.good, p.bad, p.prompt));
    atomicWriteJson(join(out, `${name}.json`), ls);
    atomicWrite(join(out, `${name}.svg`), svg);
    if (args.json) return printJson(io, ls);
    io.out(
      `L${h.layer}H${h.head} on "${p.prompt}": ΔL_theory = ${ls.gap.toFixed(4)} (${ls.gap < 0 ? 'favours ' + p.bad : 'favours ' + p.good})\nwrote ${join(out, name)}.{json,svg}\n`,
    );
  } finally {
    lm.dispose();
  }
}

async function ablate(io: Io, args: HeadsArgs) {
  const { lm, encoded } = await prepare(io, args);
  try {
    const sets = (args.heads ?? '').split(',').map((grp) => grp.split('+').map((s) => parseHead(s, lm.model.nLayer, lm.model.nHead, 'heads')));
    const p = pickPrompt(encoded, promptNumber(args));
    const effects = await ablationEffects(lm.model, p, sets, (args.kind ?? 'zero') as 'zero' | 'mean');
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
  const temps = temperatures(args);
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

/** --temps: finite temperatures > 0 (default 0.1, 0.2, …, 2.5). */
function temperatures(args: HeadsArgs): number[] {
  const temps = args.temps !== undefined ? parseNumberList(args.temps, 'temps') : Array.from({ length: 25 }, (_, i) => +(0.1 + i * 0.1).toFixed(2));
  if (temps.some((t) => t <= 0)) throw new UserError('E_ARG', '--temps: every temperature must be > 0');
  return temps;
}

const RUNS = { rank: main, landscape, ablate, temperature };

/** Run `spinbath heads [landscape|ablate|temperature]`; --out DIR is checked before any work. */
export async function runHeads(io: Io, which: keyof typeof RUNS, args: HeadsArgs): Promise<void> {
  checkOutDir(args.out ?? join('spinbath-out', 'heads'));
  if (which === 'temperature') temperatures(args);
  if (which === 'ablate' && (args.heads ?? '').trim() === '')
    throw new UserError('E_ARG', '--heads is empty: give comma-separated heads such as 3.5,0.0 (join with + to ablate together: 3.5+0.0)');
  await RUNS[which](io, args);
}
