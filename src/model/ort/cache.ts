/**
 * The KV cache of the ORT engine: per layer the keys and values [batch, head, pos_k, d_head] that the
 * graph returned as `present_key.{l}` / `present_value.{l}`, held as host Float32Arrays and fed back
 * as `past_key.{l}` / `past_value.{l}` on the next call (src/model/ort/graph.ts).
 */
import type { ModelCache } from '../engine.js';

/** One cached tensor: row-major data and its dims [batch, head, pos_k, d_head]. */
export interface CachedTensor {
  data: Float32Array;
  dims: readonly number[];
}

export class OrtCache implements ModelCache {
  /** Keys per layer (null when empty). */
  k: (CachedTensor | null)[];
  /** Values per layer (null when empty). */
  v: (CachedTensor | null)[];
  /** The model this cache belongs to (an OrtGpt2 accepts only its own caches). */
  readonly owner: object;

  constructor(owner: object, nLayer: number) {
    this.owner = owner;
    this.k = new Array<CachedTensor | null>(nLayer).fill(null);
    this.v = new Array<CachedTensor | null>(nLayer).fill(null);
  }

  get length(): number {
    return this.k[0]?.dims[2] ?? 0;
  }

  get batch(): number | null {
    return this.k[0]?.dims[0] ?? null;
  }

  /** A new cache whose single row (batch 1) is repeated `rows` times; this cache stays valid. */
  tile(rows: number): OrtCache {
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`tile: rows must be a positive integer, got ${rows}`);
    if (this.batch !== null && this.batch !== 1) throw new Error(`tile: only a cache of batch 1 can be tiled (this one holds ${this.batch} rows)`);
    const out = new OrtCache(this.owner, this.k.length);
    const rep = (t: CachedTensor | null): CachedTensor | null => {
      if (!t) return null;
      const data = new Float32Array(t.data.length * rows);
      for (let r = 0; r < rows; r++) data.set(t.data, r * t.data.length);
      return { data, dims: [rows, ...t.dims.slice(1)] };
    };
    out.k = this.k.map(rep);
    out.v = this.v.map(rep);
    return out;
  }

  dispose(): void {
    this.k.fill(null);
    this.v.fill(null);
  }
}
