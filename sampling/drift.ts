/**
 * The physics of the guided reverse sampler (Bhattacharjee & Lee, Sec. V D, Eq. 14 / B6, with the
 * LLG form of Eq. 9 / B1–B4), kept apart from the integrators (sampling/integrators/).
 *
 * Reverse time τ = T − t runs forward (dτ > 0). Eq. 14 with dt = −dτ reads, as a Stratonovich SDE on
 * S^{d−1},
 *
 *   dS = [ c_N(τ) P_S N + β(t) P_S s_θ(S, t, N) + R(S) ] dτ + √β(t) P_S ∘ dW̄,      t = T − τ,
 *
 * where N is the context field N_proj of the current context (one row per sample), P_S = I − S Sᵀ
 * (Eq. 10 / B3), s_θ the learned residual tangent score (training/score-model.ts; absent = the
 * zero-training baseline) and β(t) the forward noise schedule (src/core/schedules.ts).
 *   plain mode:  c_N = η(τ), R = 0 — the guidance η P_S N pulls S toward N̂ (overdamped limit, B4).
 *   LLG mode:    c_N = η(τ) γ λ/(1+λ²)  (the Gilbert double-cross torque of B1 as a projection, B2;
 *                with η = 1 this is B4's η ≡ γλ/(1+λ²)), and R is the precession −γ S × (ηN) of
 *                Eq. 9 generalised to d dimensions as a rotation dS = −γ A S, A skew (S·AS = 0,
 *                so R is tangent):
 *     cross       d = 3 only: R = −γη S × N.
 *     orthogonal  A = |N|(u wᵀ − w uᵀ) with u, w orthonormal and ⊥ N̂ (drawn per row from the
 *                 seeded RNG; in d = 3, w = N̂ × u, which gives exactly −γη S × N). Conserves
 *                 S·N̂, as precession about N does: the only generalisation that reduces to Eq. 9.
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
 * score is trained with: training/score-net.ts, training/objectives.ts, so η carries the whole
 * magnitude of the guidance), or the raw N_proj ('raw': κ ∝ |N|, contexts with a strong field
 * guide more). The score network always receives the raw N (it normalises N itself).
 */
import * as tf from '@tensorflow/tfjs-core';
import { matmul } from '../src/core/linalg.js';
import { normalizeSpins, rowDot, tangentProject } from '../src/core/sphere.js';
import { beta, type NoiseSchedule, type ScheduleKind } from '../src/core/schedules.js';
import { normalArray, type Rng } from '../src/rng.js';
import type { ScoreModel } from '../training/score-model.js';

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

export type Precession =
  | { kind: 'none' }
  | { kind: 'cross' }
  | { kind: 'orthogonal' }
  | { kind: 'field' }
  | { kind: 'matrix'; A: number[][] };

export interface LlgOptions {
  /** Gilbert damping λ ≥ 0. */
  lambda: ParamSchedule;
  /** Gyromagnetic ratio γ (default 1). */
  gamma?: ParamSchedule;
  /** Default: cross in d = 3, orthogonal otherwise. */
  precession?: Precession;
}

export interface DriftOptions {
  /** Context fields N_proj [n, d], one per row; constant during one reverse run. Not disposed here. */
  N: tf.Tensor;
  /** Guidance strength η (default 1). */
  eta?: ParamSchedule;
  schedule: NoiseSchedule;
  /** Learned residual score; null/absent: pure η-guided drift. */
  score?: ScoreModel | null;
  /** Full LLG mode (Eq. 9); absent: the overdamped plain mode of Eq. 14. */
  llg?: LlgOptions | null;
  /** 'unit' (default): the η term pulls toward N̂; 'raw': toward N_proj itself. */
  fieldScale?: 'raw' | 'unit';
  /** Draws the precession planes (orthogonal/field). */
  rng?: Rng;
}

/** What an integrator needs: a(S, τ) and g(τ) in dS = a dτ + g P_S ∘ dW̄. */
export interface Sde {
  /** Tangent drift at S [n, d] and reverse time τ → [n, d]. */
  drift(S: tf.Tensor, tau: number): tf.Tensor;
  /** Noise amplitude g(τ) = √β(T − τ). */
  diffusion(tau: number): number;
  /**
   * The Euler increment f = a(S, τ) dτ + g(τ) P_S ΔW̄ [n, d] (noise null: a dτ), tangent at S.
   * Implementations may fuse it (one projection of the whole ambient vector); `plainIncrement`
   * is the unfused reference.
   */
  increment(S: tf.Tensor, tau: number, dtau: number, noise: tf.Tensor | null): tf.Tensor;
}

/** f = a(S, τ) dτ + g(τ) P_S ΔW̄ from `drift` and `diffusion`: [n, d]. */
export function plainIncrement(sde: Pick<Sde, 'drift' | 'diffusion'>, S: tf.Tensor, tau: number, dtau: number, noise: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const a = tf.mul(sde.drift(S, tau), dtau); // [n, d]
    const g = noise ? sde.diffusion(tau) : 0;
    return g === 0 ? a : tf.add(a, tf.mul(tangentProject(S, noise!), g)); // [n, d]
  });
}

/** A unit vector per row, Gaussian and orthogonal to the unit rows of every tensor in `against`. [n, d]. */
function orthogonalDirections(n: number, d: number, against: tf.Tensor[], rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    let u = tf.tensor2d(normalArray(rng, n * d), [n, d]);
    for (const a of against) u = tf.sub(u, tf.mul(rowDot(u, a), a));
    return normalizeSpins(u);
  });
}

