/**
 * The training harness (src/io/trainLoop.ts) on a scripted update: the log, evaluations,
 * checkpoints and progress records do not depend on how often the device is read; a non-finite
 * loss or gradient norm stops the run naming its step before any later checkpoint; stop-after and
 * a resumed start; no tensors left behind.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { runTrainingLoop, type LoopSpec } from '../../src/io/trainLoop.js';
import type { StepInfo } from '../../src/io/trainProgress.js';
import type { LossLog } from '../../src/plot/lossCurve.js';

beforeAll(async () => {
  await useBackend('wasm');
});

interface Trace {
  log: LossLog;
  checkpoints: number[];
  evaluations: number;
  progress: StepInfo[];
  starts: [number, number][];
}

/** Loss of update s (0-based): 1/(s+1); gradient norm s + 0.5; `bad` makes one of them non-finite. */
async function run(o: {
  readEvery?: number;
  start?: number;
  stopAfter?: number;
  bad?: { step: number; what: 'loss' | 'grad' };
}): Promise<Trace & { error?: Error }> {
  const t: Trace = { log: { train: [], val: [] }, checkpoints: [], evaluations: 0, progress: [], starts: [] };
  const spec: LoopSpec<StepInfo> = {
    startStep: o.start ?? 0,
    steps: 12,
    stopAfter: o.stopAfter,
    evalEvery: 4,
    checkpointEvery: 5,
    readEvery: o.readEvery,
    lr: (s) => 0.1 * (s + 1),
    update: (s) => {
      const bad = o.bad && o.bad.step === s + 1;
      return { loss: tf.scalar(bad && o.bad!.what === 'loss' ? NaN : 1 / (s + 1)), gradNorm: tf.scalar(bad && o.bad!.what === 'grad' ? Infinity : s + 0.5) };
    },
    evaluate: async () => {
      t.evaluations++;
      return 10 + t.log.train.length;
    },
    checkpoint: async (step) => {
      // every step up to here has been read and checked
      expect(t.log.train.at(-1)?.step).toBe(step);
      t.checkpoints.push(step);
    },
    log: t.log,
    tally: { trainS: 0, units: 0 },
    unitsPerStep: 8,
    numericError: (what, step) => new Error(`${what} at step ${step}`),
    progress: { start: (a, b) => t.starts.push([a, b]), step: (p) => t.progress.push(p), stop: () => {} },
    info: (base) => base,
  };
  try {
    await runTrainingLoop(spec);
  } catch (e) {
    return { ...t, error: e as Error };
  }
  return t;
}

describe('runTrainingLoop', () => {
  it('keeps the first update of a session (warm-up) out of the ETA', async () => {
    for (const readEvery of [1, 100]) {
      const r = await run({ readEvery });
      expect(r.progress[0].etaS).toBeNaN();
      for (const p of r.progress.slice(1)) expect(Number.isFinite(p.etaS) && p.etaS >= 0).toBe(true);
      expect(r.progress.at(-1)!.etaS).toBe(0);
    }
    const resumed = await run({ start: 7 });
    expect(resumed.progress[0]).toMatchObject({ step: 8 });
    expect(resumed.progress[0].etaS).toBeNaN();
  });

  it('logs every update, evaluates and checkpoints at the same steps whatever the read interval', async () => {
    const n0 = tf.memory().numTensors;
    const ref = await run({ readEvery: 1 });
    expect(ref.log.train.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(ref.log.train[2]).toEqual({ step: 3, loss: Math.fround(1 / 3), lr: 0.30000000000000004, grad_norm: 2.5 });
    expect(ref.log.val.map((e) => e.step)).toEqual([0, 4, 8, 12]);
    expect(ref.checkpoints).toEqual([5, 10, 12]);
    expect(ref.progress.map((p) => p.step)).toEqual(ref.log.train.map((e) => e.step));
    expect(ref.progress.filter((p) => p.evaluated).map((p) => p.step)).toEqual([4, 8, 12]);
    for (const readEvery of [3, 100]) {
      const r = await run({ readEvery });
      expect(r.log).toEqual(ref.log);
      expect(r.checkpoints).toEqual(ref.checkpoints);
      expect(r.progress.map(({ etaS: _e, ...p }) => p)).toEqual(ref.progress.map(({ etaS: _e, ...p }) => p));
    }
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('stops at a non-finite loss or gradient norm, naming the step, before the next checkpoint', async () => {
    const n0 = tf.memory().numTensors;
    for (const what of ['loss', 'grad'] as const) {
      const r = await run({ readEvery: 100, bad: { step: 7, what } });
      expect(r.error?.message).toBe(what === 'loss' ? 'the training loss is NaN at step 7' : 'the gradient norm is Infinity at step 7');
      expect(r.checkpoints).toEqual([5]);
      expect(r.log.train.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('stops after --stop-after with a checkpoint there, and a resumed start skips the initial evaluation', async () => {
    const a = await run({ stopAfter: 7 });
    expect(a.checkpoints).toEqual([5, 7]);
    expect(a.log.train.at(-1)?.step).toBe(7);
    // the stop between evaluations evaluates once more: reported at the stop, not logged
    expect(a.evaluations).toBe(3);
    expect(a.log.val.map((e) => e.step)).toEqual([0, 4]);
    expect(a.progress.at(-1)).toMatchObject({ step: 7, valLoss: 17, evaluated: false });
    expect(a.progress.at(-2)).toMatchObject({ step: 6, valLoss: 14 });
    const b = await run({ start: 7 });
    expect(b.starts).toEqual([[7, 12]]);
    expect(b.log.train.map((e) => e.step)).toEqual([8, 9, 10, 11, 12]);
    expect(b.log.val.map((e) => e.step)).toEqual([8, 12]);
    expect(b.checkpoints).toEqual([10, 12]);
  });
});
