/**
 * `params()` of the ORT engine: the TransformerLens-named parameters (C's `tlParamsFromHost`) as
 * tf.Tensors, uploaded one by one on first access, so that e.g. the guided sampler reading
 * `embed.W_E` does not copy every weight into tfjs. Iterating uploads everything.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tlParamsFromHost, transformerLensShapes, type Gpt2Weights, type HostTensor } from '../weights.js';

export class LazyParams extends Map<string, tf.Tensor> {
  private host: Map<string, HostTensor> | null = null;
  private readonly pending: Set<string>;

  constructor(private readonly weights: Gpt2Weights) {
    super();
    this.pending = new Set(transformerLensShapes(weights.config).keys());
  }

  override get(name: string): tf.Tensor | undefined {
    if (this.pending.has(name)) {
      this.host ??= tlParamsFromHost(this.weights);
      const t = this.host.get(name)!;
      super.set(name, tf.keep(tf.tensor(t.data, t.shape)));
      this.pending.delete(name);
      if (this.pending.size === 0) this.host = null;
    }
    return super.get(name);
  }

  override has(name: string): boolean {
    return this.pending.has(name) || super.has(name);
  }

  override get size(): number {
    return this.pending.size + super.size;
  }

  override entries(): ReturnType<Map<string, tf.Tensor>['entries']> {
    this.uploadAll();
    return super.entries();
  }

  override keys(): ReturnType<Map<string, tf.Tensor>['keys']> {
    this.uploadAll();
    return super.keys();
  }

  override values(): ReturnType<Map<string, tf.Tensor>['values']> {
    this.uploadAll();
    return super.values();
  }

  override forEach(fn: (value: tf.Tensor, key: string, map: Map<string, tf.Tensor>) => void): void {
    this.uploadAll();
    super.forEach(fn);
  }

  override [Symbol.iterator](): ReturnType<Map<string, tf.Tensor>['entries']> {
    return this.entries();
  }

  private uploadAll(): void {
    for (const name of [...this.pending]) this.get(name);
  }

  /** Dispose what was uploaded. */
  disposeAll(): void {
    for (const t of super.values()) t.dispose();
    super.clear();
  }
}
