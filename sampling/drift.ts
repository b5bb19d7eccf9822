/**
 * The physics of the guided reverse sampler (BL Eq. 14, Sec. V D / B6, with the
 * LLG form of BL Eq. 9 / B1–B4), kept apart from the integrators (sampling/integrators/).
 *
 * Reverse time τ = T − t runs forward (dτ > 0). BL Eq. 14 with dt = −dτ reads, as a Stratonovich SDE on
 * S^{d−1},
 *
 *   dS = [ c_N(τ) P_S N + β(t) P_S s_θ(S, t, N) + R(S) ] dτ + √β(t) P_S ∘ dW̄,      t = T − τ,
 *
 * where N is the context field N_proj of the current context (one row per sample), P_S = I − S Sᵀ
 * (BL Eq. 10 / B3), s_θ the learned residual tangent score (src/score/contract.ts; absent = the
 * zero-training baseline) and β(t) the forward noise schedule (src/core/schedules.ts).
 *   plain mode:  c_N = η(τ), R = 0 — the guidance η P_S N pulls S toward N̂ (overdamped limit, B4).
 *   LLG mode:    c_N = η(τ) γ λ/(1+λ²)  (the Gilbert double-cross torque of B1 as a projection, B2;
 *                with η = 1 this is B4's η ≡ γλ/(1+λ²)), and R is the precession −γ S × (ηN) of
 *                BL Eq. 9 generalised to d dimensions as a rotation dS = −γ A S, A skew (S·AS = 0,
 *                so R is tangent):
 *     cross       d = 3 only: R = −γη S × N.
 *     orthogonal  A = |N|(u wᵀ − w uᵀ) with u, w orthonormal and ⊥ N̂ (drawn per row from the
 *                 seeded RNG; in d = 3, w = N̂ × u, which gives exactly −γη S × N). Conserves
 *                 S·N̂, as precession about N does: the only generalisation that reduces to BL Eq. 9.
 *                 The default in LLG mode.
 *     field       A = |N|(N̂ uᵀ − u N̂ᵀ), u ⊥ N̂ seeded: a rotation in the (N̂, u) plane. It does
 *                 NOT conserve S·N̂ (it rotates N̂ itself into u); kept for comparison.
 *     matrix      a user-given skew matrix A [d, d] (not scaled by η|N|): R = −γ A S.
 *
 * Without the score term, constant N and constant β, the stationary law is von Mises–Fisher with
 * κ = 2 c_N |N| / β (the generator c_N N·∇_S + ½βΔ_S is in detailed balance with e^{κ N̂·S});
 * precession about N̂ (cross/orthogonal) leaves it unchanged. Without noise, the polar angle obeys
 * d cosθ/dτ = c_N|N|(1 − cos²θ), so cosθ(τ) = tanh(c_N|N|τ + artanh cosθ₀) in every d.
 *
 * Field scale: the η term uses N̂ = N/|N| ('unit', the default and the convention the residual
 * score is trained with: src/score/scoreNet.ts, training/objectives.ts, so η carries the whole
 * magnitude of the guidance), or the raw N_proj ('raw': κ ∝ |N|, contexts with a strong field
 * guide more). The score network always receives the raw N (it normalises N itself).
 *
 * Arrays: host rows (Float32Array [n·d], row-major). The inner loop of the sampler is a few
 * thousand numbers per step, which the host handles faster than a dispatch of tfjs kernels; the
 * score network runs in a WASM SIMD kernel behind ScoreModel.bind (src/score/contract.ts). Inside
 * a reverse run (sampling/reverse.ts, which opens a row scope of src/core/kernels/rows.ts) the drift
 * keeps a copy of its field and its score buffer in the row arena, so that the fused projection of
 * `increment` runs in the WASM SIMD kernel (src/core/sphere.ts projectCombineRows).
 */
import { rowBuffer, rowScopeId } from '../src/core/kernels/rows.js';
import { normalizeRows, projectCombineRows, tangentProjectRows } from '../src/core/sphereRows.js';
import { beta, type NoiseSchedule, type ScheduleKind } from '../src/core/schedules.js';
import { normalArray, type Rng } from '../src/rng.js';
import type { BoundScore, ScoreModel } from '../src/score/contract.js';

