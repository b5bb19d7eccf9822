/**
 * Host inference of the residual tangent-score network: exactly `scoreForward` of
 * src/score/network.ts (which stays the tfjs version, for training with autograd), evaluated on
 * plain Float32Array rows with the WebAssembly SIMD kernels of src/core/kernels (gemm, silu).
 * This is what the reverse sampler's inner loop calls, through the `bind` contract of
 * src/score/contract.ts.
 *
 * The input layer is folded. Split in.W by its input rows into W_S (d rows), W_N (d), w_z (1) and
 * W_E (E) (unconditioned: W_S, W_E). Then x W_in + b_in = S W_S + c + e with
 *   c = N̂ W_N + z w_z + b_in   per row, computed once in `bind` (one gemm with A = [N̂ | z]);
 *   e = emb(τ(t)) W_E          one [W] row per distinct t, cached (cleared past 4096 entries).
 * One score(S, t, out) call with n rows:
 *   H = c + e                     gemm(ones [n,1], e [1,W], bias c per row)   (conditioned)
 *   H = act(S W_S + H)            gemm with per-row bias H in place, then the activation
 *                                 (unconditioned: bias b_in + e broadcast, no first step)
 *   H += act(H W_i + b_i)         depth − 1 residual layers (silu with accumulate)
 *   O = H W_out + b_out
 *   s = P_S P_S (O/σ(t))          on the host in float64, t clamped to [tMin, T]
 * as scoreForward and NetScoreModel.score. The time features are rounded to float32 at each step
 * as the tfjs graph rounds them (τ, f_k τ), so the two agree to float32 accumulation order.
 *
 * Activations: 'silu' runs in WASM; 'relu', 'gelu' (geluTanh of src/model/gpt2.ts:
 * x·sigmoid(1.5957691·(x + 0.044715x³))) and 'tanh' run as plain JS loops over the same buffers
 * (correct, slower). Padding: the gemm kernel needs column counts that are multiples of 4, so d
 * and W are padded up to multiples of 4 with zero weights (zero rows of W_S and W_i, zero columns
 * of W_S, W_i, W_out); a padded hidden unit has pre-activation 0 and act(0) = 0 for all four
 * activations, so it stays 0 and padding changes nothing.
 */
import { sigma2 as sigma2At, type NoiseSchedule } from '../core/schedules.js';
import { WasmKernels } from '../core/kernels/wasm.js';
import { UserError } from '../errors.js';
import type { HostTensor } from '../model/weights.js';
import { checkParams, type Activation, type FeatureNorm, type NetworkConfig } from './networkShape.js';
import type { BoundScore } from './contract.js';

/** What the host network needs besides its weights (a subset of ScoreNetMeta). */
export interface HostScoreSpec {
  network: NetworkConfig;
  norm: FeatureNorm;
  schedule: NoiseSchedule;
  /** score() clamps t to [tMin, T]. */
  tMin: number;
}

/** Cache size past which the per-t rows are dropped. */
const T_CACHE_MAX = 4096;
const GELU_K = 2 * Math.sqrt(2 / Math.PI); // 1.5957691…

const up4 = (x: number) => (x + 3) & ~3;

interface TimeRow {
  /** e = emb(τ) W_E (conditioned) or b_in + e (unconditioned), [Wp]. */
  e: Float32Array;
  /** float32(1/σ(t)). */
  invSigma: number;
}

/** The activations as scalar JS functions (the fallback for all but silu). */
const JS_ACTIVATION: Record<Activation, (x: number) => number> = {
  silu: (x) => x / (1 + Math.exp(-x)),
  relu: (x) => (x > 0 ? x : 0),
  tanh: (x) => Math.tanh(x),
  gelu: (x) => x / (1 + Math.exp(-GELU_K * (x + 0.044715 * x * x * x))),
};

