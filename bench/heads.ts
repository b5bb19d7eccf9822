/**
 * Section `heads`: the full per-head context-field analysis (144 heads × the 20 factual-recall
 * prompts, tokenised with the GPT-2 tokenizer) on the GPT-2-small-shaped random model, in both
 * modes: wall time, peak process RSS (sampled from a worker thread) and peak tf.memory().numBytes.
 * Runs in its own process (isolate) so the RSS is the analysis's own: model + tokenizer + analysis.
 */
import { join } from 'node:path';
import { analyzeHeads } from '../src/field/heads.js';
import { encodePrompts, readPromptFile, type EncodedPrompt } from '../src/field/prompts.js';
import { FIELD_MODES } from '../src/field/extract.js';
import { loadTokenizer, packageRoot } from '../src/model/tokenizer.js';
import { cpuMs, gpt2Small, MB, peakTensorBytes, RssSampler, target, tryGc, type BenchRow, type BenchTarget, type Section } from './common.js';

export const PROMPT_FILE = join('configs', 'prompts', 'factual-recall-20.json');

export const headsSection: Section = {
  name: 'heads',
  description: 'per-head context-field analysis, 144 heads × 20 prompts, both modes',
  isolate: true,
  async run(ctx) {
    const m = await gpt2Small(ctx);
    const tok = await loadTokenizer();
    const prompts: EncodedPrompt[] = encodePrompts(tok, readPromptFile(join(packageRoot(), PROMPT_FILE)), { nPositions: m.nPositions, vocab: m.vocab });
    const lengths = prompts.map((p) => p.ids.length);
    await tryGc();
    const baseRss = process.memoryUsage.rss();
    const rows: BenchRow[] = [];
    const targets: BenchTarget[] = [];
    const data: Record<string, unknown> = {
      base_rss_bytes: baseRss,
      prompts: prompts.length,
      tokens: { min: Math.min(...lengths), max: Math.max(...lengths), mean: lengths.reduce((a, b) => a + b, 0) / lengths.length },
    };
    for (const mode of FIELD_MODES) {
      await analyzeHeads(m, prompts.slice(0, 1), mode); // warm-up: one prompt
      await tryGc();
      const sampler = await RssSampler.start();
      const [t0, c0] = [performance.now(), cpuMs()];
      const { analysis } = await analyzeHeads(m, prompts, mode, { keepLogits: true });
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = (cpuMs() - c0) / 1000;
      const rss = await sampler.stop();
      const tensors = await peakTensorBytes(async () => void (await analyzeHeads(m, prompts, mode, { keepLogits: true })));
      ctx.log(`${mode}: ${seconds.toFixed(2)} s, peak RSS ${(rss / MB).toFixed(0)} MB, peak tensors ${(tensors.peak / MB).toFixed(0)} MB`);
      rows.push({
        name: `${mode}: ${prompts.length} prompts × ${m.nLayer * m.nHead} heads`,
        value: seconds,
        unit: 's',
        note: `${((1000 * seconds) / prompts.length).toFixed(0)} ms/prompt, CPU time ${cpuSeconds.toFixed(2)} s`,
      });
      rows.push({
        name: `${mode}: peak process RSS`,
        value: rss / MB,
        unit: 'MB',
        note: `+${((rss - baseRss) / MB).toFixed(0)} MB over ${(baseRss / MB).toFixed(0)} MB (model + tokenizer loaded, before the first forward)`,
      });
      rows.push({
        name: `${mode}: peak tf.memory().numBytes`,
        value: tensors.peak / MB,
        unit: 'MB',
        note: `${(tensors.before / MB).toFixed(0)} MB before (weights), +${((tensors.peak - tensors.before) / MB).toFixed(1)} MB transient`,
      });
      targets.push(target(`${mode} analysis wall time`, seconds, 's', 'max', 30));
      targets.push(target(`${mode} analysis peak RSS`, rss / MB, 'MB', 'max', 2048));
      data[mode] = {
        seconds,
        cpu_seconds: cpuSeconds,
        peak_rss_bytes: rss,
        peak_tensor_bytes: tensors.peak,
        tensor_bytes_before: tensors.before,
        top_head: analysis.heads[0] && { layer: analysis.heads[0].layer, head: analysis.heads[0].head, r: analysis.heads[0].r },
      };
    }
    return { rows, targets, data };
  },
};
