/**
 * `spinbath demo`: the main job on the embedded default (library: sampling/demo.ts `runDemo`):
 * head analysis in both modes, landscape, ablation, temperature sweep and a guided generation next
 * to greedy decoding; every output goes into --out DIR (default spinbath-out/demo).
 */
import { join } from 'node:path';
import { defaultPromptFile, encodePrompts, readPromptFile } from '../../field/prompts.js';
import { writeFilesAtomic } from '../../io/atomic.js';
import { checkOutDir } from '../../io/output.js';
import { runDemo as demoPipeline } from '../../../sampling/demo.js';
import { openScore } from '../../../sampling/score.js';
import type { DemoArgs } from '../defs/analysis.js';
import { initBackend, printJson, seedOf, type Io } from '../io.js';
import { progressBar, type Progress } from '../progress.js';
import { openModel } from './model-args.js';

export async function runDemo(io: Io, args: DemoArgs): Promise<void> {
  const t0 = Date.now();
  const out = args.out ?? join('spinbath-out', 'demo');
  checkOutDir(out);
  const pairs = readPromptFile(args.prompts ?? defaultPromptFile(args.model));
  await initBackend(args);
  const lm = await openModel(args, io);
  let score = null;
  try {
    const prompts = encodePrompts(lm.tokenizer, pairs, { nPositions: lm.model.nPositions, vocab: lm.model.vocab, truncateLeft: true });
    score = await openScore(undefined, { embedded: args.model === undefined, quiet: true });
    const bars = new Map<string, Progress>();
    const r = await demoPipeline(lm, {
      prompts,
      score,
      seed: seedOf(args),
      onProgress: (stage, done, total) => {
        if (!bars.has(stage)) bars.set(stage, progressBar(stage, total, args));
        bars.get(stage)!.update(done);
        if (done >= total) bars.get(stage)!.stop();
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    const written = writeFilesAtomic(out, r.files);
    const summary: Record<string, unknown> = { ...r.summary, seconds, files: written };
    if (args.json) return printJson(io, summary);
    const sweep = r.temperature;
    const g = r.generation;
    io.out(`spinbath demo on ${lm.dir} (${prompts.length} Brown prompts)\n`);
    for (const mode of ['residual', 'embedding']) {
      io.out(`  top heads (${mode}): ${(summary[mode] as { head: string; r: number }[]).map((h) => `${h.head} r=${h.r.toFixed(3)}`).join(', ')}\n`);
    }
    io.out(
      `  temperature: entropy ${sweep[0].entropy_bits.toFixed(2)} → ${sweep[24].entropy_bits.toFixed(2)} bits, top-1 ${sweep[0].top1.toFixed(3)} → ${sweep[24].top1.toFixed(3)} (T = 0.1 → 2.5)\n`,
    );
    io.out(
      `  prompt: …${g.prompt.slice(-60)}\n  guided (η = ${g.eta}, K = ${g.steps}${g.score ? ', residual score' : ''}): ${JSON.stringify(g.guided)}\n  greedy: ${JSON.stringify(g.greedy)}\n`,
    );
    io.out(`  outputs in ${out}/ (${written.length} files: heads-residual/, heads-embedding/, landscape, ablation, temperature, generation)\n`);
    io.out(`  ${seconds} s\n`);
  } finally {
    score?.dispose();
    lm.dispose();
  }
}
