/**
 * The training harness shared by `spinbath lm train` (src/lm/train.ts) and `spinbath train`
 * (training/train.ts): the step loop, learning rates, evaluation, timing, --stop-after,
 * crash-safe checkpoints (through the trainer's `checkpoint`) and the loss log of a resumed run.
 * Each trainer supplies only its update, its evaluation and its checkpoint files.
 *
 * Device reads are batched: an update returns its loss and gradient norm as device scalars, and
 * the loop reads all pending ones in one transfer (readScalars, async, so it also runs on
 * webgpu) at every evaluation, every checkpoint, the last step and at least every `readEvery`
 * updates. The numbers are checked in step order before anything is evaluated or written: a
 * non-finite loss or gradient norm stops the run naming its step, with the last checkpoint (all
 * of whose steps were checked) kept. Results do not depend on readEvery.
 *
 * The first update of a session is read on its own: it pays for kernel compilation and warm-up,
 * so its time counts in the tally but not in the ETA (NaN until a second update is timed). A
 * --stop-after stop between evaluations evaluates once more, so the reported validation loss is
 * the one at the stop (reported, not logged: the log matches an uninterrupted run).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readScalars } from '../backend.js';
import type { LossLog } from '../plot/lossCurve.js';
import type { StepInfo, TrainProgress } from './trainProgress.js';

/** What one update leaves on the device: scalars the loop reads later and disposes. */
export interface DeviceStep {
  loss: tf.Tensor;
  gradNorm: tf.Tensor;
}

/** Seconds in updates and work units (samples, tokens) seen, over all sessions of a run. */
export interface Tally {
  trainS: number;
  units: number;
}

export interface LoopSpec<I extends StepInfo> {
  /** Updates done before this session (the optimizer's step). */
  startStep: number;
  /** training.steps of the config. */
  steps: number;
  /** Stop after this many updates (a checkpoint is written there), without finishing. */
  stopAfter?: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Read the device at least every this many updates (default 10). */
  readEvery?: number;
  /** Learning rate of update `s` (0-based). */
  lr(s: number): number;
  /** Run update `s` (0-based) at learning rate `lr`. */
  update(s: number, lr: number): DeviceStep | Promise<DeviceStep>;
  /** Validation loss of the current weights. */
  evaluate(): Promise<number>;
  /** Write the checkpoint after `step` updates (the tally and log are up to date). */
  checkpoint(step: number): Promise<void>;
  /** The loss log to extend (a resumed run's, or empty). */
  log: LossLog;
  tally: Tally;
  /** Work units (samples, tokens) per update. */
  unitsPerStep: number;
  /** The error for a non-finite number `what` at update `step` (1-based). */
  numericError(what: string, step: number): Error;
  progress?: TrainProgress<I>;
  /** The trainer's progress record from the common fields and the recent seconds per update. */
  info(base: StepInfo, secPerStep: number): I;
  /** Test hook: treat the loss of this (1-based) step as NaN. */
  nanLossAtStep?: number;
}

export interface LoopResult {
  /** Latest validation loss (null if none yet; at a --stop-after stop, the loss there). */
  valLoss: number | null;
  /** tf.memory().numTensors after the first read of this session (equal to the end's: no leak). */
  tensorsAfterFirst: number | null;
  /** Updates done at the end (the optimizer's step). */
  step: number;
}

interface Pending {
  step: number;
  lr: number;
  out: DeviceStep;
}