/** Host score network with fixed weights (copied into its own WASM memory at construction). */
export class HostScoreNet {
  readonly d: number;
  private readonly E: number;
  /** d and W padded to multiples of 4. */
  private readonly dp: number;
  private readonly Wp: number;
  private readonly k = new WasmKernels();
  /** Byte offsets of the weights in WASM memory. */
  private readonly pWS: number; // [dp, Wp]
  private readonly pWNz: number; // [(d + 1), Wp]: W_N rows then w_z (conditioned only, else −1)
  private readonly pBin: number; // [Wp]
  private readonly pWE: number; // [E, Wp]
  private readonly pHid: { W: number; b: number }[] = []; // [Wp, Wp], [Wp]
  private readonly pWout: number; // [Wp, dp]
  private readonly pBout: number; // [dp]
  private readonly pZero: number; // [Wp] zeros
  private readonly pEmb: number; // [E]
  private readonly pERow: number; // [Wp]
  /** Allocation mark after the weights: each bind frees back to it. */
  private readonly weightsEnd: number;
  /** The frequencies f_k = π·64^{k/(E/2−1)} of the time embedding (float32, as the tfjs graph has them). */
  private readonly freqs: Float32Array;
  private readonly tCache = new Map<number, TimeRow>();
  private live: HostBinding | null = null;
  private disposed = false;

  constructor(
    readonly spec: HostScoreSpec,
    host: Map<string, HostTensor>,
  ) {
    const c = spec.network;
    const problem = checkParams(c, host);
    if (problem) throw new UserError('E_CHECKPOINT', `HostScoreNet: ${problem}`);
    if (c.timeEmbedding % 2 !== 0) throw new UserError('E_CHECKPOINT', `HostScoreNet: timeEmbedding ${c.timeEmbedding} is odd`);
    const { d, width: W, timeEmbedding: E } = c;
    this.d = d;
    this.E = E;
    const dp = (this.dp = up4(d));
    const Wp = (this.Wp = up4(W));
    const half = E / 2;
    this.freqs = Float32Array.from({ length: half }, (_, k) => Math.PI * Math.pow(64, half > 1 ? k / (half - 1) : 0));

    const k = this.k;
    const inW = host.get('in.W')!.data; // [inputDim, W]
    // Copy rows [r0, r0 + rows) of a [*, cols] matrix into a zeroed [rowsPadded, colsPadded] buffer.
    const put = (src: Float32Array, cols: number, r0: number, rows: number, rowsPadded: number, colsPadded: number): number => {
      const p = k.alloc(rowsPadded * colsPadded);
      const v = k.f32(p, rowsPadded * colsPadded);
      v.fill(0);
      for (let r = 0; r < rows; r++) v.set(src.subarray((r0 + r) * cols, (r0 + r + 1) * cols), r * colsPadded);
      return p;
    };
    this.pWS = put(inW, W, 0, d, dp, Wp);
    this.pWNz = c.condition ? put(inW, W, d, d + 1, d + 1, Wp) : -1;
    this.pWE = put(inW, W, c.condition ? 2 * d + 1 : d, E, E, Wp);
    this.pBin = put(host.get('in.b')!.data, W, 0, 1, 1, Wp);
    for (let i = 1; i < c.depth; i++) {
      this.pHid.push({ W: put(host.get(`h${i}.W`)!.data, W, 0, W, Wp, Wp), b: put(host.get(`h${i}.b`)!.data, W, 0, 1, 1, Wp) });
    }
    this.pWout = put(host.get('out.W')!.data, d, 0, W, Wp, dp);
    this.pBout = put(host.get('out.b')!.data, d, 0, 1, 1, dp);
    this.pZero = k.alloc(Wp);
    k.f32(this.pZero, Wp).fill(0);
    this.pEmb = k.alloc(E);
    this.pERow = k.alloc(Wp);
    this.weightsEnd = k.mark();
  }

  /** The hidden layers' activation function. */
  get activation(): Activation {
    return this.spec.network.activation;
  }