/** N/|N| per row, a zero row staying zero (no guidance rather than NaN). [n, d] → [n, d]. */
function unitRows(N: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(N, tf.maximum(tf.norm(N, 'euclidean', -1, true), 1e-30)));
}

/** Row-wise cross product of [n, 3] tensors. */
export function cross3(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [a0, a1, a2] = tf.split(a, 3, 1);
    const [b0, b1, b2] = tf.split(b, 3, 1);
    return tf.concat([tf.sub(tf.mul(a1, b2), tf.mul(a2, b1)), tf.sub(tf.mul(a2, b0), tf.mul(a0, b2)), tf.sub(tf.mul(a0, b1), tf.mul(a1, b0))], 1);
  });
}

/** The guided reverse SDE of Eq. 14 (plain or LLG) for fixed fields N. Call dispose() when done. */
export class GuidedDrift implements Sde {
  readonly n: number;
  readonly d: number;
  private readonly T: number;
  private readonly N: tf.Tensor; // [n, d] raw field (for the score network)
  private readonly G: tf.Tensor; // [n, d] the field the η term pulls toward (N or N̂)
  private readonly norm: tf.Tensor; // [n, 1] |G|
  private readonly planes: tf.Tensor[] = []; // precession directions, [n, d] each
  private readonly AT: tf.Tensor | null = null; // user matrix Aᵀ [d, d]
  private readonly prec: Precession['kind'];

  constructor(private readonly opts: DriftOptions) {
    const [n, d] = opts.N.shape as [number, number];
    this.n = n;
    this.d = d;
    this.T = opts.schedule.T;
    this.N = opts.N;
    // validate before allocating anything
    const llg = opts.llg ?? null;
    this.prec = llg ? (llg.precession ?? { kind: d === 3 ? 'cross' : 'orthogonal' }).kind : 'none';
    if (this.prec === 'cross' && d !== 3) throw new RangeError(`precession 'cross' needs d = 3 (got d = ${d}); use 'orthogonal'`);
    const rng = opts.rng;
    if ((this.prec === 'orthogonal' || this.prec === 'field') && !rng) throw new RangeError(`precession '${this.prec}' needs an rng for its rotation plane`);
    const A = llg?.precession?.kind === 'matrix' ? llg.precession.A : null;
    if (A) {
      if (A.length !== d || A.some((r) => r.length !== d)) throw new RangeError(`precession matrix must be ${d}×${d}`);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
        if (Math.abs(A[i][j] + A[j][i]) > 1e-9 * (1 + Math.abs(A[i][j]))) throw new RangeError('precession matrix must be skew-symmetric (A = −Aᵀ)');
      }
      this.AT = tf.tidy(() => tf.transpose(tf.tensor2d(A))); // [d, d]
    }
    this.G = opts.fieldScale === 'raw' ? tf.clone(opts.N) : unitRows(opts.N);
    this.norm = tf.tidy(() => tf.norm(this.G, 'euclidean', -1, true));
    if (rng && (this.prec === 'orthogonal' || this.prec === 'field')) {
      const nHat = unitRows(this.G);
      const u = orthogonalDirections(n, d, [nHat], rng);
      if (this.prec === 'field') this.planes.push(nHat, u);
      else {
        const w = d === 3 ? cross3(nHat, u) : orthogonalDirections(n, d, [nHat, u], rng);
        nHat.dispose();
        this.planes.push(u, w);
      }
    }
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

  drift(S: tf.Tensor, tau: number): tf.Tensor {
    return this.increment(S, tau, 1, null);
  }

  /** Fused: P_S(c_N dτ G + β dτ s_θ + g ΔW̄) + R(S) dτ, one projection for the whole ambient vector. */
  increment(S: tf.Tensor, tau: number, dtau: number, noise: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => {
      const { cN, gammaEta, gamma } = this.coefficients(tau);
      let v = tf.mul(this.G, cN * dtau); // [n, d] ambient
      const score = this.opts.score;
      if (score) {
        const s = score.score(S, tf.fill([this.n], this.T - tau), this.N); // [n, d]
        v = tf.add(v, tf.mul(s, this.beta(tau) * dtau));
      }
      const g = noise ? this.diffusion(tau) : 0;
      if (g !== 0) v = tf.add(v, tf.mul(noise!, g));
      let f = tangentProject(S, v); // [n, d]
      if (this.prec !== 'none' && gammaEta !== 0) f = tf.add(f, this.precession(S, gammaEta * dtau, gamma * dtau));
      return f;
    });
  }

  /** The precession R(S) [n, d] (tangent at S), with γη and γ given (times dτ for an increment). */
  private precession(S: tf.Tensor, gammaEta: number, gamma: number): tf.Tensor {
    switch (this.prec) {
      case 'cross':
        return tf.mul(cross3(S, this.G), -gammaEta); // −γη S × N
      case 'orthogonal':
      case 'field': {
        // −γη|N| (p qᵀ − q pᵀ) S = −γη|N| (p (q·S) − q (p·S)), (p, q) = (u, w) or (N̂, u)
        const [p, q] = this.planes;
        const AS = tf.sub(tf.mul(p, rowDot(q, S)), tf.mul(q, rowDot(p, S))); // [n, d]
        return tf.mul(AS, tf.mul(this.norm, -gammaEta));
      }
      case 'matrix':
        return tf.mul(matmul(S, this.AT!), -gamma); // rows: (−γ A S)ᵀ = −γ S Aᵀ
      default:
        return tf.zerosLike(S);
    }
  }

  dispose(): void {
    tf.dispose([this.G, this.norm, ...this.planes]);
    this.AT?.dispose();
  }
}
