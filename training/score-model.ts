/**
 * The contract between score training (training/) and the reverse samplers (sampling/): a
 * trained residual tangent score s_θ(S_t, t, N̂) with the metadata that ties it to one language
 * model, field source and noise schedule. training/ implements and saves it; sampling/ loads it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from '../src/core/schedules.js';

export interface ScoreModelMeta {
  format: 'spinbath-score/1';
  /** Spin dimension d (= the language model's n_embd). */
  d: number;
  /** Vocabulary size of the language model it was trained against. */
  vocab: number;
  /** fieldSourceId(source) of the context field it is conditioned on (src/field/source.ts). */
  fieldSource: string;
  /** Noise schedule of the forward process it was trained on. */
  schedule: NoiseSchedule;
  /** Guidance strength η the residual was derived for (the sampler's default η). */
  eta: number;
  /** sha256 of the language model's config.json + weights file names/sizes (identity check). */
  modelHash: string;
}

export interface ScoreModel {
  readonly meta: ScoreModelMeta;
  /**
   * The residual tangent score at spins S [n, d] (unit rows), times t [n] and context fields
   * N [n, d] (raw N_proj; the network normalises it itself): returns [n, d], tangent at S.
   */
  score(S: tf.Tensor, t: tf.Tensor, N: tf.Tensor): tf.Tensor;
  dispose(): void;
}
