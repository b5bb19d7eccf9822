/**
 * Runs the toy spin-bath experiments of Huo & Johnson (2025) on a validated config: attractor
 * iteration (Fig. 2), phase boundaries with a bias (Figs. 3, 4a, exact and first-order HJ Eq. 3),
 * and boundary rotation under positional encoding (Fig. 4b). Pure computation; plots in plots.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { iterateAttractor, sequenceField, type Perturbation, type ToyBath } from '../core/attractor.js';
import { biasedContextFirstOrder } from '../core/bias.js';
import { effectiveCoupling, type BathOptions } from '../core/field.js';
import { boundaryLine2D, clipLine, phaseBoundary, signedDistance, type BoundaryLine } from '../core/phase.js';
import { couplingSpectrum, type CouplingSpectrum } from '../core/spectrum.js';
import type { ToyConfig } from './config.js';

/** A toy config built into tensors: the bath, W_eff and ensemble options. */
export interface BuiltBath {
  bath: ToyBath;
  Weff: tf.Tensor;
  opts: BathOptions;
  /** Release the tensors. */
  dispose(): void;
}

const mat = (m: number[][] | 'identity', d: number): tf.Tensor => (m === 'identity' ? tf.eye(d) : tf.tensor2d(m));

/** Build the tensors of a toy bath from its config. Call `dispose()` when done. */
export function buildBath(cfg: ToyConfig): BuiltBath {
  const d = cfg.dim;
  const vocab = tf.tensor2d(cfg.tokens.map((t) => cfg.vocab[t])); // [V, d]
  const WQ = mat(cfg.WQ, d);
  const WK = mat(cfg.WK, d);
  const WV = cfg.WV === 'identity' ? null : tf.tensor2d(cfg.WV);
  const Weff = effectiveCoupling(WQ, WK, 1);
  return {
    bath: { vocab, WQ, WK, WV },
    Weff,
    opts: { tau: cfg.tau, temperature: cfg.temperature, causal: cfg.causal },
    dispose: () => tf.dispose([vocab, WQ, WK, Weff, ...(WV ? [WV] : [])]),
  };
}

const ids = (cfg: ToyConfig, names: string[]) => names.map((n) => cfg.tokens.indexOf(n));
const byName = (cfg: ToyConfig, v: number[]) => Object.fromEntries(cfg.tokens.map((t, i) => [t, v[i]]));

/** The result of {@link runAttractor}: every step of the greedy iteration (HJ Figs. 2, 4b). */
export interface AttractorReport {
  steps: { sequence: string[]; N: number[]; scores: Record<string, number>; cosines: Record<string, number>; next: string }[];
}

/** Greedy attractor iteration; step 1 is the prompt itself. */
export function runAttractor(cfg: ToyConfig, steps = cfg.steps, pert: Perturbation = {}): AttractorReport {
  const b = buildBath(cfg);
  try {
    const raw = iterateAttractor(b.bath, b.Weff, ids(cfg, cfg.prompt), steps, pert, b.opts);
    return {
      steps: raw.map((s) => ({
        sequence: s.sequence.map((i) => cfg.tokens[i]),
        N: s.N,
        scores: byName(cfg, s.scores),
        cosines: byName(cfg, s.cosines),
        next: cfg.tokens[s.next],
      })),
    };
  } finally {
    b.dispose();
  }
}

/** One phase boundary in a 2-D slice: normal, offset, line (and its clipped segment) and the bad token's signed distance. */
export interface BoundaryReport {
  /** N W_V (the boundary normal). */
  normal: number[];
  /** The good token whose score sets the boundary. */
  bestGood: string;
  /** Best good score c. */
  offset: number;
  /** The boundary line a·u + b·v = c in slice coordinates (bad side: a·u + b·v > c). */
  line: BoundaryLine;
  /** The line clipped to the plotted range, or null. */
  segment: [number, number][] | null;
  /** Signed distance of the bad token from the boundary (> 0: the bad token is chosen). */
  badDistance: number;
}

