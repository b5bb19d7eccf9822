/**
 * AdamW, written by hand on tf tensors (tfjs has no AdamW, and its optimizers' state is awkward
 * to checkpoint exactly), with the learning-rate schedule and global-norm gradient clipping.
 *
 * One update at step t = 1, 2, … (PyTorch's torch.optim.AdamW, decoupled weight decay):
 *
 *   g ← g · min(1, clip / (‖g‖ + 1e-6))        ‖g‖ the global L2 norm over all parameters (clip > 0)
 *   θ ← θ · (1 − lr·λ)                          only for decayed parameters (below)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 *
 * Weight decay applies to parameters of rank ≥ 2 (every weight matrix, the token and position
 * embeddings, an untied unembedding); rank-1 parameters (LayerNorm gains and biases, all biases)
 * are not decayed. This is nanoGPT's rule (`p.dim() >= 2`), decided by rank, not by name.
 *
 * State (m, v per parameter, and the step count t) round-trips exactly through safetensors (fp32).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readData } from '../backend.js';
import { UserError } from '../errors.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import type { HostTensor } from '../model/weights.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global-norm clipping threshold; 0 turns clipping off. */
  gradClip: number;
}

export interface ScheduleOptions {
  lr: number;
  minLr: number;
  warmupSteps: number;
  steps: number;
}

/**
 * Learning rate of update `step` (0-based): linear warm-up lr·(step+1)/warmup for step < warmup,
 * then cosine decay from lr (at step = warmup) to minLr (at the last step, steps − 1):
 * minLr + ½(lr − minLr)(1 + cos(π·(step − warmup)/(steps − 1 − warmup))). minLr after that.
 */
export function lrAt(step: number, s: ScheduleOptions): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = s.steps - 1 - s.warmupSteps;
  if (span <= 0) return s.lr;
  const ratio = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * ratio));
}

/** Whether a parameter gets weight decay: rank ≥ 2 (matrices and embeddings), not LN weights or biases. */
export function isDecayed(shape: readonly number[]): boolean {
  return shape.length >= 2;
}

export interface UpdateInfo {
  /** Global gradient norm before clipping (a device scalar; the caller reads and disposes it). */
  gradNorm: tf.Scalar;
  /** Factor the gradients were scaled by (a device scalar, 1 when not clipped; the caller disposes it). */
  clipScale: tf.Scalar;
}

/** AdamW's m, v (host, fp32) and step: what a checkpoint writes (writeAdamwState). */
export interface AdamwState {
  step: number;
  tensors: Map<string, HostTensor>;
}

/** Write an AdamW state (fp32, the step in the safetensors metadata) to `path`, atomically. */
export function writeAdamwState(path: string, s: AdamwState): void {
  writeSafetensors(path, s.tensors, { dtype: 'F32', metadata: { format: 'spinbath-adamw', step: String(s.step) } });
}

export class AdamW {
  /** Updates done so far (t of the last update). */
  step = 0;
  readonly params: Map<string, tf.Variable>;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    params: Map<string, tf.Variable>,
    readonly opts: AdamWOptions,
  ) {
    this.params = params;
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * Global L2 norm over `grads`, a device scalar (no read). The per-tensor sums are stacked, not
   * added with tf.addN: addN binds every input to one shader, and WebGPU devices allow only a few
   * storage buffers per stage (8 by default), while concat/stack splits its inputs to fit.
   */
  static globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
    return tf.tidy(() => tf.sqrt(tf.sum(tf.stack([...grads].map((g) => tf.sum(tf.square(g))))))) as tf.Scalar; // scalar
  }

  /**
   * One AdamW update with gradients by parameter name (every parameter needs one) and learning
   * rate `lr`. Nothing is read from the device: the clip factor is computed there, and a
   * non-finite gradient norm (returned) is for the caller to check (src/io/trainLoop.ts does).
   */
  update(grads: Map<string, tf.Tensor>, lr: number): UpdateInfo {
    for (const name of this.params.keys()) if (!grads.has(name)) throw new Error(`AdamW.update: no gradient for ${name}`);
    const { beta1, beta2, eps, weightDecay, gradClip } = this.opts;
    const gradNorm = AdamW.globalNorm(grads.values());
    // g ← g · min(1, clip / (‖g‖ + 1e-6)), on the device
    const clipScale = tf.tidy(() => (gradClip > 0 ? tf.minimum(1, tf.div(gradClip, tf.add(gradNorm, 1e-6))) : tf.scalar(1))) as tf.Scalar;
    const t = this.step + 1;
    const stepSize = lr / (1 - beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
    for (const [name, p] of this.params) {
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      tf.tidy(() => {
        const g = gradClip > 0 ? tf.mul(grads.get(name)!, clipScale) : grads.get(name)!; // [param]
        const decayed = weightDecay > 0 && isDecayed(p.shape) ? tf.mul(p, 1 - lr * weightDecay) : p; // [param]
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)); // [param]
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)); // [param]
        const denom = tf.add(tf.div(tf.sqrt(v1), sqrtBc2), eps); // [param]
        m.assign(m1);
        v.assign(v1);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), stepSize))); // [param]
      });
    }
    this.step = t;
    return { gradNorm, clipScale };
  }

  /** m and v on the host (one async read each), named `m.<param>` and `v.<param>`, with the step. */
  async state(): Promise<AdamwState> {
    const tensors = new Map<string, HostTensor>();
    const step = this.step;
    for (const [kind, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const) {
      for (const [name, t] of map) tensors.set(`${kind}.${name}`, { shape: [...t.shape], data: Float32Array.from(await readData(t)) });
    }
    return { step, tensors };
  }

  /** Write m, v (fp32) and the step count (in the safetensors metadata) to `path`, atomically. */
  async save(path: string): Promise<void> {
    writeAdamwState(path, await this.state());
  }

  /** Restore m, v and the step from a file written by `save`; throws a UserError naming what is wrong. */
  load(path: string): void {
    const f = readSafetensors(path);
    const step = Number(f.metadata.step);
    if (f.metadata.format !== 'spinbath-adamw' || !Number.isInteger(step) || step < 0) {
      throw new UserError('E_CHECKPOINT', `${path} is not an AdamW state file (metadata format/step missing); the checkpoint is corrupt`);
    }
    const loaded: [tf.Variable, Float32Array][] = [];
    for (const [kind, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const) {
      for (const [name, t] of map) {
        const key = `${kind}.${name}`;
        const e = f.entries.get(key);
        if (!e) throw new UserError('E_CHECKPOINT', `${path} lacks optimizer tensor '${key}'; the checkpoint does not match this model`);
        if (e.shape.join(',') !== t.shape.join(',')) {
          throw new UserError('E_CHECKPOINT', `${path}: optimizer tensor '${key}' has shape [${e.shape}], the model needs [${t.shape}]`);
        }
        loaded.push([t, f.read(key).data]);
      }
    }
    for (const [t, data] of loaded) tf.tidy(() => t.assign(tf.tensor(data, t.shape)));
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