/**
 * A coefficient over the reverse run: a constant, or `from` at τ = 0 (t = T, the noisy start)
 * to `to` at τ = T (t = 0), in the shapes of src/core/schedules.ts (constant/linear/cosine).
 */
export type ParamSchedule = number | { kind: ScheduleKind; from: number; to: number };

/** The value of `p` at reverse time τ ∈ [0, T]. */
export function paramAt(p: ParamSchedule, tau: number, T: number): number {
  if (typeof p === 'number') return p;
  if (p.kind === 'constant') return p.to;
  return beta({ kind: p.kind, betaMin: p.from, betaMax: p.to, T }, Math.min(Math.max(tau, 0), T));
}

/** The smallest and largest value a schedule takes (for range checks). */
export function paramRange(p: ParamSchedule): [number, number] {
  if (typeof p === 'number') return [p, p];
  return p.kind === 'constant' ? [p.to, p.to] : [Math.min(p.from, p.to), Math.max(p.from, p.to)];
}

export type Precession = { kind: 'none' } | { kind: 'cross' } | { kind: 'orthogonal' } | { kind: 'field' } | { kind: 'matrix'; A: number[][] };

/** Full Landau–Lifshitz–Gilbert mode (BL Eq. 9): damping λ, gyromagnetic ratio γ and the precession form. */
export interface LlgOptions {
  /** Gilbert damping λ ≥ 0. */
  lambda: ParamSchedule;
  /** Gyromagnetic ratio γ (default 1). */
  gamma?: ParamSchedule;
  /** Default: cross in d = 3, orthogonal otherwise. */
  precession?: Precession;
}

/** Parameters of the guided drift (BL Eq. 14): guidance strength η, noise schedule, LLG mode, field scaling. */
export interface DriftOptions {
  /** Context fields N_proj, one row each [n·d]; constant during one reverse run. Not modified. */
  N: Float32Array;
  /** Spin dimension d (n = N.length / d). */
  d: number;
  /** Guidance strength η (default 1). */
  eta?: ParamSchedule;
  schedule: NoiseSchedule;
  /** Learned residual score; null/absent: pure η-guided drift. */
  score?: ScoreModel | null;
  /** Full LLG mode (BL Eq. 9); absent: the overdamped plain mode of BL Eq. 14. */
  llg?: LlgOptions | null;
  /** 'unit' (default): the η term pulls toward N̂; 'raw': toward N_proj itself. */
  fieldScale?: 'raw' | 'unit';
  /** Draws the precession planes (orthogonal/field). */
  rng?: Rng;
  /**
   * External steering field (issue 14, controllability): a unit direction m̂ [d] (e.g. the mean
   * spin of a set of topic words) added with strength α to the field the η term pulls toward,
   * G ← G + α m̂ for every row, so the guidance becomes c_N P_S (N̂ + α m̂). The score network
   * still sees the context field N alone.
   */
  steer?: { direction: Float32Array; alpha: number } | null;
  /**
   * The precession planes, drawn beforehand by {@link drawPlanes} (rows [n·d] each): a caller that
   * splits the rows across threads draws them for all rows in one place and hands each part its
   * slice, so that every thread count sees the same draws. Absent: drawn here from `rng`.
   */
  planes?: Float32Array[] | null;
}

/** The precession form of the drift's options (none without LLG; cross in d = 3, else orthogonal, by default). */
export function precessionKind(opts: Pick<DriftOptions, 'llg' | 'd'>): Precession['kind'] {
  const llg = opts.llg ?? null;
  return llg ? (llg.precession ?? { kind: opts.d === 3 ? 'cross' : 'orthogonal' }).kind : 'none';
}

