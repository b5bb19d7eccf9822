/**
 * WebGPU against wasm in one process (issue 12): score training of the GPU config
 * (configs/score/gpt2-small-gpu.json, d = 768, depth 4) at widths 64 / 512 / 1024, and a
 * GPT-2-small-shaped forward (random weights, 1 × 128 and 1 × 1024 tokens). Each figure is
 * measured on wasm first, then on webgpu (tensors are created afresh on each backend; nothing
 * moves from webgpu back to wasm), and reported as the webgpu/wasm speed ratio of the same run.
 *
 * On a software adapter (Mesa llvmpipe, `fallback` in the adapter record) the webgpu figures are
 * correctness-only: it runs the shaders on the same CPU cores, slower than wasm SIMD.
 * scripts/gpu-check.sh prints the same figures as JSON on a machine with a real GPU.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, webgpuAdapter, type WebgpuAdapter } from '../src/backend.js';
import { packageRoot } from '../src/model/tokenizer.js';
import { Gpt2Model } from '../src/model/gpt2.js';
import { makeRng } from '../src/rng.js';
import { randomGpt2Weights } from '../test/helpers/tinyGpt2.js';
import { gpt2SmallConfig, GPT2_SMALL_SEED, median, type BenchContext, type BenchRow, type Section } from './common.js';
import { measureTraining } from './score.js';

export const GPU_WIDTHS = [64, 512, 1024] as const;
export const FORWARD_LENGTHS = [128, 1024] as const;

export interface BackendFigures {
  backend: string;
  /** Score training samples/s by width (batch of the GPU config). */
  training: Record<number, { samplesPerS: number; msPerStep: number; gflops: number }>;
  /** GPT-2-small-shaped forward, ms by sequence length (1 sequence, logits read back). */
  forwardMs: Record<number, number>;
}

export interface GpuComparison {
  adapter: WebgpuAdapter | null;
  wasm: BackendFigures;
  webgpu: BackendFigures | null;
  /** webgpu / wasm speed (> 1: the GPU is faster). */
  speedup: { training: Record<number, number>; forward: Record<number, number> } | null;
  note: string;
}

/** Median ms of a GPT-2-small-shaped forward of `len` tokens, logits read back (async). */
async function forwardMs(model: Gpt2Model, len: number, reps: number): Promise<number> {
  const rng = makeRng(`gpu-forward-${len}`);
  const ids = [Array.from({ length: len }, () => rng.int(model.vocab))];
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const z = model.lastLogits(ids); // [1, vocab]
    await z.data();
    z.dispose();
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

/** What to time: training steps per width, the training batch (default: the config's), forward lengths. */
export interface GpuBenchOptions {
  steps: number;
  batch?: number;
  lengths?: readonly number[];
}

/** The figures of the active backend. */
export async function backendFigures(o: GpuBenchOptions, log: (m: string) => void): Promise<BackendFigures> {
  const backend = tf.getBackend();
  const cfg = join(packageRoot(), 'configs', 'score', 'gpt2-small-gpu.json');
  const training: BackendFigures['training'] = {};
  for (const width of GPU_WIDTHS) {
    const f = await measureTraining(cfg, 768, 50257, o.steps, { width, batch: o.batch });
    training[width] = { samplesPerS: f.samplesPerS, msPerStep: f.ms.total, gflops: f.gflops };
    log(`${backend}: score training width ${width}: ${f.samplesPerS.toFixed(0)} samples/s (${f.ms.total.toFixed(0)} ms/step of ${f.batch})`);
  }
  const weights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
  const model = Gpt2Model.fromWeights(weights);
  weights.tensors.clear();
  const fwd: Record<number, number> = {};
  try {
    for (const len of o.lengths ?? FORWARD_LENGTHS) {
      fwd[len] = await forwardMs(model, len, 2);
      log(`${backend}: GPT-2-small forward of ${len} tokens: ${fwd[len].toFixed(0)} ms`);
    }
  } finally {
    model.dispose();
  }
  return { backend, training, forwardMs: fwd };
}

/** wasm, then webgpu when an adapter exists (see the file comment). Leaves the backend on webgpu when it ran. */
export async function compareGpu(o: GpuBenchOptions, log: (m: string) => void): Promise<GpuComparison> {
  await useBackend('wasm');
  const wasm = await backendFigures(o, log);
  try {
    await useBackend('webgpu');
  } catch (e) {
    return { adapter: null, wasm, webgpu: null, speedup: null, note: `no webgpu: ${(e as Error).message}` };
  }
  const webgpu = await backendFigures(o, log);
  const adapter = webgpuAdapter();
  const ratio = (a: Record<number, number>, b: Record<number, number>) => Object.fromEntries(Object.keys(a).map((k) => [k, a[+k] / b[+k]]));
  const pick = (f: BackendFigures) => Object.fromEntries(Object.entries(f.training).map(([w, v]) => [w, v.samplesPerS]));
  return {
    adapter, wasm, webgpu,
    speedup: { training: ratio(pick(webgpu), pick(wasm)), forward: ratio(wasm.forwardMs, webgpu.forwardMs) },
    note: adapter?.fallback
      ? 'software adapter (llvmpipe on the same CPU): correctness-only numbers, not GPU speed'
      : 'hardware adapter',
  };
}

export const gpuSection: Section = {
  name: 'gpu',
  description: 'webgpu vs wasm: score training at widths 64/512/1024 (d 768) and a GPT-2-small forward',
  isolate: true,
  async run(ctx: BenchContext) {
    const c = await compareGpu({ steps: 3 }, (m) => ctx.log(m));
    const rows: BenchRow[] = [];
    for (const w of GPU_WIDTHS) {
      rows.push({ name: `score training d 768 width ${w}, wasm`, value: c.wasm.training[w].samplesPerS, unit: 'samples/s' });
      if (c.webgpu) rows.push({ name: `score training d 768 width ${w}, webgpu`, value: c.webgpu.training[w].samplesPerS, unit: 'samples/s', note: `${c.speedup!.training[w].toFixed(2)}× wasm; ${c.note}` });
    }
    for (const len of Object.keys(c.wasm.forwardMs).map(Number)) {
      rows.push({ name: `GPT-2-small forward ${len} tokens, wasm`, value: c.wasm.forwardMs[len], unit: 'ms' });
      if (c.webgpu) rows.push({ name: `GPT-2-small forward ${len} tokens, webgpu`, value: c.webgpu.forwardMs[len], unit: 'ms', note: `${c.speedup!.forward[len].toFixed(2)}× wasm; ${c.note}` });
    }
    if (!c.webgpu) rows.push({ name: 'webgpu', value: NaN, unit: '', note: c.note });
    return { rows, data: c as unknown as Record<string, unknown> };
  },
};
