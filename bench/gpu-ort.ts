/**
 * The ORT engine on its WebGPU execution provider against its CPU provider (issue 12, point 2):
 * the last-position logits of one sequence (`lastLogitsAsync`, as `generate` and the tfjs figures
 * of bench/gpu.ts), median ms per length on ['cpu'] then on ['webgpu', 'cpu'] in the same
 * process, the speed ratio, and the largest relative difference of the two providers' logits.
 * `npm run bench` (section gpu) runs it on brown-small; scripts/gpu-check.sh on a
 * GPT-2-small-shaped model. On a software adapter (Mesa llvmpipe) the webgpu figures are
 * correctness-only: the shaders run on the same CPU cores.
 */
import { createOrtGpt2, ortWebgpuAvailable, type OrtGpt2 } from '../src/model/ort/index.js';
import type { Gpt2Weights } from '../src/model/weights.js';
import { makeRng } from '../src/rng.js';
import { median } from './common.js';

export interface OrtGpuFigures {
  /** What ran: 'brown-small', 'gpt2-small shape (random)'. */
  model: string;
  /** Median ms of the last-position logits of [1, len] ids, by len, per provider set (an error message where it failed). */
  cpuMs: Record<number, number | { error: string }>;
  webgpuMs: Record<number, number | { error: string }> | null;
  /** cpu ms / webgpu ms by len (> 1: the GPU is faster). */
  speedup: Record<number, number> | null;
  /** Largest |webgpu − cpu| / max(1, |cpu|) over the logits of every length. */
  maxRelDiff: number | null;
  /** Why webgpu did not run, or what its numbers mean. */
  note: string;
}

/** Median ms (after one warm-up that compiles the session) and the last run's logits. */
async function timeLast(m: OrtGpt2, ids: number[][], reps: number): Promise<{ ms: number; logits: Float32Array }> {
  const times: number[] = [];
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const z = await m.lastLogitsAsync(ids); // [1, vocab]
    logits = (await z.data()) as Float32Array;
    z.dispose();
    if (i > 0) times.push(performance.now() - t0);
  }
  return { ms: median(times), logits };
}

/**
 * Time `weights` on ORT's CPU EP then its WebGPU EP. `fallback`: whether the adapter is a software
 * one (the note says the numbers are correctness-only). Never throws for a provider's failure.
 */
export async function compareOrtGpu(
  model: string,
  weights: Gpt2Weights,
  lengths: readonly number[],
  o: { reps: number; fallback: boolean | null },
  log: (m: string) => void,
): Promise<OrtGpuFigures> {
  const failed = (e: unknown) => ({ error: (e as Error).message.split('\n')[0] });
  const ids = (len: number) => {
    const rng = makeRng(`ort-gpu-forward-${len}`);
    return [Array.from({ length: len }, () => rng.int(weights.config.vocab_size))];
  };
  const cpuMs: OrtGpuFigures['cpuMs'] = {};
  const cpuLogits = new Map<number, Float32Array>();
  const cpu = await createOrtGpt2(weights, { executionProviders: ['cpu'] });
  try {
    for (const len of lengths) {
      const r = await timeLast(cpu, ids(len), o.reps);
      cpuMs[len] = r.ms;
      cpuLogits.set(len, r.logits);
      log(`ort cpu EP: ${model} last-position logits of ${len} tokens: ${r.ms.toFixed(1)} ms`);
    }
  } finally {
    cpu.dispose();
  }
  const avail = await ortWebgpuAvailable();
  if (!avail.ok) return { model, cpuMs, webgpuMs: null, speedup: null, maxRelDiff: null, note: `no ORT webgpu: ${avail.reason}` };
  const webgpuMs: NonNullable<OrtGpuFigures['webgpuMs']> = {};
  const speedup: Record<number, number> = {};
  let maxRelDiff = 0;
  const gpu = await createOrtGpt2(weights, { executionProviders: ['webgpu', 'cpu'] });
  try {
    for (const len of lengths) {
      try {
        const r = await timeLast(gpu, ids(len), o.reps);
        webgpuMs[len] = r.ms;
        speedup[len] = (cpuMs[len] as number) / r.ms;
        const ref = cpuLogits.get(len)!;
        for (let i = 0; i < ref.length; i++) maxRelDiff = Math.max(maxRelDiff, Math.abs(r.logits[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
        log(`ort webgpu EP: ${model} last-position logits of ${len} tokens: ${r.ms.toFixed(1)} ms (${speedup[len].toFixed(2)}× the CPU EP)`);
      } catch (e) {
        webgpuMs[len] = failed(e);
        log(`ort webgpu EP: ${model} ${len} tokens failed: ${failed(e).error}`);
        break;
      }
    }
  } finally {
    gpu.dispose();
  }
  const note =
    o.fallback === false
      ? 'hardware adapter'
      : o.fallback
        ? 'software adapter (llvmpipe on the same CPU): correctness-only numbers, not GPU speed'
        : 'adapter kind unknown (ORT creates its own Dawn device)';
  return { model, cpuMs, webgpuMs, speedup, maxRelDiff, note };
}
