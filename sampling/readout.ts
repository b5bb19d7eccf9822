/**
 * Token readout of the guided sampler (Bhattacharjee & Lee, Sec. V D: "a nearest-neighbour lookup
 * in embedding space then yields the next token"). The token spins are the unit rows of the token
 * embedding W_E; the final spin S [n, d] is scored against all of them by cosine, S·ê_t, with one
 * matmul against ÊT = [ê_t]ᵀ [d, vocab], normalised and explicitly transposed once at construction
 * (src/core/linalg.ts: tfjs-wasm's transposed matMul is 10–30× slower).
 *
 *   nearest   argmax_t S·ê_t (top-2 on the device: the chosen token and the runner-up)
 *   softmax   t ~ softmax(S·ê_t / T_r) at a temperature T_r, drawn on the host from the seeded RNG
 *
 * Excluded tokens (special tokens such as <|endoftext|>) get a bias of −4 (cosines lie in [−1, 1],
 * so they never win the nearest readout) and probability 0 in the softmax readout.
 * Cost: one [n, d]×[d, vocab] matmul, one [n, vocab] add and a top-2 (nearest), or a read-back of
 * the [n, vocab] cosines (softmax): ≈ 1.0–1.1× one unembedding matmul (bench/sample.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { matmul } from '../src/core/linalg.js';
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
export class TokenReadout {
  readonly vocab: number;
  readonly d: number;
  private readonly ET: tf.Tensor; // [d, vocab] unit token spins, transposed
  private readonly bias: tf.Tensor; // [vocab] 0, or −4 at excluded tokens
  private readonly excluded: Uint8Array; // [vocab] 1 = excluded

  /** tokenSpins [vocab, d] (raw embeddings; normalised here, not disposed); `exclude` token ids. */
  constructor(tokenSpins: tf.Tensor, exclude: Iterable<number> = []) {
    const [vocab, d] = tokenSpins.shape as [number, number];
    this.vocab = vocab;
    this.d = d;
    this.excluded = new Uint8Array(vocab);
    for (const t of exclude) if (Number.isInteger(t) && t >= 0 && t < vocab) this.excluded[t] = 1;
    if (this.excluded.every((x) => x === 1)) throw new RangeError('every token is excluded from the readout');
    this.ET = tf.tidy(() => {
      const norm = tf.maximum(tf.norm(tokenSpins, 'euclidean', -1, true), 1e-12); // [vocab, 1]
      return tf.transpose(tf.div(tokenSpins, norm)); // [d, vocab]
    });
    const b = new Float32Array(vocab);
    for (let t = 0; t < vocab; t++) if (this.excluded[t]) b[t] = EXCLUDED_BIAS;
    this.bias = tf.tensor1d(b);
  }

  /** Cosines S·ê_t [n, vocab] (S unit rows [n, d]); excluded tokens carry the −4 bias. */
  scores(S: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(matmul(S, this.ET), this.bias));
  }

  /** Nearest token by cosine, with the runner-up. */
  nearest(S: tf.Tensor): ReadoutResult {
    const [values, indices] = tf.tidy(() => {
      const top = tf.topk(this.scores(S), 2); // [n, 2]
      return [top.values, top.indices];
    });
    const v = values.dataSync();
    const ix = indices.dataSync();
    tf.dispose([values, indices]);
    const n = v.length / 2;
    const r: ReadoutResult = { ids: [], cosChosen: [], runnerUp: [], cosRunnerUp: [] };
    for (let i = 0; i < n; i++) {
      r.ids.push(ix[2 * i]);
      r.cosChosen.push(v[2 * i]);
      r.runnerUp.push(ix[2 * i + 1]);
      r.cosRunnerUp.push(v[2 * i + 1]);
    }
    return r;
  }

  /** A token per row from softmax(cos/temperature) over the non-excluded tokens, drawn from `rng`. */
  sample(S: tf.Tensor, temperature: number, rng: Rng): ReadoutResult {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`readout temperature must be a finite number > 0 (got ${temperature})`);
    const sc = this.scores(S);
    const all = sc.dataSync(); // [n·vocab]
    sc.dispose();
    const V = this.vocab;
    const n = all.length / V;
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
    if (kind === 'nearest') return this.nearest(S);
    if (!rng) throw new RangeError('the softmax readout needs an rng');
    return this.sample(S, temperature, rng);
  }

  /** Release the token spins. */
  dispose(): void {
    tf.dispose([this.ET, this.bias]);
  }
}
