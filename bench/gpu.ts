/**
 * WebGPU against wasm in one process (issue 12): score training of the GPU config
 * (configs/score/gpt2-small-gpu.json, d = 768, depth 4) at widths 64 / 512 / 1024, and a
 * GPT-2-small-shaped forward (random weights, 1 × 128 and 1 × 1024 tokens). Each figure is
 * measured on wasm first, then on webgpu (tensors are created afresh on each backend; nothing
 * moves from webgpu back to wasm), and reported as the webgpu/wasm speed ratio of the same run.
 *
 * The section also times the ORT engine on its WebGPU execution provider against its CPU provider
 * on brown-small (bench/gpu-ort.ts; scripts/gpu-check.sh does it on a GPT-2-small shape).
 *
 * On a software adapter (Mesa llvmpipe, `fallback` in the adapter record) the webgpu figures are
 * correctness-only: it runs the shaders on the same CPU cores, slower than wasm SIMD.
 * scripts/gpu-check.sh prints the same figures as JSON on a machine with a real GPU.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readData, useBackend, webgpuAdapter, type WebgpuAdapter } from '../src/backend.js';
import { packageRoot } from '../src/model/tokenizer.js';
import { Gpt2Model } from '../src/model/gpt2.js';
import { makeRng } from '../src/rng.js';
import { randomGpt2Weights } from '../src/model/randomWeights.js';
import { loadGpt2Weights } from '../src/model/checkpoint.js';
import { gpt2SmallConfig, GPT2_SMALL_SEED, median, type BenchContext, type BenchRow, type Section } from './common.js';
import { compareOrtGpu } from './gpu-ort.js';
import { measureTraining } from './score.js';

export const GPU_WIDTHS = [64, 512, 1024] as const;
export const FORWARD_LENGTHS = [128, 1024] as const;

export interface BackendFigures {
  backend: string;
  /** Score training by width (batch of the GPU config unless overridden); an error message where it failed. */
  training: Record<number, { samplesPerS: number; msPerStep: number; gflops: number } | { error: string }>;
  /** GPT-2-small-shaped forward, ms by sequence length (1 sequence, logits read back), or an error message. */
  forwardMs: Record<number, number | { error: string }>;
}

/**
 * The token spins of the training figures: an 8257-token table (brown-small's vocabulary). GPT-2's
 * 50257 × 768 fp32 table is 154 MB, above the 128 MB storage-buffer binding of the software
 * adapter; the training step's cost does not depend on it (one gather of the batch's rows).
 */
const SPIN_VOCAB = 8257;

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
    await readData(z); // checks GPU faults
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

/** The figures of the active backend; a failure (e.g. a GPU limit) is recorded and ends this backend's run. */
export async function backendFigures(o: GpuBenchOptions, log: (m: string) => void): Promise<BackendFigures> {
  const backend = tf.getBackend();
  const cfg = join(packageRoot(), 'configs', 'score', 'gpt2-small-gpu.json');
  const out: BackendFigures = { backend, training: {}, forwardMs: {} };
  const failed = (e: unknown) => ({ error: (e as Error).message.split('\n')[0] });
  for (const width of GPU_WIDTHS) {
    try {
      const f = await measureTraining(cfg, 768, SPIN_VOCAB, o.steps, { width, batch: o.batch });
      out.training[width] = { samplesPerS: f.samplesPerS, msPerStep: f.ms.total, gflops: f.gflops };
      log(`${backend}: score training width ${width}: ${f.samplesPerS.toFixed(0)} samples/s (${f.ms.total.toFixed(0)} ms/step of ${f.batch})`);
    } catch (e) {
      out.training[width] = failed(e);
      log(`${backend}: score training width ${width} failed: ${failed(e).error}`);
      return out; // a GPU fault is sticky: nothing after it would be trustworthy
    }
  }
  let model: Gpt2Model | null = null;
  try {
    const weights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
    model = Gpt2Model.fromWeights(weights);
    weights.tensors.clear();
    for (const len of o.lengths ?? FORWARD_LENGTHS) {
      try {
        out.forwardMs[len] = await forwardMs(model, len, 2);
        log(`${backend}: GPT-2-small forward of ${len} tokens: ${(out.forwardMs[len] as number).toFixed(0)} ms`);
      } catch (e) {
        out.forwardMs[len] = failed(e);
        log(`${backend}: GPT-2-small forward of ${len} tokens failed: ${failed(e).error}`);
        break;
      }
    }
  } finally {
    model?.dispose();
  }
  return out;
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
  const speed = (x: unknown) =>
    typeof x === 'number' ? x : x && typeof x === 'object' && 'samplesPerS' in x ? (x as { samplesPerS: number }).samplesPerS : NaN;
  const ratio = (a: Record<number, unknown>, b: Record<number, unknown>, inverse: boolean) =>
    Object.fromEntries(Object.keys(b).map((k) => [k, inverse ? speed(b[+k]) / speed(a[+k]) : speed(a[+k]) / speed(b[+k])]));
  return {
    adapter,
    wasm,
    webgpu,
    speedup: { training: ratio(webgpu.training, wasm.training, false), forward: ratio(webgpu.forwardMs, wasm.forwardMs, true) },
    note: adapter?.fallback ? 'software adapter (llvmpipe on the same CPU): correctness-only numbers, not GPU speed' : 'hardware adapter',
  };
}

