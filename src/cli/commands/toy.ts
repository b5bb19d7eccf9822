/**
 * `spinbath toy`: the toy spin baths of Huo & Johnson (2025), Figs. 2, 3, 4a, 4b, on presets or a
 * user's own JSON bath. Subcommands: attractor, phase, positional, spectrum; with none, all figures.
 * --out is a DIR (checked before any work). Flags and help: src/cli/defs/analysis.ts.
 */
import { join } from 'node:path';
import { parseNumberList, readJsonFile } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { atomicWrite, atomicWriteJson } from '../../io/atomic.js';
import { renderSvg, type VegaLiteSpec } from '../../plot/render.js';
import { parseToyConfig, type ToyConfig } from '../../toy/config.js';
import { attractorPlot, phasePlot, positionalPlot } from '../../toy/plots.js';
import { PRESET_NAMES, PRESETS } from '../../toy/presets.js';
import { runAttractor, runPhase, runPositional, runSpectrum } from '../../toy/run.js';
import { checkOutDir } from '../../io/output.js';
import type { ToyArgs } from '../defs/analysis.js';
import { initBackend, printJson, type Io } from '../io.js';

/** Resolve the bath from --config or --preset, then apply flag overrides; all validated. */
export function loadToyConfig(args: ToyArgs, defaultPreset: string): ToyConfig {
  let raw: Record<string, unknown>;
  let where: string;
  if (args.config) {
    raw = readJsonFile(args.config, 'toy config') as Record<string, unknown>;
    where = args.config;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError('E_INPUT', `${where}: a toy config is a JSON object`);
  } else {
    const name = args.preset ?? defaultPreset;
    if (!(name in PRESETS)) throw new UserError('E_ARG', `unknown preset '${name}'; choose one of ${PRESET_NAMES.join(', ')} or pass --config FILE`);
    raw = structuredClone(PRESETS[name]) as Record<string, unknown>;
    where = `preset ${name}`;
  }
  if (args.prompt !== undefined)
    raw.prompt = String(args.prompt)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  if (args.steps !== undefined) raw.steps = args.steps;
  if (args.xi !== undefined) raw.xi = parseNumberList(args.xi, 'xi');
  if (args.y !== undefined) {
    raw.positional = { ...((raw.positional as object) ?? {}), y: args.y };
  }
  return parseToyConfig(raw, where);
}

const axes = (c: ToyConfig) => {
  if (!c.slice) throw new UserError('E_INPUT', 'this figure needs a "slice" (origin, u, v) and a "bad" token in the config');
  return c.slice;
};

async function emit(io: Io, args: { out?: string }, name: string, json: unknown, svg: VegaLiteSpec | null): Promise<string[]> {
  const files: string[] = [];
  if (args.out) {
    const svgText = svg ? await renderSvg(svg) : null;
    atomicWriteJson(join(args.out, `${name}.json`), json);
    files.push(join(args.out, `${name}.json`));
    if (svgText) {
      atomicWrite(join(args.out, `${name}.svg`), svgText);
      files.push(join(args.out, `${name}.svg`));
    }
  }
  return files;
}

async function attractor(io: Io, args: ToyArgs) {
  const cfg = loadToyConfig(args, 'fig2');
  const rep = runAttractor(cfg);
  const ref = cfg.projectionToken ?? cfg.tokens[0];
  const its = [1, rep.steps.length].filter((v, i, a) => a.indexOf(v) === i);
  const files = await emit(io, args, 'attractor', rep, attractorPlot(rep, cfg.vocab, ref, its));
  if (args.json) return printJson(io, rep);
  for (const [i, s] of rep.steps.entries()) {
    io.out(`step ${i + 1}  ${s.sequence.join(' ')}  → ${s.next}   cos(${s.next}, N) = ${s.cosines[s.next].toFixed(5)}\n`);
  }
  files.forEach((f) => io.out(`wrote ${f}\n`));
}

async function phase(io: Io, args: ToyArgs) {
  const cfg = loadToyConfig(args, 'fig4a');
  const rep = runPhase(cfg);
  const ax = axes(cfg);
  const files = await emit(io, args, 'phase', rep, phasePlot(rep, ax, cfg.bad!, `Phase boundary for "${cfg.prompt.join(' ')}" (Huo & Johnson Figs. 3–4a)`));
  if (args.json) return printJson(io, rep);
  for (const b of rep.boundaries) {
    const l = b.exact.line;
    io.out(
      `ξ = ${b.xi}: boundary ${l.a.toFixed(4)}·${ax.uLabel} + ${l.b.toFixed(4)}·${ax.vLabel} = ${l.c.toFixed(4)}; ${cfg.bad} is ${b.exact.badDistance > 0 ? 'CHOSEN' : 'not chosen'} (signed distance ${b.exact.badDistance.toFixed(4)})\n`,
    );
  }
  files.forEach((f) => io.out(`wrote ${f}\n`));
}

