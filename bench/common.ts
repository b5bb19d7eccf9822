/**
 * Shared pieces of `npm run bench`: the Section interface (one section = one function in its own
 * file, registered in bench/sections.ts), the context handed to every section (backend, memoised
 * shared objects such as the random GPT-2-small model), timing and memory helpers.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { EngineName, LanguageModel } from '../src/model/engine.js';
import { Gpt2Model } from '../src/model/gpt2.js';
import { createLanguageModel } from '../src/model/load.js';
import { packageRoot } from '../src/model/tokenizer.js';
import type { Gpt2Config } from '../src/model/weights.js';
import { randomGpt2Weights } from '../src/model/randomWeights.js';

/** One measured figure of a section (a line of the printed table). */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** A goal from the issue, checked against a measured figure. */
export interface BenchTarget {
  name: string;
  value: number;
  unit: string;
  /** value must be ≥ (min) or ≤ (max) the threshold. */
  kind: 'min' | 'max';
  threshold: number;
  pass: boolean;
}

export interface SectionResult {
  rows: BenchRow[];
  targets?: BenchTarget[];
  /** Anything else worth keeping in results.json (raw times, shapes, ...). */
  data?: Record<string, unknown>;
}

export interface Section {
  /** Short name, used by `--only NAME` and as the key in results.json. */
  name: string;
  description: string;
  /**
   * Run in a fresh child process (when other sections run too): memory measurements would
   * otherwise include what earlier sections left behind (the wasm heap never shrinks).
   */
  isolate?: boolean;
  run(ctx: BenchContext): Promise<SectionResult>;
}

export function target(name: string, value: number, unit: string, kind: 'min' | 'max', threshold: number): BenchTarget {
  return { name, value, unit, kind, threshold, pass: kind === 'min' ? value >= threshold : value <= threshold };
}

/** State shared by the sections of one run: memoised objects are built once and disposed at the end. */
export class BenchContext {
  private readonly memo = new Map<string, unknown>();
  private readonly disposers: (() => void)[] = [];
  constructor(readonly backend: string) {}

  /** Build `key` once per run (e.g. the matmul reference figure, the GPT-2-small model). */
  async shared<T>(key: string, make: () => Promise<T> | T, dispose?: (v: T) => void): Promise<T> {
    if (!this.memo.has(key)) {
      const v = await make();
      this.memo.set(key, v);
      if (dispose) this.disposers.push(() => dispose(v));
    }
    return this.memo.get(key) as T;
  }

  log(msg: string): void {
    process.stderr.write(`  · ${msg}\n`);
  }

  dispose(): void {
    for (const d of this.disposers.reverse()) d();
    this.disposers.length = 0;
    this.memo.clear();
  }
}

/** GPT-2 small's config (assets/gpt2/config.json: 12 layers × 12 heads, d = 768, vocab 50257, 1024 positions). */
export function gpt2SmallConfig(): Gpt2Config {
  return JSON.parse(readFileSync(join(packageRoot(), 'assets', 'gpt2', 'config.json'), 'utf8')) as Gpt2Config;
}

export const GPT2_SMALL_SEED = 0;

