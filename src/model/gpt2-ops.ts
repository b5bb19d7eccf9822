/**
 * Building blocks of the tfjs GPT-2 forward (src/model/gpt2.ts): the embedding lookup with a
 * scatter-add gradient, the MLP activations, the KV cache (the tfjs engine's ModelCache), and
 * left truncation of token ids.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { ModelCache } from './engine.js';

/**
 * Embedding lookup table[ids] whose gradient w.r.t. the table is the scatter-add of dy's rows into
 * the rows ids (tf.scatterND sums duplicate indices): tf.gather's own gradient needs
 * UnsortedSegmentSum, which tfjs-wasm lacks, and a oneHot(ids)ᵀ·dy product costs n·vocab·d.
 * No gradient w.r.t. ids. table [vocab, d], ids int32 [n] → [n, d].
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const vocab = table.shape[0] as number;
  const lookup = tf.customGrad(((t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([ids]);
    return {
      value: tf.gather(t, ids), // [n, d]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const n = saved[0].shape[0] as number;
        return [tf.scatterND(tf.reshape(saved[0], [n, 1]), dy, [vocab, dy.shape[1] as number])]; // [vocab, d]
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as unknown as (t: tf.Tensor) => tf.Tensor;
  return lookup(table);
}

/** Keep the last `n` tokens (of one prompt, or of every row of a batch): `--truncate left`. */
export function truncateLeft(ids: number[], n: number): number[];
export function truncateLeft(ids: number[][], n: number): number[][];
export function truncateLeft(ids: number[] | number[][], n: number): number[] | number[][] {
  const cut = (row: number[]) => (row.length > n ? row.slice(row.length - n) : row.slice());
  return ids.length > 0 && Array.isArray(ids[0]) ? (ids as number[][]).map(cut) : cut(ids as number[]);
}

/** Per-layer keys and values [batch, head, pos, d_head] for incremental decoding (the tfjs engine's ModelCache). */
export class KVCache implements ModelCache {
  k: (tf.Tensor | null)[];
  v: (tf.Tensor | null)[];
  constructor(nLayer: number) {
    this.k = new Array<tf.Tensor | null>(nLayer).fill(null);
    this.v = new Array<tf.Tensor | null>(nLayer).fill(null);
  }
  /** Number of cached positions (0 when empty). */
  get length(): number {
    return (this.k[0]?.shape[2] as number | undefined) ?? 0;
  }
  get batch(): number | null {
    return (this.k[0]?.shape[0] as number | undefined) ?? null;
  }
  /** A new cache holding this cache's single row repeated `rows` times (a prompt prefilled once, sampled `rows` times). */
  tile(rows: number): KVCache {
    if (this.batch !== null && this.batch !== 1) throw new UserError('E_INPUT', `only a cache of batch 1 can be tiled; this one holds ${this.batch} rows`);
    if (!Number.isInteger(rows) || rows < 1) throw new UserError('E_INPUT', `rows must be a positive integer, got ${rows}`);
    const out = new KVCache(this.k.length);
    const rep = (t: tf.Tensor | null) => (t ? tf.keep(tf.tile(t, [rows, 1, 1, 1])) : null); // [rows, head, pos, d_head]
    for (let l = 0; l < this.k.length; l++) [out.k[l], out.v[l]] = [rep(this.k[l]), rep(this.v[l])];
    return out;
  }
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
  }
}

/** A cache passed through the engine contract must be this engine's own (a KVCache); UserError E_INPUT otherwise. */
export function kvCache(cache: ModelCache | undefined): KVCache | undefined {
  if (cache === undefined || cache instanceof KVCache) return cache;
  throw new UserError('E_INPUT', "the cache was made by another engine; use the cache from this model's newCache()");
}

/** The MLP activation named by config.activation_function. */
export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu_new':
    case 'gelu_fast':
    case 'gelu_pytorch_tanh':
      return geluTanh;
    case 'gelu':
      return (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))); // exact (erf)
    case 'relu':
      return (x) => tf.relu(x);
    default:
      throw new UserError('E_CONFIG', `activation_function '${name}' is not supported; use gelu_new, gelu or relu`);
  }
}

/**
 * gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·sigmoid(2·√(2/π)·(x + 0.044715·x³))
 * (the same function: 0.5·(1 + tanh u) = sigmoid(2u)). tfjs-wasm's Tanh is a scalar loop ~6x slower
 * than its XNNPack Sigmoid; the two forms agree to float rounding.
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(inner));
}

/**
 * A Map of tensors some of whose entries are built on first read: `get(name)` builds that entry
 * only; iterating (entries, values, forEach, for…of) builds them all. `has`, `keys` and `size`
 * build nothing. (How `Gpt2Model.params()` avoids copying every TransformerLens view to read one.)
 */
export class LazyTensorMap extends Map<string, tf.Tensor> {
  private readonly pending = new Map<string, () => tf.Tensor>();

  /** An empty map (no initial entries: add them with `set` or `defer`). */
  constructor() {
    super();
  }

  /** Add `name`, built by `make` when first read (its position in the iteration order is fixed now). */
  defer(name: string, make: () => tf.Tensor): this {
    this.pending.set(name, make);
    return super.set(name, null as unknown as tf.Tensor);
  }

  override set(name: string, t: tf.Tensor): this {
    this.pending.delete(name);
    return super.set(name, t);
  }

  override get(name: string): tf.Tensor | undefined {
    const make = this.pending.get(name);
    if (make) this.set(name, make());
    return super.get(name);
  }

  private buildAll(): void {
    for (const name of [...this.pending.keys()]) this.get(name);
  }

  override entries(): ReturnType<Map<string, tf.Tensor>['entries']> {
    this.buildAll();
    return super.entries();
  }

  override values(): ReturnType<Map<string, tf.Tensor>['values']> {
    this.buildAll();
    return super.values();
  }

  override [Symbol.iterator](): ReturnType<Map<string, tf.Tensor>['entries']> {
    this.buildAll();
    return super[Symbol.iterator]();
  }

  override forEach(fn: (value: tf.Tensor, key: string, map: Map<string, tf.Tensor>) => void, thisArg?: unknown): void {
    this.buildAll();
    super.forEach(fn, thisArg);
  }
}