  /**
   * Bind n raw fields N [n·d] (row-major; normalised here, ignored by an unconditioned network).
   * Invalidates the previous binding.
   */
  bind(N: Float32Array, n: number): BoundScore {
    if (this.disposed) throw new Error('HostScoreNet.bind: the network was disposed');
    const { d, dp, Wp } = this;
    if (!Number.isInteger(n) || n < 0) throw new UserError('E_INPUT', `bind: bad row count ${n}`);
    if (N.length !== n * d) throw new UserError('E_INPUT', `bind: ${N.length} field values for n = ${n} rows of d = ${d}`);
    if (this.live) this.live.alive = false;
    this.live = null;
    const k = this.k;
    k.reset(this.weightsEnd);
    const cond = this.spec.network.condition;
    const b: BindBuffers = {
      n,
      pS: k.alloc(n * dp),
      pH: k.alloc(n * Wp),
      pT: k.alloc(n * Wp),
      pO: k.alloc(n * dp),
      pC: cond ? k.alloc(n * Wp) : -1,
      pOnes: cond ? k.alloc(n) : -1,
    };
    if (cond) {
      // A = [N̂ | z] [n, d + 1] → c = A [W_N; w_z] + b_in
      const pA = k.alloc(n * (d + 1));
      const A = k.f32(pA, n * (d + 1));
      const { logNMean, logNStd } = this.spec.norm;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += N[i * d + j] * N[i * d + j];
        const norm = Math.max(Math.fround(Math.sqrt(s)), 1e-12);
        for (let j = 0; j < d; j++) A[i * (d + 1) + j] = N[i * d + j] / norm;
        A[i * (d + 1) + d] = (Math.fround(Math.log(norm)) - logNMean) / logNStd;
      }
      k.gemm(pA, this.pWNz, this.pBin, 0, b.pC, n, d + 1, Wp);
      k.f32(b.pOnes, n).fill(1);
      // A is only needed here; it stays allocated until the next bind frees back to weightsEnd.
    }
    const binding = new HostBinding(this, b);
    this.live = binding;
    return binding;
  }

  /** The cached time row for a clamped t. */
  private timeRow(t: number): TimeRow {
    const hit = this.tCache.get(t);
    if (hit) return hit;
    if (this.tCache.size >= T_CACHE_MAX) this.tCache.clear();
    const { schedule, norm, network } = this.spec;
    const s2 = sigma2At(schedule, t);
    const f = Math.fround;
    const logS2 = f(Math.log(s2));
    const tau = f(f(logS2 - f(norm.logS2Min)) / f(Math.max(1e-12, norm.logS2Max - norm.logS2Min)));
    const half = this.E / 2;
    const emb = this.k.f32(this.pEmb, this.E);
    for (let j = 0; j < half; j++) {
      const arg = f(tau * this.freqs[j]);
      emb[j] = Math.sin(arg);
      emb[half + j] = Math.cos(arg);
    }
    // e = emb W_E (+ b_in when unconditioned: the bias is then one broadcast row)
    this.k.gemm(this.pEmb, this.pWE, network.condition ? this.pZero : this.pBin, 0, this.pERow, 1, this.E, this.Wp);
    const row: TimeRow = { e: this.k.f32(this.pERow, this.Wp).slice(), invSigma: f(1 / Math.sqrt(s2)) };
    this.tCache.set(t, row);
    return row;
  }

  /** One forward pass for a live binding (see the file comment); internal, called by HostBinding. */
  run(b: BindBuffers, v: BindViews, S: Float32Array, t: number, out: Float32Array, ambient = false): void {
    const { d, dp, Wp, k } = this;
    const { n } = b;
    const { schedule, tMin, network } = this.spec;
    if (S.length !== n * d) throw new UserError('E_INPUT', `score: ${S.length} spin values for n = ${n} rows of d = ${d}`);
    if (out.length !== n * d) throw new UserError('E_INPUT', `score: out has ${out.length} values for n = ${n} rows of d = ${d}`);
    if (!Number.isFinite(t)) throw new UserError('E_INPUT', `score: t = ${t} is not finite`);
    const row = this.timeRow(Math.min(schedule.T, Math.max(tMin, t)));
    if (n === 0) return;
    // spins into WASM memory (padded columns stay 0)
    if (dp === d) v.S.set(S);
    else for (let i = 0; i < n; i++) v.S.set(S.subarray(i * d, (i + 1) * d), i * dp);
    // input layer
    if (network.condition) {
      v.eRow.set(row.e);
      k.gemm(b.pOnes, this.pERow, b.pC, Wp, b.pH, n, 1, Wp); // H = c + e
      k.gemm(b.pS, this.pWS, b.pH, Wp, b.pH, n, dp, Wp); // H = S W_S + H
    } else {
      v.eRow.set(row.e);
      k.gemm(b.pS, this.pWS, this.pERow, 0, b.pH, n, dp, Wp); // H = S W_S + (b_in + e)
    }
    const silu = network.activation === 'silu';
    const act = JS_ACTIVATION[network.activation];
    const len = n * Wp;
    if (silu) k.silu(b.pH, b.pH, len, false);
    else for (let i = 0; i < len; i++) v.H[i] = act(v.H[i]);
    // residual layers
    for (const L of this.pHid) {
      k.gemm(b.pH, L.W, L.b, 0, b.pT, n, Wp, Wp);
      if (silu) k.silu(b.pT, b.pH, len, true);
      else for (let i = 0; i < len; i++) v.H[i] += act(v.T[i]);
    }
    // output layer and the double tangent projection of O/σ
    k.gemm(b.pH, this.pWout, this.pBout, 0, b.pO, n, Wp, dp);
    const O = v.O;
    const inv = row.invSigma;
    const tmp = v.tmp;
    if (ambient) {
      // O/σ unprojected: its tangent projection is the score (the caller projects)
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = O[i * dp + j] * inv;
      return;
    }
    for (let i = 0; i < n; i++) {
      const so = i * d;
      const oo = i * dp;
      let a = 0;
      for (let j = 0; j < d; j++) a += S[so + j] * (O[oo + j] * inv);
      let c = 0;
      for (let j = 0; j < d; j++) {
        const x = O[oo + j] * inv - a * S[so + j];
        tmp[j] = x;
        c += S[so + j] * x;
      }
      for (let j = 0; j < d; j++) out[so + j] = tmp[j] - c * S[so + j];
    }
  }

  /** Views of a binding's buffers on the current memory (internal). */
  views(b: BindBuffers): BindViews {
    const { dp, Wp, k } = this;
    return {
      buffer: k.buffer,
      S: k.f32(b.pS, b.n * dp),
      H: k.f32(b.pH, b.n * Wp),
      T: k.f32(b.pT, b.n * Wp),
      O: k.f32(b.pO, b.n * dp),
      eRow: k.f32(this.pERow, Wp),
      tmp: new Float64Array(this.d),
    };
  }

  /** Whether `b` is the live binding (called by HostBinding). */
  isLive(b: HostBinding): boolean {
    return this.live === b && !this.disposed;
  }

  /** A binding disposed itself (internal). */
  release(b: HostBinding): void {
    if (this.live === b) this.live = null;
  }

  /** Invalidate the live binding and drop the per-time cache. */
  dispose(): void {
    if (this.live) this.live.alive = false;
    this.live = null;
    this.disposed = true;
    this.tCache.clear();
  }
}