async function positional(io: Io, args: ToyArgs) {
  const cfg = loadToyConfig(args, 'fig4b');
  const rep = runPositional(cfg);
  const files = await emit(io, args, 'positional', rep, positionalPlot(rep, axes(cfg), cfg.bad!));
  if (args.json) return printJson(io, rep);
  io.out(`generated: ${rep.generated.join(' ')}\n`);
  io.out(
    rep.switchIteration
      ? `${cfg.bad} becomes the attractor at iteration ${rep.switchIteration}\n`
      : `${cfg.bad} is never generated in ${rep.generated.length} iterations\n`,
  );
  files.forEach((f) => io.out(`wrote ${f}\n`));
}

async function spectrum(io: Io, args: ToyArgs) {
  const cfg = loadToyConfig(args, 'fig2');
  const rep = runSpectrum(cfg);
  await emit(io, args, 'spectrum', rep, null);
  if (args.json) return printJson(io, rep);
  io.out(`symmetric eigenvalues:      ${rep.symmetricEigenvalues.map((x) => x.toFixed(4)).join(' ')}\n`);
  io.out(`antisymmetric frequencies:  ${rep.antisymmetricFrequencies.map((x) => x.toFixed(4)).join(' ')}\n`);
  io.out(`singular values:            ${rep.singularValues.map((x) => x.toFixed(4)).join(' ')}\n`);
}

/** All four figures into --out (default spinbath-out/toy). */
async function all(io: Io, args: ToyArgs) {
  const out = args.out ?? join('spinbath-out', 'toy');
  const base = { ...args, out: undefined, config: undefined, preset: undefined };
  const fig2 = loadToyConfig({ ...base, preset: 'fig2' }, 'fig2');
  const fig3 = loadToyConfig({ ...base, preset: 'fig3' }, 'fig3');
  const fig4a = loadToyConfig({ ...base, preset: 'fig4a' }, 'fig4a');
  const fig4b = loadToyConfig({ ...base, preset: 'fig4b' }, 'fig4b');
  const r2 = runAttractor(fig2);
  const r3 = runPhase(fig3);
  const r4a = runPhase(fig4a);
  const r4b = runPositional(fig4b);
  const o = { ...args, out };
  const files = [
    ...(await emit(io, o, 'fig2-attractor', r2, attractorPlot(r2, fig2.vocab, 'A', [1, r2.steps.length]))),
    ...(await emit(io, o, 'fig3-phase', r3, phasePlot(r3, axes(fig3), 'EVIL', 'GOOD/EVIL phase diagram (Huo & Johnson Fig. 3)'))),
    ...(await emit(io, o, 'fig4a-bias', r4a, phasePlot(r4a, axes(fig4a), 'EVIL', 'Boundary rotation by a bias ξδ (Huo & Johnson Fig. 4a)'))),
    ...(await emit(io, o, 'fig4b-positional', r4b, positionalPlot(r4b, axes(fig4b), 'EVIL'))),
  ];
  const summary = {
    fig2: { generated: r2.steps.map((s) => s.next), cosD: r2.steps.map((s) => s.cosines.D) },
    fig3: { evilChosen: r3.boundaries[0].exact.badDistance > 0, evilDistance: r3.boundaries[0].exact.badDistance },
    fig4a: r4a.boundaries.map((b) => ({
      xi: b.xi,
      evilDistance: b.exact.badDistance,
      firstOrderEvilDistance: b.firstOrder?.badDistance ?? b.exact.badDistance,
    })),
    fig4b: { switchIteration: r4b.switchIteration, generated: r4b.generated.join(' ') },
    files,
  };
  if (args.json) return printJson(io, summary);
  io.out(`Fig. 2  ACB → ${summary.fig2.generated.join(' ')}; cos(D, N) = ${summary.fig2.cosD.map((c) => c.toFixed(4)).join(' → ')}\n`);
  io.out(
    `Fig. 3  EVIL at (0.4, 0.15, 0.4) is ${summary.fig3.evilChosen ? 'on the EVIL side' : 'on the GOOD side'} (distance ${summary.fig3.evilDistance.toFixed(4)})\n`,
  );
  io.out(`Fig. 4a ${summary.fig4a.map((b) => `ξ=${b.xi}: d=${b.evilDistance.toFixed(4)}`).join(', ')}\n`);
  io.out(`Fig. 4b ${r4b.switchIteration ? `GOOD until iteration ${r4b.switchIteration - 1}, then EVIL` : 'no switch'}\n`);
  files.forEach((f) => io.out(`wrote ${f}\n`));
}

const RUNS = { all, attractor, phase, positional, spectrum };

/** Run `spinbath toy [figure]` (the default: all four figures). */
export async function runToy(io: Io, which: keyof typeof RUNS, args: ToyArgs): Promise<void> {
  if (args.out !== undefined) checkOutDir(args.out);
  else if (which === 'all') checkOutDir(join('spinbath-out', 'toy'));
  if (which !== 'all') loadToyConfig(args, which === 'phase' ? 'fig4a' : which === 'positional' ? 'fig4b' : 'fig2'); // bad input fails before the backend starts
  await initBackend(args);
  await RUNS[which](io, args);
}
