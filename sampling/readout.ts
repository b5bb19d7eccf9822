/**
 * Token readout of the guided sampler (Bhattacharjee & Lee, Sec. V D: "a nearest-neighbour lookup
 * in embedding space then yields the next token"). The token spins are the unit rows of the token
 * embedding W_E; the final spin S [n, d] is scored against all of them by cosine, S·ê_t, with one
 * matmul against ÊT = [ê_t]ᵀ [d, vocab], normalised and explicitly transposed once at construction.
 * The matmul runs on the host in the WASM SIMD gemm of src/core/kernels (ÊT lives in the readout's
 * own kernel memory, in cache-sized column panels), which sums each cosine in the same order as
 * tfjs-wasm's matMul and so gives the same float32 bits (tested), without a tensor round trip.
 *
 *   nearest   argmax_t S·ê_t (a top-2 scan: the chosen token and the runner-up, ties to the lower id)
 *   softmax   t ~ softmax(S·ê_t / T_r) at a temperature T_r, drawn on the host from the seeded RNG
 *
 * Excluded tokens (special tokens such as <|endoftext|>) get a bias of −4 (cosines lie in [−1, 1],
 * so they never win the nearest readout) and probability 0 in the softmax readout.
 * Cost: one [n, d]×[d, vocab] matmul and a top-2 scan (nearest), or the [n, vocab] cosines
 * (softmax): below one unembedding matmul (bench/sample.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { WasmKernels } from '../src/core/kernels/wasm.js';
import type { Rng } from '../src/rng.js';

// The names live with the other option families in sampling/choices.ts (light, for --help).
export { READOUTS, type ReadoutKind } from './options.js';
import type { ReadoutKind } from './options.js';

/** The tokens read out of a batch of spins, with the cosine of the chosen token and the runner-up and its cosine. */
export interface ReadoutResult {
  /** Chosen token per row. */
  ids: number[];
  /** cos(S, ê_chosen) per row. */
  cosChosen: number[];
  /** The best other (non-excluded) token and its cosine per row. */
  runnerUp: number[];
  cosRunnerUp: number[];
}

const EXCLUDED_BIAS = -4;

/** Reads spins out as tokens against the unit token spins of an embedding matrix (BL Sec. V D). */
/** Readouts by token-spin tensor and excluded ids (see `TokenReadout.shared`). */
const sharedReadouts = new WeakMap<tf.Tensor, Map<string, TokenReadout>>();

export class TokenReadout {
  readonly vocab: number;
  readonly d: number;
  private readonly excluded: Uint8Array; // [vocab] 1 = excluded
  private readonly excludedIds: number[];
  /**
   * The host kernels holding ÊT in column panels: panel q is the [d, P] block of token columns
   * q·P .. q·P + P − 1 (zero past the vocabulary), stored contiguously, so that one gemm call per
   * panel keeps its block in cache for all n rows (one pass over ÊT per readout, not one per 4 rows).
   * Each cosine is still summed over d in order, so the bits do not depend on P.
   */
  private readonly k = new WasmKernels();
  /** Panel width (a multiple of 8, d·P floats ≤ 64 KiB floats) and panel count. */
  private readonly P: number;
  private readonly panels: number;
  private readonly pET: number;
  private readonly pZero: number;
  /** Allocation mark after ÊT: each scoring pass frees back to it. */
  private readonly base: number;
  private disposed = false;

