/**
 * `spinbath demo`: the main job on the embedded default. Loads the Brown model that spinbath
 * trained, runs the head analysis on the Brown prompt set in both modes, draws the decision
 * landscape of the top head, ablates the top heads, sweeps the global temperature, ends with a
 * guided generation (attention-guided spin diffusion with the shipped residual score) next to
 * greedy decoding on the same prompt, and says where every output went.
 */
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { ablationEffects, analyzeHeads, decisionLandscape, temperatureSweep } from '../../field/heads.js';
import { ablationPlot, landscapePlot, temperaturePlot } from '../../field/plots.js';
import { encodePrompts, readPromptFile } from '../../field/prompts.js';
import { renderSvg } from '../svg.js';
import { generateBaseline } from '../../../sampling/baselines.js';
import { generateGuided } from '../../../sampling/generate.js';
import { openScore } from '../../../sampling/score.js';
import { initBackend, printJson, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { analysisFiles, defaultPromptFile, writeAll } from './heads.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

/** Guidance strength of the demo's guided generation. */
const DEMO_ETA = 2;

interface DemoArgs extends ModelArgs {
  prompts?: string;
}

export function demoCommand(io: Io) {
  return {
    command: 'demo',
    describe: 'the main job on the embedded Brown model: head analysis, landscape, ablation, temperature sweep, guided generation',
    builder: (y: Argv) => modelOptions(y).option('prompts', { type: 'string', describe: 'prompt set (default: configs/prompts/brown-pairs-200.json)' }),
    handler: async (args: DemoArgs) => {
      const t0 = Date.now();
      await initBackend(args);
      const out = args.out ?? join('spinbath-out', 'demo');
      const lm = await openModel(args, io);
      try {
        const pairs = readPromptFile(args.prompts ?? defaultPromptFile(args.model));
        const prompts = encodePrompts(lm.tokenizer, pairs, { nPositions: lm.model.nPositions, vocab: lm.model.vocab, truncateLeft: true });
        const files: [string, string][] = [];
        const summary: Record<string, unknown> = { model: lm.dir, engine: lm.engine, prompts: prompts.length };
        let logits: Float32Array[] = [];
        for (const mode of ['residual', 'embedding'] as const) {
          const bar = progressBar(`heads (${mode})`, prompts.length, args);
          const r = await analyzeHeads(lm.model, prompts, mode, { keepLogits: mode === 'residual', onPrompt: (d) => bar.update(d) });
          bar.stop();
          if (mode === 'residual') logits = r.logits;
          for (const [name, text] of await analysisFiles(r.analysis, 0)) files.push([join(`heads-${mode}`, name), text]);
          summary[mode] = r.analysis.heads.slice(0, 5).map((h) => ({ head: `L${h.layer}H${h.head}`, r: h.r, p: h.p }));
          if (mode === 'residual') {
            const top = r.analysis.heads.slice(0, 3);
            const ls = await decisionLandscape(lm.model, prompts[0], top[0].layer, top[0].head, mode);
            files.push([`landscape-L${ls.layer}H${ls.head}-p0.svg`, await renderSvg(landscapePlot(ls, prompts[0].good, prompts[0].bad, prompts[0].prompt))]);
            const effects = await ablationEffects(lm.model, prompts[0], top.map((h) => [{ layer: h.layer, head: h.head }]));
            files.push(['ablation.svg', await renderSvg(ablationPlot(effects, prompts[0].prompt))], ['ablation.json', JSON.stringify(effects, null, 2) + '\n']);
            summary.ablation = effects.map((e) => ({ heads: e.label, actual: e.actual }));
          }
        }
        const temps = Array.from({ length: 25 }, (_, i) => +(0.1 + i * 0.1).toFixed(2));
        const sweep = temperatureSweep(logits, temps);
        files.push(['temperature.svg', await renderSvg(temperaturePlot(sweep))], ['temperature.json', JSON.stringify(sweep, null, 2) + '\n']);
        summary.temperature = { T01: sweep[0], T10: sweep[9], T25: sweep[24] };
        // Guided generation on a Brown prompt, next to greedy decoding. η = 2: the default sweep's
        // best evaluator perplexity without loops (README, "Guided diffusion against attention baselines").
        const prompt = prompts[0].prompt;
        const score = await openScore(undefined, { embedded: args.model === undefined, quiet: true });
        const eta = DEMO_ETA;
        const guided = await generateGuided(lm, { prompts: [prompt], tokens: 24, steps: 50, score, eta, seed: args.seed });
        score?.dispose();
        const greedy = await generateBaseline(lm, { method: 'greedy', prompts: [prompt], tokens: 24, seed: args.seed });
        const generation = { prompt, guided: guided[0].text, greedy: greedy[0].text, guided_tokens: guided[0].tokens, greedy_tokens: greedy[0].tokens, score: score ? 'models/brown-small/score' : 'none', eta, steps: 50 };
        files.push(['generation.json', JSON.stringify(generation, null, 2) + '\n']);
        summary.generation = { guided: generation.guided, greedy: generation.greedy };
        summary.seconds = (Date.now() - t0) / 1000;
        const written = writeAll(out, files);
        files.length = 0;
        summary.files = written;
        if (args.json) return printJson(io, summary);
        io.out(`spinbath demo on ${lm.dir} (${prompts.length} Brown prompts)\n`);
        for (const mode of ['residual', 'embedding']) {
          io.out(`  top heads (${mode}): ${(summary[mode] as { head: string; r: number }[]).map((h) => `${h.head} r=${h.r.toFixed(3)}`).join(', ')}\n`);
        }
        io.out(`  temperature: entropy ${sweep[0].entropy_bits.toFixed(2)} → ${sweep[24].entropy_bits.toFixed(2)} bits, top-1 ${sweep[0].top1.toFixed(3)} → ${sweep[24].top1.toFixed(3)} (T = 0.1 → 2.5)\n`);
        io.out(`  prompt: …${prompt.slice(-60)}\n  guided (η = ${eta}, K = 50${score ? ', residual score' : ''}): ${JSON.stringify(generation.guided)}\n  greedy: ${JSON.stringify(generation.greedy)}\n`);
        io.out(`  outputs in ${out}/ (${written.length} files: heads-residual/, heads-embedding/, landscape, ablation, temperature, generation)\n`);
        io.out(`  ${summary.seconds} s\n`);
      } finally {
        lm.dispose();
      }
    },
  };
}
