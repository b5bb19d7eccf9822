/**
 * Section `engines`: the tfjs and ort engines side by side in one process, interleaved run by run
 * (so a change of machine load hits both), with ratios ort/tfjs and the targets of issue 10:
 *
 *   forward, GPT-2-small shape (random weights), batch 1, full logits, 32/128/512/1024 tokens
 *                                             ort ≥ 4× tfjs at 128 tokens, ≥ 3× at every length
 *   KV-cached greedy decoding, batch 1 and 8  (reported)
 *   `lm eval` tokens/s, embedded model, Brown test, first 30,000 tokens        ort ≥ 3×
 *   field-cache build, GPT-2-small shape, context 128, s per 1,000 tokens     ort ≥ 3×
 *
 * Guided sampling vs greedy on the ort engine: section `sample`; peak RSS of the ort engine:
 * section `ortmem`. Runs in its own process (both GPT-2-small engines: ~1.5 GB).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineName, LanguageModel } from '../src/model/engine.js';
import { evaluateModelDir } from '../src/lm/eval.js';
import { embeddedModelDir, ortStatus, resolveThreads } from '../src/model/load.js';
import { buildPairs } from '../training/fieldCache.js';
import { cpuMs, gpt2SmallPair, median, target, type BenchContext, type BenchRow, type BenchTarget, type Section } from './common.js';
import { benchIds, decode, forwardFlops } from './forward.js';

const ENGINES: EngineName[] = ['tfjs', 'ort'];
const LENGTHS = [32, 128, 512, 1024];
/** Timed runs per engine at each length (after one warm-up each); SPINBATH_BENCH_QUICK=1 halves the long ones. */
const QUICK = process.env.SPINBATH_BENCH_QUICK === '1';
const REPS: Record<number, number> = QUICK ? { 32: 3, 128: 3, 512: 2, 1024: 2 } : { 32: 5, 128: 5, 512: 3, 1024: 3 };
export const EVAL_TOKENS = 30_000;

/**
 * Wall and CPU ms of one full forward (logits read back into a tf.Tensor, then disposed). CPU time
 * is this process's (all threads): on a busy machine it shows what the work costs, wall time what a
 * user waits; with one ort thread it is close to the wall time of a quiet machine.
 */
async function forwardMs(m: LanguageModel, ids: number[][]): Promise<{ wall: number; cpu: number }> {
  const [t0, c0] = [performance.now(), cpuMs()];
  const z = await m.forwardAsync(ids); // [1, P, vocab]
  z.dataSync();
  z.dispose();
  return { wall: performance.now() - t0, cpu: cpuMs() - c0 };
}

/** Seconds per 1000 tokens to build the field cache (final-layer source) with windows of `context` tokens. */
export async function fieldCacheSecondsPer1000(model: LanguageModel, context: number, tokens: number): Promise<number> {
  const ids = benchIds(1, tokens + 1, model.vocab, 3)[0];
  const spec = { split: 'bench', source: { kind: 'final' as const }, context, stride: context, maxPairs: null };
  await buildPairs(model, ids.slice(0, context + 1), spec); // warm-up (session compile on ort)
  const t0 = performance.now();
  const { forwarded } = await buildPairs(model, ids, spec);
  return ((performance.now() - t0) / 1000 / forwarded) * 1000;
}

const fmtRatio = (x: number) => `${x.toFixed(2)}×`;