  /** tokenSpins [vocab, d] (raw embeddings; normalised here, not disposed); `exclude` token ids. */
  constructor(tokenSpins: tf.Tensor, exclude: Iterable<number> = []) {
    const [vocab, d] = tokenSpins.shape as [number, number];
    this.vocab = vocab;
    this.d = d;
    this.excluded = new Uint8Array(vocab);
    for (const t of exclude) if (Number.isInteger(t) && t >= 0 && t < vocab) this.excluded[t] = 1;
    if (this.excluded.every((x) => x === 1)) throw new RangeError('every token is excluded from the readout');
    this.excludedIds = [...this.excluded.keys()].filter((t) => this.excluded[t]);
    const ET = tf.tidy(() => {
      const norm = tf.maximum(tf.norm(tokenSpins, 'euclidean', -1, true), 1e-12); // [vocab, 1]
      return tf.transpose(tf.div(tokenSpins, norm)); // [d, vocab]
    });
    const et = ET.dataSync() as Float32Array; // [d·vocab]
    ET.dispose();
    const P = (this.P = Math.max(8, Math.floor(65536 / d / 8) * 8));
    this.panels = Math.ceil(vocab / P);
    this.pET = this.k.alloc(this.panels * d * P);
    this.pZero = this.k.alloc(P);
    this.base = this.k.mark();
    const host = this.k.f32(this.pET, this.panels * d * P); // [panels, d, P]
    host.fill(0);
    for (let q = 0; q < this.panels; q++) {
      const [t0, t1] = [q * P, Math.min(vocab, (q + 1) * P)];
      for (let r = 0; r < d; r++) host.set(et.subarray(r * vocab + t0, r * vocab + t1), (q * d + r) * P);
    }
    this.k.f32(this.pZero, P).fill(0);
  }

  /**
   * The readout of `tokenSpins` excluding `exclude`, built once and shared while the tensor lives
   * (building one normalises, transposes and lays out the whole embedding: for GPT-2 small 154 MB
   * of fresh memory per build). Do not dispose a shared readout.
   */
  static shared(tokenSpins: tf.Tensor, exclude: readonly number[] = []): TokenReadout {
    let byExclusion = sharedReadouts.get(tokenSpins);
    if (!byExclusion) sharedReadouts.set(tokenSpins, (byExclusion = new Map()));
    const key = [...exclude].sort((a, b) => a - b).join(',');
    let ro = byExclusion.get(key);
    if (!ro) byExclusion.set(key, (ro = new TokenReadout(tokenSpins, exclude)));
    return ro;
  }

  /**
   * The cosines of n unit rows S [n·d] against every token, in the kernel memory: [panels, n, P]
   * (token t of row i at ((t / P | 0)·n + i)·P + t mod P), a view valid until the next call.
   * Excluded tokens do not carry the bias yet.
   */
  private cosines(S: Float32Array, n: number): Float32Array {
    if (this.disposed) throw new Error('TokenReadout: used after dispose');
    const { k, d, P, panels } = this;
    if (S.length !== n * d) throw new RangeError(`readout: ${S.length} spin values for ${n} rows of d = ${d}`);
    k.reset(this.base);
    const pS = k.alloc(n * d);
    const pC = k.alloc(panels * n * P);
    k.f32(pS, n * d).set(S);
    for (let q = 0; q < panels; q++) k.gemm(pS, this.pET + 4 * q * d * P, this.pZero, 0, pC + 4 * q * n * P, n, d, P); // S·ÊT_q [n, P]
    return k.f32(pC, panels * n * P);
  }