function boundaryFor(cfg: ToyConfig, b: BuiltBath, N: tf.Tensor): BoundaryReport {
  const s = cfg.slice!;
  const normalT = tf.tidy(() => (b.bath.WV ? tf.matMul(N, b.bath.WV) : N.clone()));
  const normal = Array.from(normalT.dataSync());
  normalT.dispose();
  const goodNames = cfg.good ?? cfg.tokens.filter((t) => t !== cfg.bad);
  const bd = phaseBoundary(
    normal,
    goodNames.map((t) => cfg.vocab[t]),
  );
  const line = boundaryLine2D(bd, s.origin, s.u, s.v);
  return {
    normal,
    bestGood: goodNames[bd.bestGood],
    offset: bd.offset,
    line,
    segment: clipLine(line, s.uRange[0], s.uRange[1], s.vRange[0], s.vRange[1]),
    badDistance: signedDistance(bd, cfg.vocab[cfg.bad!]),
  };
}

/** The result of {@link runPhase}: boundaries exact and first order in ξ (HJ Figs. 3, 4a). */
export interface PhaseReport {
  /** The bad token's coordinates in the slice (projection onto u, v about the origin). */
  badInSlice: [number, number];
  boundaries: { xi: number; exact: BoundaryReport; firstOrder: BoundaryReport | null }[];
}

/** Slice coordinates of a point: ((x − p0)·u, (x − p0)·v) for orthonormal u, v. */
export function sliceCoords(cfg: ToyConfig, x: number[]): [number, number] {
  const s = cfg.slice!;
  const r = x.map((xi, i) => xi - s.origin[i]);
  const dot = (a: number[], c: number[]) => a.reduce((acc, ai, i) => acc + ai * c[i], 0);
  return [dot(r, s.u), dot(r, s.v)];
}

/** Phase boundaries in the slice for each ξ (Fig. 3 is ξ = 0; Fig. 4a adds the biased ones). */
export function runPhase(cfg: ToyConfig): PhaseReport {
  const b = buildBath(cfg);
  try {
    const prompt = ids(cfg, cfg.prompt);
    const xis = cfg.xi ?? [0];
    const delta = cfg.delta ? tf.tensor2d(cfg.delta) : null;
    const boundaries = xis.map((xi) => {
      const pert: Perturbation = delta && xi !== 0 ? { bias: { delta, xi } } : {};
      const Nex = sequenceField(b.bath, b.Weff, prompt, pert, b.opts);
      const exact = boundaryFor(cfg, b, Nex);
      Nex.dispose();
      let firstOrder: BoundaryReport | null = null;
      if (delta && xi !== 0) {
        const N1 = tf.tidy(() => biasedContextFirstOrder(tf.expandDims(tf.gather(b.bath.vocab, prompt), 0), b.Weff, delta, xi, b.opts));
        firstOrder = boundaryFor(cfg, b, N1);
        N1.dispose();
      }
      return { xi, exact, firstOrder };
    });
    delta?.dispose();
    return { badInSlice: sliceCoords(cfg, cfg.vocab[cfg.bad!]), boundaries };
  } finally {
    b.dispose();
  }
}

/** The result of {@link runPositional}: boundary rotation and attractor change under positional encoding (HJ Fig. 4b). */
export interface PositionalReport {
  /** Generated tokens, one per iteration. */
  generated: string[];
  /** The first iteration (1-based) at which the bad token is generated, or null. */
  switchIteration: number | null;
  /** The boundary at each iteration, computed from the sequence so far. */
  boundaries: BoundaryReport[];
  badInSlice: [number, number];
}

/** Fig. 4b: iterate with positional encoding and follow the boundary's rotation. */
export function runPositional(cfg: ToyConfig): PositionalReport {
  const pe = cfg.positional ?? { y: 0, base: 10000, start: 0 };
  const pert: Perturbation = { positional: pe };
  const steps = runAttractor(cfg, cfg.steps, pert).steps;
  const b = buildBath(cfg);
  try {
    const boundaries = steps.map((s) => {
      const N = sequenceField(b.bath, b.Weff, ids(cfg, s.sequence), pert, b.opts);
      const r = boundaryFor(cfg, b, N);
      N.dispose();
      return r;
    });
    const generated = steps.map((s) => s.next);
    const sw = generated.indexOf(cfg.bad!);
    return { generated, switchIteration: sw < 0 ? null : sw + 1, boundaries, badInSlice: sliceCoords(cfg, cfg.vocab[cfg.bad!]) };
  } finally {
    b.dispose();
  }
}

/** Spectrum of the toy coupling W_eff. */
export function runSpectrum(cfg: ToyConfig): CouplingSpectrum {
  const b = buildBath(cfg);
  try {
    return couplingSpectrum(b.Weff);
  } finally {
    b.dispose();
  }
}