export const enginesSection: Section = {
  name: 'engines',
  description: 'tfjs vs ort engines, interleaved: forward 32–1024 tokens, KV decoding, lm eval, field cache',
  isolate: true,
  async run(ctx: BenchContext) {
    const status = await ortStatus();
    if (!status.ok) {
      return { rows: [{ name: 'ort engine', value: NaN, unit: '', note: `not available: ${status.reason}` }], targets: [], data: { ort: status } };
    }
    const threads = resolveThreads();
    const pair = await gpt2SmallPair(threads);
    const rows: BenchRow[] = [];
    const targets: BenchTarget[] = [];
    const data: Record<string, unknown> = { ort: { ...status, threads }, config: { ...pair.tfjs.config } };

    // forward at every length, interleaved
    for (const P of LENGTHS) {
      const ids = benchIds(1, P, pair.tfjs.vocab);
      for (const e of ENGINES) await forwardMs(pair[e], ids); // warm-up (and the ort session of this shape)
      const t: Record<EngineName, number[]> = { tfjs: [], ort: [] };
      const c: Record<EngineName, number[]> = { tfjs: [], ort: [] };
      for (let r = 0; r < REPS[P]; r++) {
        for (const e of ENGINES) {
          const x = await forwardMs(pair[e], ids);
          t[e].push(x.wall);
          c[e].push(x.cpu);
        }
      }
      const ms = { tfjs: median(t.tfjs), ort: median(t.ort) };
      const cpu = { tfjs: median(c.tfjs), ort: median(c.ort) };
      const ratio = ms.tfjs / ms.ort;
      const gf = (x: number) => (forwardFlops(pair.tfjs, 1, P) / x / 1e6).toFixed(1);
      ctx.log(
        `forward ${P} tok: tfjs ${ms.tfjs.toFixed(0)} ms, ort ${ms.ort.toFixed(0)} ms (${fmtRatio(ratio)}); CPU ${cpu.tfjs.toFixed(0)} vs ${cpu.ort.toFixed(0)} ms`,
      );
      rows.push({
        name: `forward ${P} tok: ort`,
        value: ms.ort,
        unit: 'ms',
        note: `tfjs ${ms.tfjs.toFixed(0)} ms → ort ${fmtRatio(ratio)} faster (${gf(ms.ort)} vs ${gf(ms.tfjs)} GFLOP/s; medians of ${REPS[P]}); CPU time ${cpu.ort.toFixed(0)} vs ${cpu.tfjs.toFixed(0)} ms (${fmtRatio(cpu.tfjs / cpu.ort)})`,
      });
      targets.push(target(`ort / tfjs forward speed, ${P} tokens`, ratio, '×', 'min', P === 128 ? 4 : 3));
      data[`forward_${P}`] = { times: t, cpu_times: c, ms, cpu_ms: cpu, ratio, cpu_ratio: cpu.tfjs / cpu.ort };
    }

    // KV-cached greedy decoding, 32-token prompt, 32 steps, best of 2 interleaved
    for (const B of [1, 8]) {
      for (const e of ENGINES) await decode(pair[e], B, 4, 2); // warm-up
      const best: Record<EngineName, number> = { tfjs: Infinity, ort: Infinity };
      for (let r = 0; r < 2; r++) for (const e of ENGINES) best[e] = Math.min(best[e], (await decode(pair[e], B, 32, 32)).decodeMs);
      const tps = { tfjs: (B * 32) / (best.tfjs / 1000), ort: (B * 32) / (best.ort / 1000) };
      rows.push({
        name: `KV decode batch ${B}: ort`,
        value: tps.ort,
        unit: 'tokens/s',
        note: `tfjs ${tps.tfjs.toFixed(1)} tokens/s → ${fmtRatio(tps.ort / tps.tfjs)} (best of 2, 32 steps after 32 tokens)`,
      });
      data[`decode_b${B}`] = { tokens_per_s: tps };
    }

    // field-cache build on the GPT-2-small shape
    {
      const s: Record<EngineName, number[]> = { tfjs: [], ort: [] };
      for (let r = 0; r < 2; r++) for (const e of ENGINES) s[e].push(await fieldCacheSecondsPer1000(pair[e], 128, 1024));
      const best = { tfjs: Math.min(...s.tfjs), ort: Math.min(...s.ort) };
      const ratio = best.tfjs / best.ort;
      ctx.log(`field cache: tfjs ${best.tfjs.toFixed(2)}, ort ${best.ort.toFixed(2)} s per 1000 tokens`);
      rows.push({
        name: 'field cache, GPT-2-small shape, context 128: ort',
        value: best.ort,
        unit: 's/1000 tok',
        note: `tfjs ${best.tfjs.toFixed(2)} s → ort ${fmtRatio(ratio)} faster (best of 2)`,
      });
      targets.push(target('ort / tfjs field-cache build speed', ratio, '×', 'min', 3));
      data.field_cache = { seconds_per_1000: s, ratio };
    }
    pair.tfjs.dispose(); // the eval below loads its own models; free the wasm heap's big copy first
    pair.ort.dispose();

    // lm eval on the embedded model
    const dir = embeddedModelDir();
    if (existsSync(join(dir, 'model.safetensors'))) {
      const tps: Record<EngineName, number[]> = { tfjs: [], ort: [] };
      let ppl: Record<string, number> = {};
      for (let r = 0; r < 2; r++) {
        for (const e of ENGINES) {
          const rep = await evaluateModelDir(dir, { split: 'test', maxTokens: EVAL_TOKENS, engine: e, threads });
          tps[e].push(rep.tokens_per_s);
          ppl = { ...ppl, [e]: rep.perplexity };
        }
      }
      const best = { tfjs: Math.max(...tps.tfjs), ort: Math.max(...tps.ort) };
      const ratio = best.ort / best.tfjs;
      ctx.log(`lm eval: tfjs ${best.tfjs.toFixed(0)}, ort ${best.ort.toFixed(0)} tokens/s`);
      rows.push({
        name: `lm eval, embedded model, ${EVAL_TOKENS} test tokens: ort`,
        value: best.ort,
        unit: 'tokens/s',
        note: `tfjs ${best.tfjs.toFixed(0)} tokens/s → ${fmtRatio(ratio)} (best of 2); perplexity ${ppl.ort.toFixed(3)} (ort) vs ${ppl.tfjs.toFixed(3)} (tfjs)`,
      });
      targets.push(target('ort / tfjs lm eval tokens/s', ratio, '×', 'min', 3));
      data.lm_eval = { tokens_per_s: tps, perplexity: ppl, ratio };
    } else rows.push({ name: 'lm eval, embedded model', value: NaN, unit: 'tokens/s', note: 'models/brown-small missing' });
    return { rows, targets, data };
  },
};