interface BindBuffers {
  n: number;
  /** Byte offsets: spins [n, dp], hidden H and scratch T [n, Wp], output O [n, dp], c [n, Wp], ones [n]. */
  pS: number;
  pH: number;
  pT: number;
  pO: number;
  pC: number;
  pOnes: number;
}

interface BindViews {
  /** The memory buffer the views were taken on (re-taken when it changes). */
  buffer: ArrayBuffer;
  S: Float32Array;
  H: Float32Array;
  T: Float32Array;
  O: Float32Array;
  eRow: Float32Array;
  tmp: Float64Array;
}

class HostBinding implements BoundScore {
  alive = true;
  private v: BindViews | null = null;

  constructor(
    private readonly net: HostScoreNet,
    private readonly b: BindBuffers,
  ) {}

  score(S: Float32Array, t: number, out: Float32Array, ambient = false): void {
    if (!this.alive || !this.net.isLive(this)) {
      throw new Error('score: this binding is no longer live (the model was bound again, or the binding or model was disposed)');
    }
    if (!this.v || this.v.buffer.byteLength === 0) this.v = this.net.views(this.b); // memory grown since: re-take
    this.net.run(this.b, this.v, S, t, out, ambient);
  }

  /** Release this binding (the network stays loaded). */
  dispose(): void {
    this.alive = false;
    this.net.release(this);
  }
}
