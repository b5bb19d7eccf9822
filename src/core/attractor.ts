/**
 * Attractor dynamics of greedy generation (Huo & Johnson 2025, Fig. 2 and Fig. 4b): append the
 * top-scoring token (HJ Eq. 6), recompute the context vector, repeat. With a bias (HJ Eq. 2–3, exact
 * recomputation) or positional encoding (exact S → (1−y)S + yP) the same loop shows boundary
 * rotation and attractor changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { applyRight, biasMatrix } from './bias.js';
import { contextFieldMeanField, tokenCosines, tokenScores, type BathOptions } from './field.js';
import { sinusoidalPositions, withPositions, type PositionalOptions } from './positional.js';

/** A toy spin bath: the token spins (vocab) and W_Q, W_K, W_V. */
export interface ToyBath {
  /** Vocabulary spins X [V, d]. */
  vocab: tf.Tensor;
  WQ: tf.Tensor;
  WK: tf.Tensor;
  /** W_V; null for the identity. */
  WV: tf.Tensor | null;
}

/** A bias B = I + ξδ (HJ Eq. 2) and/or a positional encoding applied to the context during iteration. */
export interface Perturbation {
  /** Bias B = I + ξδ applied to the sequence's spins. */
  bias?: { delta: tf.Tensor; xi: number };
  /** Positional encoding weight y and its options. */
  positional?: { y: number } & PositionalOptions;
}

/** One step of {@link iterateAttractor}: the sequence, its context vector N, every token's score and cosine, the next token. */
export interface AttractorStep {
  /** Token indices of the sequence whose field is computed. */
  sequence: number[];
  /** Context vector N⁽⁰⁾ [d]. */
  N: number[];
  /** 𝒫(x) for every vocabulary token. */
  scores: number[];
  /** cos(x, N W_V) for every vocabulary token. */
  cosines: number[];
  /** The token chosen next (argmax of the scores). */
  next: number;
}

/** N⁽⁰⁾ of one sequence under the bath and perturbation, [1, d]. */
export function sequenceField(bath: ToyBath, Weff: tf.Tensor, seq: number[], pert: Perturbation = {}, opts: BathOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    let S = tf.expandDims(tf.gather(bath.vocab, seq), 0); // [1, k, d]
    if (pert.bias) S = applyRight(S, biasMatrix(pert.bias.delta, pert.bias.xi));
    if (pert.positional) {
      const P = sinusoidalPositions(seq.length, S.shape[2] as number, pert.positional);
      S = withPositions(S, P, pert.positional.y);
    }
    return contextFieldMeanField(S, Weff, opts); // [1, d]
  });
}

/** Run `steps` greedy iterations from `prompt`; step 1 reports the prompt itself. */
export function iterateAttractor(
  bath: ToyBath,
  Weff: tf.Tensor,
  prompt: number[],
  steps: number,
  pert: Perturbation = {},
  opts: BathOptions = {},
): AttractorStep[] {
  const out: AttractorStep[] = [];
  const seq = [...prompt];
  for (let s = 0; s < steps; s++) {
    const [N, scores, cos] = tf.tidy(() => {
      const n = sequenceField(bath, Weff, seq, pert, opts);
      return [n, tokenScores(n, bath.vocab, bath.WV), tokenCosines(n, bath.vocab, bath.WV)];
    });
    const sc = Array.from(scores.dataSync());
    const step: AttractorStep = {
      sequence: [...seq],
      N: Array.from(N.dataSync()),
      scores: sc,
      cosines: Array.from(cos.dataSync()),
      next: sc.indexOf(Math.max(...sc)),
    };
    tf.dispose([N, scores, cos]);
    out.push(step);
    seq.push(step.next);
  }
  return out;
}