/** The field G [n·d] the η term pulls toward: N̂ ('unit') or N ('raw'), plus the steering α m̂. */
export function guidanceField(opts: Pick<DriftOptions, 'N' | 'd' | 'fieldScale' | 'steer'>): Float32Array {
  const d = opts.d;
  const G = opts.fieldScale === 'raw' ? Float32Array.from(opts.N) : unitRows(opts.N, d);
  if (opts.steer && opts.steer.alpha !== 0) {
    const m = opts.steer.direction;
    if (m.length !== d) throw new RangeError(`steering direction has ${m.length} components, the spins ${d}`);
    for (let o = 0; o < G.length; o += d) for (let j = 0; j < d; j++) G[o + j] += opts.steer.alpha * m[j];
  }
  return G;
}

/**
 * The random precession planes of the LLG modes 'orthogonal' ((u, w) ⊥ N̂) and 'field' ((N̂, u)) for
 * the guidance field G [n·d], drawn from `rng` for all rows in row order (u for every row, then w);
 * [] for the other modes, which draw nothing.
 */
export function drawPlanes(G: Float32Array, d: number, prec: Precession['kind'], rng: Rng): Float32Array[] {
  if (prec !== 'orthogonal' && prec !== 'field') return [];
  const n = G.length / d;
  const nHat = unitRows(G, d);
  const u = orthogonalDirections(n, d, [nHat], rng);
  if (prec === 'field') return [nHat, u];
  return [u, d === 3 ? cross3Rows(nHat, u) : orthogonalDirections(n, d, [nHat, u], rng)];
}

/** What an integrator needs: a(S, τ) and g(τ) in dS = a dτ + g P_S ∘ dW̄. Rows [n·d]. */
export interface Sde {
  readonly n: number;
  readonly d: number;
  /** Tangent drift a(S, τ) at S into `out` [n·d]. */
  drift(S: Float32Array, tau: number, out: Float32Array): Float32Array;
  /** Noise amplitude g(τ) = √β(T − τ). */
  diffusion(tau: number): number;
  /**
   * The Euler increment f = a(S, τ) dτ + g(τ) P_S ΔW̄ into `out` [n·d] (noise null: a dτ), tangent
   * at S. Implementations may fuse it (one projection of the whole ambient vector); `plainIncrement`
   * is the unfused reference. `out` must not alias S.
   */
  increment(S: Float32Array, tau: number, dtau: number, noise: Float32Array | null, out: Float32Array): Float32Array;
}

/** f = a(S, τ) dτ + g(τ) P_S ΔW̄ from `drift` and `diffusion`, into `out` [n·d]. */
export function plainIncrement(
  sde: Pick<Sde, 'drift' | 'diffusion' | 'd'>,
  S: Float32Array,
  tau: number,
  dtau: number,
  noise: Float32Array | null,
  out: Float32Array,
): Float32Array {
  sde.drift(S, tau, out);
  const g = noise ? sde.diffusion(tau) : 0;
  const w = g === 0 ? null : tangentProjectRows(S, noise!, new Float32Array(S.length), sde.d);
  for (let i = 0; i < out.length; i++) out[i] = out[i] * dtau + (w ? g * w[i] : 0);
  return out;
}

/** Row dot product a_i·b_i (float64). */
function dot(a: Float32Array, b: Float32Array, o: number, d: number): number {
  let s = 0;
  for (let j = o; j < o + d; j++) s += a[j] * b[j];
  return s;
}

/** A unit vector per row, Gaussian and orthogonal to the unit rows of every array in `against`. [n·d]. */
function orthogonalDirections(n: number, d: number, against: Float32Array[], rng: Rng): Float32Array {
  const u = normalArray(rng, n * d);
  for (const a of against) {
    for (let o = 0; o < n * d; o += d) {
      const c = dot(u, a, o, d);
      for (let j = o; j < o + d; j++) u[j] -= c * a[j];
    }
  }
  return normalizeRows(u, u, d);
}

/** N/|N| per row, a zero row staying zero (no guidance rather than NaN). */
function unitRows(N: Float32Array, d: number): Float32Array {
  const out = new Float32Array(N.length);
  for (let o = 0; o < N.length; o += d) {
    const r = 1 / Math.max(Math.sqrt(dot(N, N, o, d)), 1e-30);
    for (let j = o; j < o + d; j++) out[j] = N[j] * r;
  }
  return out;
}

