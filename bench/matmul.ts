/**
 * Section `matmul`: the backend's own large-matmul throughput (tf.matMul, no transposes), the
 * reference the forward pass is measured against. 2·n·k·m FLOPs per [n,k]·[k,m] product.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cpuMs, gflops, median, timeIt, type BenchContext, type BenchRow, type Section } from './common.js';

export const MATMUL_SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [2048, 768, 768],
];

export interface MatmulFigures {
  /** Per shape "nxkxm": median ms and GFLOP/s. */
  shapes: { shape: [number, number, number]; ms: number; gflops: number; cpuGflops: number; times: number[] }[];
  /** The reference for the forward pass: the best of the shapes' medians (the stricter comparison). */
  reference: number;
  /** The same from this process's CPU time (less disturbed when other processes share the cores). */
  referenceCpu: number;
}

function measureOne([n, k, m]: [number, number, number], reps: number): MatmulFigures['shapes'][number] {
  const a = tf.randomNormal([n, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, m], 0, 1, 'float32', 2);
  const cpu: number[] = [];
  try {
    const t = timeIt(
      () => {
        const c0 = cpuMs();
        const c = tf.matMul(a, b);
        c.dataSync();
        c.dispose();
        cpu.push(cpuMs() - c0);
      },
      reps,
      2,
    );
    const cpuMedian = median(cpu.slice(2)); // without the warm-ups
    return { shape: [n, k, m], ms: t.ms, gflops: gflops(2 * n * k * m, t.ms), cpuGflops: gflops(2 * n * k * m, cpuMedian), times: t.times };
  } finally {
    tf.dispose([a, b]);
  }
}

/** Measured once per run and shared (the forward section needs the reference too). */
export function matmulFigures(ctx: BenchContext): Promise<MatmulFigures> {
  return ctx.shared('matmul', () => {
    const shapes = MATMUL_SHAPES.map((s) => measureOne(s, 7));
    return { shapes, reference: Math.max(...shapes.map((s) => s.gflops)), referenceCpu: Math.max(...shapes.map((s) => s.cpuGflops)) };
  });
}

export const matmulSection: Section = {
  name: 'matmul',
  description: "the backend's large-matmul GFLOP/s (median of 7 after 2 warm-ups)",
  async run(ctx) {
    const f = await matmulFigures(ctx);
    const rows: BenchRow[] = f.shapes.map((s) => ({
      name: `matMul ${s.shape.join('×')}`,
      value: s.gflops,
      unit: 'GFLOP/s',
      note: `${s.ms.toFixed(1)} ms (${s.cpuGflops.toFixed(1)} GFLOP/s in CPU time)`,
    }));
    rows.push({ name: 'reference (best of the above)', value: f.reference, unit: 'GFLOP/s', note: `${f.referenceCpu.toFixed(1)} GFLOP/s in CPU time` });
    return { rows, data: { ...f } };
  },
};
