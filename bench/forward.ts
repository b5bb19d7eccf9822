/**
 * Section `forward`: the tfjs engine on the GPT-2-small-shaped model (random weights, seed fixed) —
 * full-forward latency at 32 and 128 tokens (batch 1), the same with `lastOnly` logits (what the
 * analysis uses), the achieved GFLOP/s against the matmul reference, the unembedding alone
 * ([128, 768]·[768, 50257], issue 10 point 6: at least the backend's own matmul rate) interleaved
 * with the reference matmul, and KV-cached decoding tokens/s. The engines compared: bench/engines.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LanguageModel } from '../src/model/engine.js';
import type { Gpt2Model } from '../src/model/gpt2.js';
import { makeRng, normalArray } from '../src/rng.js';
import { cpuMs, gflops, gpt2Small, median, target, type BenchRow, type BenchTarget, type Section } from './common.js';
import { matmulFigures } from './matmul.js';

/**
 * FLOPs of one forward call, counting 2 per multiply-add of every matmul (elementwise ops,
 * softmax and LayerNorm are not counted). Batch B, P new positions, Pk = past + P key positions,
 * d = d_model, H heads of dh = d/H, d_mlp, vocab V, U unembedded rows per sequence (P, or 1 with lastOnly):
 *
 *   per layer:  QKV 3·2·B·P·d·d  +  scores 2·B·H·P·Pk·dh  +  values 2·B·H·P·Pk·dh
 *               + W_O 2·B·P·d·d  +  MLP 2·2·B·P·d·d_mlp
 *   total:      n_layer · (per layer)  +  unembedding 2·B·U·d·V
 *
 * Attention is counted over all P·Pk query/key pairs (the causal half is computed then masked).
 * GPT-2 small, batch 1: 7.94 GFLOP at 32 tokens, 32.23 at 128 (of which 9.88 the unembedding).
 */
export function forwardFlops(
  m: Pick<LanguageModel, 'dModel' | 'nHead' | 'dHead' | 'dMlp' | 'vocab' | 'nLayer'>,
  B: number,
  P: number,
  opts: { past?: number; lastOnly?: boolean } = {},
): number {
  const [d, H, dh, dMlp, V] = [m.dModel, m.nHead, m.dHead, m.dMlp, m.vocab];
  const Pk = (opts.past ?? 0) + P;
  const U = opts.lastOnly ? 1 : P;
  const perLayer = 3 * 2 * B * P * d * d + 2 * (2 * B * H * P * Pk * dh) + 2 * B * P * d * d + 2 * 2 * B * P * d * dMlp;
  return m.nLayer * perLayer + 2 * B * U * d * V;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** Wall and CPU ms of `reps` runs of `f` after one warm-up. */
function times(f: () => void, reps: number): { wall: number[]; cpu: number[] } {
  f();
  const out = { wall: [] as number[], cpu: [] as number[] };
  for (let i = 0; i < reps; i++) {
    const [t0, c0] = [performance.now(), cpuMs()];
    f();
    out.wall.push(performance.now() - t0);
    out.cpu.push(cpuMs() - c0);
  }
  return out;
}

/** Deterministic pseudo-random token ids [B][P] (no tokenizer needed). */
export function benchIds(B: number, P: number, vocab: number, salt = 0): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: P }, (_, i) => (i * 7919 + b * 104729 + salt * 15485863 + 13) % vocab));
}