/** Row-wise cross products a_i × b_i of rows of 3: a new [n·3]. */
function cross3Rows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let o = 0; o < a.length; o += 3) {
    out[o] = a[o + 1] * b[o + 2] - a[o + 2] * b[o + 1];
    out[o + 1] = a[o + 2] * b[o] - a[o] * b[o + 2];
    out[o + 2] = a[o] * b[o + 1] - a[o + 1] * b[o];
  }
  return out;
}

/** The guided reverse SDE of BL Eq. 14 (plain or LLG) for fixed fields N. Call dispose() when done. */
export class GuidedDrift implements Sde {
  readonly n: number;
  readonly d: number;
  private readonly T: number;
  private readonly G: Float32Array; // [n·d] the field the η term pulls toward (N or N̂)
  private readonly norm: Float64Array; // [n] |G_i|
  private readonly planes: Float32Array[] = []; // precession directions, [n·d] each
  private readonly A: Float64Array | null = null; // user matrix A [d·d]
  private readonly prec: Precession['kind'];
  private readonly bound: BoundScore | null;
  private readonly sbuf: Float32Array; // score scratch [n·d]
  // G and the score scratch as rows of the current row scope (arena views inside a reverse run):
  private scopeId = 0;
  private runG: Float32Array;
  private runS: Float32Array;

  constructor(private readonly opts: DriftOptions) {
    const d = opts.d;
    if (!Number.isInteger(d) || d < 1 || opts.N.length % d !== 0) throw new RangeError(`fields of length ${opts.N.length} are not rows of d = ${d}`);
    const n = opts.N.length / d;
    this.n = n;
    this.d = d;
    this.T = opts.schedule.T;
    // validate before allocating anything
    this.prec = precessionKind(opts);
    if (this.prec === 'cross' && d !== 3) throw new RangeError(`precession 'cross' needs d = 3 (got d = ${d}); use 'orthogonal'`);
    const rng = opts.rng;
    const drawn = this.prec === 'orthogonal' || this.prec === 'field';
    if (drawn && !rng && !opts.planes) throw new RangeError(`precession '${this.prec}' needs an rng for its rotation plane`);
    const A = opts.llg?.precession?.kind === 'matrix' ? opts.llg.precession.A : null;
    if (A) {
      if (A.length !== d || A.some((r) => r.length !== d)) throw new RangeError(`precession matrix must be ${d}×${d}`);
      for (let i = 0; i < d; i++)
        for (let j = 0; j < d; j++) {
          if (Math.abs(A[i][j] + A[j][i]) > 1e-9 * (1 + Math.abs(A[i][j]))) throw new RangeError('precession matrix must be skew-symmetric (A = −Aᵀ)');
        }
      this.A = Float64Array.from(A.flat());
    }
    this.G = guidanceField(opts);
    this.norm = new Float64Array(n);
    for (let i = 0; i < n; i++) this.norm[i] = Math.sqrt(dot(this.G, this.G, i * d, d));
    if (drawn) {
      const planes = opts.planes ?? drawPlanes(this.G, d, this.prec, rng!);
      if (planes.length !== 2 || planes.some((p) => p.length !== n * d)) throw new RangeError(`precession '${this.prec}' needs 2 planes of ${n}×${d}`);
      this.planes.push(...planes);
    }
    this.sbuf = new Float32Array(n * d); // stays 0 without a score
    this.runG = this.G;
    this.runS = this.sbuf;
    this.bound = opts.score ? opts.score.bind(opts.N, n) : null;
  }

  /** G and the score scratch for the current row scope: re-taken (G copied) when the scope changed. */
  private scopeRows(): void {
    const id = rowScopeId();
    if (id === this.scopeId) return;
    this.scopeId = id;
    if (id === 0) {
      this.runG = this.G;
      this.runS = this.sbuf;
    } else {
      this.runG = rowBuffer(this.G.length);
      this.runG.set(this.G);
      this.runS = rowBuffer(this.G.length); // zeroed: stays 0 without a score
    }
  }

  /**
   * The precession plane (u, w) per row [n·d] each, orthonormal and ⊥ N̂, in which the 'orthogonal'
   * precession rotates S (u → w at the rate γη|G|), for measuring its winding (sampling/calibration.ts);
   * null for the other precession forms.
   */
  precessionPlane(): [Float32Array, Float32Array] | null {
    return this.prec === 'orthogonal' ? [this.planes[0], this.planes[1]] : null;
  }