/** The GPT-2-small-shaped model with random weights (seed fixed), built once per run; host weights dropped after upload. */
export function gpt2Small(ctx: BenchContext): Promise<Gpt2Model> {
  return ctx.shared(
    'gpt2-small',
    () => {
      const t0 = performance.now();
      const weights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
      const t1 = performance.now();
      const model = Gpt2Model.fromWeights(weights);
      weights.tensors.clear();
      ctx.log(`GPT-2-small random weights: generated in ${((t1 - t0) / 1000).toFixed(1)} s, uploaded in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      return model;
    },
    (m) => m.dispose(),
  );
}

/**
 * The GPT-2-small-shaped model on both engines from ONE set of random host weights (seed fixed):
 * the ort engine reads the host weights in place, tfjs uploads a copy. The caller disposes both.
 * For sections that compare the engines in one process (run them isolated: ~1.5 GB).
 */
export async function gpt2SmallPair(threads?: number): Promise<Record<EngineName, LanguageModel>> {
  const weights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
  const ort = await createLanguageModel(weights, { engine: 'ort', threads });
  const tfjs = Gpt2Model.fromWeights(weights);
  return { ort, tfjs };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export interface Timing {
  /** Median wall time of the timed runs, ms. */
  ms: number;
  times: number[];
}

/**
 * Wall time of `f` (which must finish its work synchronously, e.g. end in dataSync): `warmup`
 * untimed runs, then `reps` timed runs; the median is reported.
 */
export function timeIt(f: () => void, reps: number, warmup = 1): Timing {
  for (let i = 0; i < warmup; i++) f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), times };
}

/** CPU time (user + system) of this process so far, ms: less disturbed than wall time by other processes. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** GFLOP/s of `flops` floating-point operations done in `ms` milliseconds. */
export const gflops = (flops: number, ms: number): number => flops / ms / 1e6;

/** Wall time of an async `f` (which reads its result back): `warmup` untimed runs, then `reps` timed; median. */
export async function timeAsync(f: () => Promise<void>, reps: number, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), times };
}

/** Run `f` and read its result back (the backend's work is then done); dispose it. */
export function runSync(f: () => tf.Tensor): void {
  const t = f();
  t.dataSync();
  t.dispose();
}

/**
 * Peak process RSS while something runs, sampled every `everyMs` from a worker thread (the main
 * thread is blocked inside the backend's kernels, so a timer on it would not fire). RSS is
 * process-wide, so the worker's own few MB are included.
 */
export class RssSampler {
  private readonly shared = new BigInt64Array(new SharedArrayBuffer(16));
  private readonly worker: Worker;
  private constructor(everyMs: number) {
    Atomics.store(this.shared, 0, BigInt(process.memoryUsage.rss()));
    const code = `
      const { workerData } = require('node:worker_threads');
      const s = workerData.shared;
      const tick = () => {
        const r = BigInt(process.memoryUsage.rss());
        if (r > Atomics.load(s, 0)) Atomics.store(s, 0, r);
        if (Atomics.load(s, 1) === 0n) setTimeout(tick, workerData.everyMs);
      };
      tick();`;
    this.worker = new Worker(code, { eval: true, workerData: { shared: this.shared, everyMs } });
  }

  static async start(everyMs = 10): Promise<RssSampler> {
    const s = new RssSampler(everyMs);
    await new Promise((r) => setTimeout(r, 20)); // let the worker start sampling
    return s;
  }

  /** Stop sampling; returns the peak RSS in bytes (including a last sample taken here). */
  async stop(): Promise<number> {
    const last = BigInt(process.memoryUsage.rss());
    Atomics.store(this.shared, 1, 1n);
    await this.worker.terminate();
    const peak = Atomics.load(this.shared, 0);
    return Number(peak > last ? peak : last);
  }
}

/** Peak tf.memory().numBytes while `f` runs (tf.profile's kernel-by-kernel snapshot). */
export async function peakTensorBytes(f: () => void | Promise<void>): Promise<{ peak: number; before: number }> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    await f();
    return [];
  });
  return { peak: Math.max(before, info.peakBytes), before };
}

let gcFn: (() => void) | null | undefined;

/**
 * Collect garbage before a memory measurement, twice with a pause (V8 frees ArrayBuffer backing
 * stores, e.g. host weights already uploaded, on a background thread); a no-op where gc cannot be reached.
 */
export async function tryGc(): Promise<void> {
  if (gcFn === undefined) {
    gcFn = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gcFn) {
      try {
        const v8 = await import('node:v8');
        const vm = await import('node:vm');
        v8.setFlagsFromString('--expose-gc');
        gcFn = vm.runInNewContext('gc') as () => void;
      } catch {
        gcFn = null; // measurements then include uncollected garbage
      }
    }
  }
  for (let i = 0; i < 2 && gcFn; i++) {
    gcFn();
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const MB = 1024 * 1024;

/** 1-minute load average and the number of CPUs (to flag a disturbed measurement). */
export function load1(): number {
  return loadavg()[0];
}