/** Prefill `promptLen` tokens into a KV cache, then decode `steps` tokens one at a time (greedy, read back each step); any engine. */
export async function decode(m: LanguageModel, B: number, promptLen: number, steps: number): Promise<{ prefillMs: number; decodeMs: number }> {
  const cache = m.newCache();
  const argmaxRows = (z: tf.Tensor): number[] => {
    const ids = tf.tidy(() => tf.argMax(z, 1)); // [B]
    const out = Array.from(ids.dataSync());
    tf.dispose([ids, z]);
    return out;
  };
  try {
    const t0 = performance.now();
    let next = argmaxRows(await m.lastLogitsAsync(benchIds(B, promptLen, m.vocab, 1), { cache })); // [B]
    const t1 = performance.now();
    for (let s = 0; s < steps; s++)
      next = argmaxRows(
        await m.lastLogitsAsync(
          next.map((t) => [t]),
          { cache },
        ),
      );
    return { prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
  } finally {
    cache.dispose();
  }
}

/**
 * The tfjs unembedding of `rows` final residuals against the backend's matmul reference (1024³),
 * interleaved rep by rep so that a change of load hits both: GFLOP/s of each, medians.
 */
export function unembedVsMatmul(
  m: Gpt2Model,
  rows: number,
  reps: number,
): { unembedGflops: number; matmulGflops: number; unembedMs: number; matmulMs: number; cpuRatio: number } {
  const x = tf.tensor2d(normalArray(makeRng('bench/unembed'), rows * m.dModel), [rows, m.dModel]); // [rows, d_model]
  const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
  const cpu = { u: [] as number[], mm: [] as number[] };
  const run = (f: () => tf.Tensor, into?: number[]): number => {
    const [t0, c0] = [performance.now(), cpuMs()];
    const r = f();
    r.dataSync();
    r.dispose();
    into?.push(cpuMs() - c0);
    return performance.now() - t0;
  };
  try {
    run(() => m.unembed(x));
    run(() => tf.matMul(a, a));
    const u: number[] = [];
    const mm: number[] = [];
    for (let i = 0; i < reps; i++) {
      u.push(run(() => m.unembed(x), cpu.u));
      mm.push(run(() => tf.matMul(a, a), cpu.mm));
    }
    const [unembedMs, matmulMs] = [median(u), median(mm)];
    const flops = 2 * rows * m.dModel * m.vocab;
    const cpuRatio = gflops(flops, median(cpu.u)) / gflops(2 * 1024 ** 3, median(cpu.mm));
    return { unembedMs, matmulMs, unembedGflops: gflops(flops, unembedMs), matmulGflops: gflops(2 * 1024 ** 3, matmulMs), cpuRatio };
  } finally {
    tf.dispose([x, a]);
  }
}

export const forwardSection: Section = {
  name: 'forward',
  description: 'GPT-2-small forward latency, GFLOP/s vs matmul, KV-cached decoding',
  async run(ctx) {
    const mm = await matmulFigures(ctx);
    const ref = mm.reference;
    const m = await gpt2Small(ctx);
    const rows: BenchRow[] = [];
    const targets: BenchTarget[] = [];
    const data: Record<string, unknown> = { reference_gflops: ref, config: { ...m.config } };
    for (const P of [32, 128]) {
      for (const lastOnly of [false, true]) {
        const ids = benchIds(1, P, m.vocab);
        const reps = P <= 32 ? 7 : 5;
        const t = times(() => {
          const l = m.forward(ids, { lastOnly });
          l.dataSync();
          l.dispose();
        }, reps);
        const flops = forwardFlops(m, 1, P, { lastOnly });
        const ms = median(t.wall);
        const g = gflops(flops, ms);
        // The same ratio in CPU time (this process's own): less disturbed by other processes taking turns on the cores.
        const cpuFraction = gflops(flops, median(t.cpu)) / mm.referenceCpu;
        const label = `forward ${P} tok${lastOnly ? ', lastOnly' : ''}`;
        ctx.log(`${label}: ${ms.toFixed(0)} ms`);
        rows.push({
          name: `${label}: latency`,
          value: ms,
          unit: 'ms',
          note: `median of ${reps} (best ${Math.min(...t.wall).toFixed(0)}; CPU time ${median(t.cpu).toFixed(0)})`,
        });
        rows.push({
          name: `${label}: throughput`,
          value: g,
          unit: 'GFLOP/s',
          note: `${(flops / 1e9).toFixed(2)} GFLOP; ${pct(g / ref)} of matmul (${pct(cpuFraction)} in CPU time)`,
        });
        data[`P${P}${lastOnly ? '_lastOnly' : ''}`] = {
          ms,
          times: t.wall,
          cpu_times: t.cpu,
          gflop: flops / 1e9,
          gflops: g,
          fraction: g / ref,
          cpu_fraction: cpuFraction,
        };
        if (P === 128 && !lastOnly) targets.push(target('forward@128 / matmul throughput', g / ref, 'fraction', 'min', 0.7));
      }
    }
    const u = unembedVsMatmul(m, 128, 5);
    rows.push({
      name: 'unembedding [128, 768]·[768, 50257]',
      value: u.unembedGflops,
      unit: 'GFLOP/s',
      note: `${u.unembedMs.toFixed(0)} ms; interleaved 1024³ matMul ${u.matmulGflops.toFixed(1)} GFLOP/s (${pct(u.unembedGflops / u.matmulGflops)}; ${pct(u.cpuRatio)} in CPU time)`,
    });
    // The rate of one kernel against another: CPU time (one thread) is what a quiet machine's wall time would be.
    targets.push(target('tfjs unembedding / matmul throughput (CPU time)', u.cpuRatio, 'fraction', 'min', 1));
    data.unembedding = u;
    for (const B of [1, 8]) {
      const [promptLen, steps] = [32, 64];
      await decode(m, B, 4, 2); // warm-up (cache shapes, kernels)
      const runs = [await decode(m, B, promptLen, steps), await decode(m, B, promptLen, steps)];
      const best = runs.reduce((a, b) => (b.decodeMs < a.decodeMs ? b : a));
      const tps = (B * steps) / (best.decodeMs / 1000);
      ctx.log(`decode batch ${B}: ${tps.toFixed(1)} tokens/s`);
      rows.push({
        name: `KV decode batch ${B}: ${steps} steps after ${promptLen}-token prompt`,
        value: tps,
        unit: 'tokens/s',
        note: `best of 2 runs: ${(best.decodeMs / steps).toFixed(1)} ms/step, prefill ${best.prefillMs.toFixed(0)} ms`,
      });
      data[`decode_b${B}`] = { promptLen, steps, runs, tokens_per_s: tps };
    }
    return { rows, targets, data };
  },
};