  /** β at reverse time τ (t = T − τ). */
  beta(tau: number): number {
    return beta(this.opts.schedule, this.T - tau);
  }

  diffusion(tau: number): number {
    return Math.sqrt(Math.max(this.beta(tau), 0));
  }

  /** Coefficients at τ: c_N of the projected field term and γ·η of the precession. */
  coefficients(tau: number): { cN: number; gammaEta: number; gamma: number } {
    const eta = paramAt(this.opts.eta ?? 1, tau, this.T);
    const llg = this.opts.llg;
    if (!llg) return { cN: eta, gammaEta: 0, gamma: 0 };
    const lambda = paramAt(llg.lambda, tau, this.T);
    const gamma = paramAt(llg.gamma ?? 1, tau, this.T);
    return { cN: (eta * gamma * lambda) / (1 + lambda * lambda), gammaEta: gamma * eta, gamma };
  }

  drift(S: Float32Array, tau: number, out: Float32Array): Float32Array {
    return this.increment(S, tau, 1, null, out);
  }

  /** Fused: P_S(c_N dτ G + β dτ s_θ + g ΔW̄) + R(S) dτ, one projection for the whole ambient vector. */
  increment(S: Float32Array, tau: number, dtau: number, noise: Float32Array | null, out: Float32Array): Float32Array {
    const { cN, gammaEta, gamma } = this.coefficients(tau);
    const a = cN * dtau;
    const b = this.bound ? this.beta(tau) * dtau : 0;
    const g = noise ? this.diffusion(tau) : 0;
    this.scopeRows();
    const s = this.runS;
    if (this.bound) this.bound.score(S, this.T - tau, s, true); // ambient: projected below with the rest
    // P_S(a G + b s + g ΔW̄) = v − (S·v) S, one pass (g = 0 without noise: ΔW̄ is then any finite row)
    projectCombineRows(S, { G: this.runG, s, xi: noise ?? s, a, b, g }, out, this.d);
    if (this.prec !== 'none' && gammaEta !== 0) this.addPrecession(S, gammaEta * dtau, gamma * dtau, out);
    return out;
  }

  /** out += R(S) (tangent at S), with γη and γ given (times dτ for an increment). */
  private addPrecession(S: Float32Array, gammaEta: number, gamma: number, out: Float32Array): void {
    const { d, n } = this;
    switch (this.prec) {
      case 'cross': {
        // −γη S × G
        for (let o = 0; o < out.length; o += 3) {
          const G = this.G;
          out[o] -= gammaEta * (S[o + 1] * G[o + 2] - S[o + 2] * G[o + 1]);
          out[o + 1] -= gammaEta * (S[o + 2] * G[o] - S[o] * G[o + 2]);
          out[o + 2] -= gammaEta * (S[o] * G[o + 1] - S[o + 1] * G[o]);
        }
        return;
      }
      case 'orthogonal':
      case 'field': {
        // −γη|N| (p qᵀ − q pᵀ) S = −γη|N| (p (q·S) − q (p·S)), (p, q) = (u, w) or (N̂, u)
        const [p, q] = this.planes;
        for (let i = 0; i < n; i++) {
          const o = i * d;
          const c = -gammaEta * this.norm[i];
          const qs = dot(q, S, o, d);
          const ps = dot(p, S, o, d);
          for (let j = o; j < o + d; j++) out[j] += c * (p[j] * qs - q[j] * ps);
        }
        return;
      }
      case 'matrix': {
        // −γ A S per row
        const A = this.A!;
        for (let i = 0; i < n; i++) {
          const o = i * d;
          for (let r = 0; r < d; r++) {
            let s = 0;
            for (let c = 0; c < d; c++) s += A[r * d + c] * S[o + c];
            out[o + r] -= gamma * s;
          }
        }
        return;
      }
      default:
        return;
    }
  }

  /** Release the buffers of this drift. */
  dispose(): void {
    this.bound?.dispose();
  }
}
