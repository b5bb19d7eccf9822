/**
 * The demo as a library function: on a loaded model, the head analysis (BL) in both modes, the
 * decision landscape of the top head, ablation of the top heads and the global temperature sweep
 * (BL Figs. 2–4), then a guided generation (BL Eq. 14, attention-guided spin diffusion with the
 * score given) next to greedy decoding on the same prompt. Returns the summary and every output
 * file in memory ([relative path, text]); the caller writes them (the CLI: `spinbath demo`).
 */
import { join } from 'node:path';
import { ablationEffects, analyzeHeads, decisionLandscape, temperatureSweep } from '../src/field/heads.js';
import { ablationPlot, landscapePlot, temperaturePlot } from '../src/field/plots.js';
import type { EncodedPrompt } from '../src/field/prompts.js';
import { analysisFiles } from '../src/field/report.js';
import type { LoadedModel } from '../src/model/load.js';
import { renderSvg } from '../src/plot/render.js';
import type { ScoreModel } from '../src/score/contract.js';
import { generateBaseline } from './baselines.js';
import { generateGuided } from './generate.js';

/** Guidance strength of the demo's guided generation: the default sweep's best evaluator perplexity without loops (README). */
export const DEMO_ETA = 2;
/** Reverse steps per token and new tokens of the demo's generations. */
export const DEMO_STEPS = 50;
export const DEMO_TOKENS = 24;

export interface DemoOptions {
  /** The encoded prompt set (prompt 1 drives the landscape, ablation and generation). */
  prompts: EncodedPrompt[];
  /** Residual score for the guided generation (null: pure η-guided drift). */
  score: ScoreModel | null;
  seed: number;
  /** Called after each prompt of each head-analysis mode. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface DemoResult {
  summary: Record<string, unknown>;
  /** Output files as [path relative to the output directory, text]. */
  files: [string, string][];
  generation: { prompt: string; guided: string; greedy: string; eta: number; steps: number; score: boolean };
  temperature: { T: number; entropy_bits: number; top1: number }[];
}

/** Run the demo pipeline on `lm` (see the file comment). */
export async function runDemo(lm: LoadedModel, o: DemoOptions): Promise<DemoResult> {
  const { prompts } = o;
  const files: [string, string][] = [];
  const summary: Record<string, unknown> = { model: lm.dir, engine: lm.engine, prompts: prompts.length };
  let logits: Float32Array[] = [];
  for (const mode of ['residual', 'embedding'] as const) {
    const r = await analyzeHeads(lm.model, prompts, mode, {
      keepLogits: mode === 'residual',
      onPrompt: (d) => o.onProgress?.(`heads (${mode})`, d, prompts.length),
    });
    if (mode === 'residual') logits = r.logits;
    for (const [name, text] of await analysisFiles(r.analysis, 0)) files.push([join(`heads-${mode}`, name), text]);
    summary[mode] = r.analysis.heads.slice(0, 5).map((h) => ({ head: `L${h.layer}H${h.head}`, r: h.r, p: h.p }));
    if (mode === 'residual') {
      const top = r.analysis.heads.slice(0, 3);
      const ls = await decisionLandscape(lm.model, prompts[0], top[0].layer, top[0].head, mode);
      files.push([`landscape-L${ls.layer}H${ls.head}-p1.svg`, await renderSvg(landscapePlot(ls, prompts[0].good, prompts[0].bad, prompts[0].prompt))]);
      const effects = await ablationEffects(
        lm.model,
        prompts[0],
        top.map((h) => [{ layer: h.layer, head: h.head }]),
      );
      files.push(['ablation.svg', await renderSvg(ablationPlot(effects, prompts[0].prompt))], ['ablation.json', JSON.stringify(effects, null, 2) + '\n']);
      summary.ablation = effects.map((e) => ({ heads: e.label, actual: e.actual }));
    }
  }
  const temps = Array.from({ length: 25 }, (_, i) => +(0.1 + i * 0.1).toFixed(2));
  const sweep = temperatureSweep(logits, temps);
  files.push(['temperature.svg', await renderSvg(temperaturePlot(sweep))], ['temperature.json', JSON.stringify(sweep, null, 2) + '\n']);
  summary.temperature = { T01: sweep[0], T10: sweep[9], T25: sweep[24] };
  const prompt = prompts[0].prompt;
  const guided = await generateGuided(lm, { prompts: [prompt], tokens: DEMO_TOKENS, steps: DEMO_STEPS, score: o.score, eta: DEMO_ETA, seed: o.seed });
  const greedy = await generateBaseline(lm, { method: 'greedy', prompts: [prompt], tokens: DEMO_TOKENS, seed: o.seed });
  const generation = {
    prompt,
    guided: guided[0].text,
    greedy: greedy[0].text,
    guided_tokens: guided[0].tokens,
    greedy_tokens: greedy[0].tokens,
    score: o.score ? 'residual score' : 'none',
    eta: DEMO_ETA,
    steps: DEMO_STEPS,
  };
  files.push(['generation.json', JSON.stringify(generation, null, 2) + '\n']);
  summary.generation = { guided: generation.guided, greedy: generation.greedy };
  return {
    summary,
    files,
    generation: { prompt, guided: generation.guided, greedy: generation.greedy, eta: DEMO_ETA, steps: DEMO_STEPS, score: o.score !== null },
    temperature: sweep,
  };
}
