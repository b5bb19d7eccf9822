/**
 * The KV cache of the ORT engine. Per layer, keys and values live in a host buffer
 * [batch, head, capacity, d_head] whose first `length` positions are filled (the rest zero); the
 * graph reads the whole buffer as `past_key.{l}` / `past_value.{l}` with the unfilled slots masked
 * out (src/model/ort/graph.ts) and returns only this call's keys and values
 * (`present_key.{l}` [batch, head, p, d_head]), which `append` writes in place. The capacity grows
 * by doubling, so a decoding step copies O(new positions), not the whole cache.
 */
import type { ModelCache } from '../engine.js';

export class OrtCache implements ModelCache {
  /** Keys per layer, [batch, head, capacity, d_head] row-major (empty before the first call). */
  k: Float32Array[];
  /** Values per layer, same layout. */
  v: Float32Array[];
  /** Filled positions. */
  length = 0;
  /** Batch rows (null when empty). */
  batch: number | null = null;
  /** Allocated positions per (row, head). */
  capacity = 0;
  /** The model this cache belongs to (an OrtGpt2 accepts only its own caches). */
  readonly owner: object;
  private readonly nHead: number;
  private readonly dHead: number;
  private readonly maxLength: number;

  constructor(owner: object, dims: { nLayer: number; nHead: number; dHead: number; nPositions: number }) {
    this.owner = owner;
    this.nHead = dims.nHead;
    this.dHead = dims.dHead;
    this.maxLength = dims.nPositions;
    this.k = Array.from({ length: dims.nLayer }, () => new Float32Array(0));
    this.v = Array.from({ length: dims.nLayer }, () => new Float32Array(0));
  }

  /** Dims of the buffers fed as past_key/past_value for a call of `batch` rows. */
  pastDims(batch: number): number[] {
    return [batch, this.nHead, this.capacity, this.dHead];
  }

  /**
   * Write this call's keys and values of every layer (each [batch, head, p, d_head]) after the
   * filled positions, growing the buffers first if needed; then length += p.
   */
  append(newK: readonly Float32Array[], newV: readonly Float32Array[], batch: number, p: number): void {
    const [H, dh] = [this.nHead, this.dHead];
    const need = this.length + p;
    if (need > this.capacity) this.grow(batch, Math.min(this.maxLength, Math.max(need, 2 * this.capacity, 8)));
    this.batch = batch;
    const rows = batch * H; // one (row, head) pair per contiguous run of capacity·dh floats
    for (let l = 0; l < this.k.length; l++) {
      for (const [buf, add] of [
        [this.k[l], newK[l]],
        [this.v[l], newV[l]],
      ] as const) {
        for (let r = 0; r < rows; r++) buf.set(add.subarray(r * p * dh, (r + 1) * p * dh), (r * this.capacity + this.length) * dh);
      }
    }
    this.length = need;
  }

  /** A new cache whose single row (batch 1) is repeated `rows` times; this cache stays valid. */
  tile(rows: number): OrtCache {
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`tile: rows must be a positive integer, got ${rows}`);
    if (this.batch !== null && this.batch !== 1) throw new Error(`tile: only a cache of batch 1 can be tiled (this one holds ${this.batch} rows)`);
    const out = new OrtCache(this.owner, { nLayer: this.k.length, nHead: this.nHead, dHead: this.dHead, nPositions: this.maxLength });
    const rep = (t: Float32Array) => {
      const data = new Float32Array(t.length * rows);
      for (let r = 0; r < rows; r++) data.set(t, r * t.length);
      return data;
    };
    out.k = this.k.map(rep);
    out.v = this.v.map(rep);
    out.length = this.length;
    out.capacity = this.capacity;
    out.batch = this.batch === null ? null : rows;
    return out;
  }

  dispose(): void {
    this.k = this.k.map(() => new Float32Array(0));
    this.v = this.v.map(() => new Float32Array(0));
    [this.length, this.capacity, this.batch] = [0, 0, null];
  }

  /** Reallocate every buffer with `capacity` positions per (row, head), keeping the filled ones. */
  private grow(batch: number, capacity: number): void {
    const [H, dh] = [this.nHead, this.dHead];
    const move = (old: Float32Array) => {
      const buf = new Float32Array(batch * H * capacity * dh);
      if (this.length > 0)
        for (let r = 0; r < batch * H; r++) buf.set(old.subarray(r * this.capacity * dh, (r * this.capacity + this.length) * dh), r * capacity * dh);
      return buf;
    };
    this.k = this.k.map(move);
    this.v = this.v.map(move);
    this.capacity = capacity;
  }
}