export const gpuSection: Section = {
  name: 'gpu',
  description:
    'webgpu vs wasm: score training at widths 64/512/1024 (d 768) and a GPT-2-small forward; ORT webgpu EP vs CPU EP: brown-small last-position logits',
  isolate: true,
  async run(ctx: BenchContext) {
    const c = await compareGpu({ steps: 3 }, (m) => ctx.log(m));
    const rows: BenchRow[] = [];
    const row = (name: string, v: unknown, unit: string, key: 'samplesPerS' | null, note?: string) => {
      if (v === undefined) return void rows.push({ name, value: NaN, unit, note: 'not run: an earlier figure failed' });
      const err = v && typeof v === 'object' && 'error' in v ? (v as { error: string }).error : null;
      const value = err ? NaN : key ? (v as Record<string, number>)[key] : (v as number);
      rows.push({ name, value, unit, note: err ?? note });
    };
    for (const w of GPU_WIDTHS) {
      row(`score training d 768 width ${w}, wasm`, c.wasm.training[w], 'samples/s', 'samplesPerS');
      if (c.webgpu)
        row(
          `score training d 768 width ${w}, webgpu`,
          c.webgpu.training[w],
          'samples/s',
          'samplesPerS',
          `${c.speedup!.training[w].toFixed(2)}× wasm; ${c.note}`,
        );
    }
    for (const len of Object.keys(c.wasm.forwardMs).map(Number)) {
      row(`GPT-2-small forward ${len} tokens, wasm`, c.wasm.forwardMs[len], 'ms', null);
      if (c.webgpu)
        row(`GPT-2-small forward ${len} tokens, webgpu`, c.webgpu.forwardMs[len], 'ms', null, `${c.speedup!.forward[len].toFixed(2)}× wasm; ${c.note}`);
    }
    if (!c.webgpu) rows.push({ name: 'webgpu', value: NaN, unit: '', note: c.note });
    // ORT: its outputs become tensors of the active tfjs backend, so back to wasm (no GPU upload in the timing)
    await useBackend('wasm');
    const ort = await compareOrtGpu(
      'brown-small',
      await loadGpt2Weights(join(packageRoot(), 'models', 'brown-small')),
      [32, 128],
      {
        reps: 5,
        fallback: c.adapter?.fallback ?? null,
      },
      (m) => ctx.log(m),
    );
    for (const len of Object.keys(ort.cpuMs).map(Number)) {
      row(`ORT brown-small last logits ${len} tokens, cpu EP`, ort.cpuMs[len], 'ms', null);
      if (ort.webgpuMs)
        row(
          `ORT brown-small last logits ${len} tokens, webgpu EP`,
          ort.webgpuMs[len],
          'ms',
          null,
          `${(ort.speedup?.[len] ?? NaN).toFixed(2)}× the cpu EP; max rel. diff ${ort.maxRelDiff?.toExponential(1)}; ${ort.note}`,
        );
    }
    if (!ort.webgpuMs) rows.push({ name: 'ORT webgpu EP', value: NaN, unit: '', note: ort.note });
    return { rows, data: { ...c, ort } as unknown as Record<string, unknown> };
  },
};