  /** Cosines S·ê_t [n·vocab] of host rows S [n·d] (a new array); excluded tokens carry the −4 bias. */
  scoresRows(S: Float32Array, n: number): Float32Array {
    const C = this.cosines(S, n); // [panels, n, P]
    const { vocab: V, P } = this;
    const out = new Float32Array(n * V);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < this.panels; q++) {
        const o = (q * n + i) * P;
        out.set(C.subarray(o, o + Math.min(P, V - q * P)), i * V + q * P);
      }
      for (const t of this.excludedIds) out[i * V + t] += EXCLUDED_BIAS; // float32, as tf.add
    }
    return out;
  }

  /** Cosines S·ê_t [n, vocab] (S unit rows [n, d]); excluded tokens carry the −4 bias. */
  scores(S: tf.Tensor): tf.Tensor {
    const n = S.shape[0];
    return tf.tensor2d(this.scoresRows(S.dataSync() as Float32Array, n), [n, this.vocab]);
  }

  /** Nearest token by cosine, with the runner-up, for host rows S [n·d]. */
  nearestRows(S: Float32Array, n: number): ReadoutResult {
    const C = this.cosines(S, n); // [panels, n, P]
    const { vocab: V, P, panels } = this;
    for (let i = 0; i < n; i++) {
      for (const t of this.excludedIds) C[(((t / P) | 0) * n + i) * P + (t % P)] += EXCLUDED_BIAS; // float32, as tf.add
    }
    const r: ReadoutResult = { ids: [], cosChosen: [], runnerUp: [], cosRunnerUp: [] };
    for (let i = 0; i < n; i++) {
      // top-2 by value, ties to the lower id (as tf.topk); cosines are finite
      let b1 = -1;
      let b2 = -1;
      let v1 = -Infinity;
      let v2 = -Infinity;
      for (let q = 0; q < panels; q++) {
        const o = (q * n + i) * P - q * P; // C index of token t in this panel: o + t
        const end = Math.min(V, (q + 1) * P);
        for (let t = q * P; t < end; t++) {
          const v = C[o + t];
          if (v > v2) {
            if (v > v1) {
              b2 = b1;
              v2 = v1;
              b1 = t;
              v1 = v;
            } else {
              b2 = t;
              v2 = v;
            }
          }
        }
      }
      r.ids.push(b1);
      r.cosChosen.push(v1);
      r.runnerUp.push(b2);
      r.cosRunnerUp.push(b2 >= 0 ? v2 : NaN);
    }
    return r;
  }

  /** Nearest token by cosine, with the runner-up. */
  nearest(S: tf.Tensor): ReadoutResult {
    return this.nearestRows(S.dataSync() as Float32Array, S.shape[0]);
  }

  /** A token per row from softmax(cos/temperature) over the non-excluded tokens, drawn from `rng`. */
  sample(S: tf.Tensor, temperature: number, rng: Rng): ReadoutResult {
    return this.sampleRows(S.dataSync() as Float32Array, S.shape[0], temperature, rng);
  }

  /** `sample` for host rows S [n·d]. */
  sampleRows(S: Float32Array, n: number, temperature: number, rng: Rng): ReadoutResult {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`readout temperature must be a finite number > 0 (got ${temperature})`);
    const all = this.scoresRows(S, n); // [n·vocab]
    const V = this.vocab;
    const r: ReadoutResult = { ids: [], cosChosen: [], runnerUp: [], cosRunnerUp: [] };
    const w = new Float64Array(V);
    for (let i = 0; i < n; i++) {
      const row = all.subarray(i * V, (i + 1) * V);
      let max = -Infinity;
      for (let t = 0; t < V; t++) if (!this.excluded[t] && row[t] > max) max = row[t];
      let z = 0;
      for (let t = 0; t < V; t++) {
        w[t] = this.excluded[t] ? 0 : Math.exp((row[t] - max) / temperature);
        z += w[t];
      }
      let u = rng.uniform() * z;
      let pick = -1;
      for (let t = 0; t < V; t++) {
        if (w[t] === 0) continue;
        pick = t;
        u -= w[t];
        if (u < 0) break;
      }
      let best = -1;
      for (let t = 0; t < V; t++) if (t !== pick && !this.excluded[t] && (best < 0 || row[t] > row[best])) best = t;
      r.ids.push(pick);
      r.cosChosen.push(row[pick]);
      r.runnerUp.push(best);
      r.cosRunnerUp.push(best >= 0 ? row[best] : NaN);
    }
    return r;
  }

  /** Read out by `kind` (softmax needs temperature and rng). */
  read(S: tf.Tensor, kind: ReadoutKind, temperature = 0.1, rng?: Rng): ReadoutResult {
    return this.readRows(S.dataSync() as Float32Array, S.shape[0], kind, temperature, rng);
  }

  /** `read` for host rows S [n·d]. */
  readRows(S: Float32Array, n: number, kind: ReadoutKind, temperature = 0.1, rng?: Rng): ReadoutResult {
    if (kind === 'nearest') return this.nearestRows(S, n);
    if (!rng) throw new RangeError('the softmax readout needs an rng');
    return this.sampleRows(S, n, temperature, rng);
  }

  /** Release the token spins (the kernel memory goes with this object). */
  dispose(): void {
    this.disposed = true;
  }
}