/** Run the updates from spec.startStep to min(steps, stopAfter); see the file comment. */
export async function runTrainingLoop<I extends StepInfo>(spec: LoopSpec<I>): Promise<LoopResult> {
  const endStep = Math.min(spec.steps, spec.stopAfter ?? spec.steps);
  const readEvery = Math.max(1, spec.readEvery ?? 10);
  const log = spec.log;
  let valLoss = log.val.at(-1)?.loss ?? null;
  if (spec.startStep === 0 && log.val.length === 0) {
    valLoss = await spec.evaluate();
    log.val.push({ step: 0, loss: valLoss });
  }
  let tensorsAfterFirst: number | null = null;
  const recent: number[] = []; // seconds of the last updates
  let pending: Pending[] = [];
  let since = performance.now(); // start of the updates not yet timed
  let step = spec.startStep;

  /**
   * Read, check and log the pending updates. `evaluation` 'logged': evaluate and log (the last
   * progress record is marked evaluated); 'reported': evaluate at a stop, not logged; 'none'.
   */
  const flush = async (evaluation: 'logged' | 'reported' | 'none'): Promise<void> => {
    const evaluated = evaluation === 'logged';
    const batch = pending;
    pending = [];
    let values: number[];
    try {
      values = await readScalars(batch.flatMap((p) => [p.out.loss, p.out.gradNorm]));
    } finally {
      tf.dispose(batch.flatMap((p) => [p.out.loss, p.out.gradNorm]));
    }
    const now = performance.now();
    const dt = (now - since) / 1000 / batch.length;
    since = now;
    const warmUp = tensorsAfterFirst === null; // the session's first read: the first update alone
    batch.forEach((p, i) => {
      let loss = values[2 * i];
      const gradNorm = values[2 * i + 1];
      if (spec.nanLossAtStep === p.step) loss = NaN;
      if (!Number.isFinite(loss)) throw spec.numericError(`the training loss is ${loss}`, p.step);
      if (!Number.isFinite(gradNorm)) throw spec.numericError(`the gradient norm is ${gradNorm}`, p.step);
      log.train.push({ step: p.step, loss, lr: p.lr, grad_norm: gradNorm });
      spec.tally.trainS += dt;
      if (!warmUp) recent.push(dt);
      if (recent.length > 20) recent.shift();
    });
    tensorsAfterFirst ??= tf.memory().numTensors;
    const valBefore = valLoss;
    if (evaluation !== 'none') {
      valLoss = await spec.evaluate();
      if (evaluated) log.val.push({ step: batch.at(-1)!.step, loss: valLoss });
      since = performance.now(); // evaluation time is not training time
    }
    const secPerStep = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : dt;
    batch.forEach((p, i) => {
      const last = i === batch.length - 1;
      const base: StepInfo = {
        step: p.step,
        steps: spec.steps,
        loss: log.train[log.train.length - batch.length + i].loss,
        lr: p.lr,
        valLoss: last ? valLoss : valBefore,
        evaluated: last && evaluated,
        etaS: recent.length > 0 ? secPerStep * (spec.steps - p.step) : NaN,
      };
      spec.progress?.step(spec.info(base, secPerStep));
    });
  };

  spec.progress?.start(step, spec.steps);
  try {
    while (step < endStep) {
      const lr = spec.lr(step);
      const out = await spec.update(step, lr);
      step += 1;
      spec.tally.units += spec.unitsPerStep;
      pending.push({ step, lr, out });
      const evaluated = step % spec.evalEvery === 0 || step === spec.steps;
      const checkpoint = step % spec.checkpointEvery === 0 || step === spec.steps || step === endStep;
      const stopHere = step === endStep && !evaluated; // a --stop-after stop between evaluations
      const first = step === spec.startStep + 1; // timed alone (warm-up)
      if (evaluated || checkpoint || first || pending.length >= readEvery) await flush(evaluated ? 'logged' : stopHere ? 'reported' : 'none');
      if (checkpoint) {
        await spec.checkpoint(step);
        since = performance.now();
      }
      await new Promise<void>((r) => setImmediate(r)); // let the progress bar and signals through
    }
  } finally {
    tf.dispose(pending.flatMap((p) => [p.out.loss, p.out.gradNorm]));
    spec.progress?.stop();
  }
  return { valLoss, tensorsAfterFirst, step };
}

/** Mean loss of the last min(20, n) logged updates (null when none). */
export function meanRecentLoss(log: LossLog): number | null {
  const last = log.train.slice(-20);
  return last.length ? last.reduce((a, e) => a + e.loss, 0) / last.length : null;
}
