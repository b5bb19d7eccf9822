/**
 * The contract between score training (training/) and the reverse samplers (sampling/): a
 * trained residual tangent score s_θ(S_t, t, N̂) with the metadata that ties it to one language
 * model, field source and noise schedule. training/ implements and saves it; sampling/ loads it.
 *
 * The sampler's inner loop runs on the host (plain Float32Array rows, sampling/drift.ts), so the
 * score is evaluated through `bind`: the context fields are fixed for one reverse run, which lets
 * an implementation fold everything that depends only on N (and, across runs, only on t) out of
 * the per-step work.
 */
import type { NoiseSchedule } from '../core/schedules.js';

/** What ties a score model to one language model, field source and noise schedule. */
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
  /** Smallest training time: the score is only trained on t ∈ [tMin, T]; the reverse run ends there. */
  tMin: number;
  /**
   * How the field N enters guidance and conditioning: 'unit' — η P_S N̂ with N̂ = N/|N| (what
   * `spinbath train` writes); 'raw' — η P_S N with the field's own magnitude.
   */
  fieldScaling: 'unit' | 'raw';
}

/** The score with the fields of one reverse run bound. */
export interface BoundScore {
  /**
   * s_θ at spins S [n·d] (row-major unit rows) and forward time t (the same for every row),
   * written into `out` [n·d], tangent at S row by row. S and out must not alias.
   * `ambient` (optional to honour): the implementation may instead write any ambient vector u
   * with P_S u = s_θ, for a caller that projects its whole drift onto T_S anyway (the sampler's
   * fused increment, sampling/drift.ts) and so can skip the projections here.
   */
  score(S: Float32Array, t: number, out: Float32Array, ambient?: boolean): void;
  /** Release what the binding holds (a later bind of the same model may reuse it). */
  dispose(): void;
}

/** A trained residual tangent score s_θ(S, t, N) with its metadata (see the file comment). */
export interface ScoreModel {
  readonly meta: ScoreModelMeta;
  /**
   * Bind n raw context fields N [n·d] (row-major N_proj; the model normalises them itself) for
   * one reverse run. At most one binding of a model is live at a time: binding again invalidates
   * the previous one (its `score` throws).
   */
  bind(N: Float32Array, n: number): BoundScore;
  /** Release the weights and any binding. */
  dispose(): void;
}
