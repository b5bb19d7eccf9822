/**
 * The per-head context-field extractor (Bhattacharjee & Lee, Sec. II A and Appendix D), built on
 * the Hamiltonian core. For a prompt and every (layer, head), at the final position:
 *   α      attention over the context                        (softmax of −H/τ, τ = √d_head)
 *   N₀     = Σ_j α_j V_j ∈ R^{d_head}                        (BL Eq. 1 / D1)
 *   N_proj = N₀ W_O^(h) ∈ R^{d_model}                         (BL Eq. 2 / D2, row convention)
 *   ΔL_theory = N_proj·(e_good − e_bad)                        (BL Eq. 4 / D3)
 *   ΔL_ln  = ((N_proj − mean N_proj)/σ_f)·(γ_f ⊙ (e_good − e_bad))   (LN-scaled: direct logit attribution)
 * in two modes:
 *   embedding: the head applied to the raw token embeddings S = W_E[prompt] (BL Appendix D: no
 *              positions, no LayerNorm, no biases), through the core's attention;
 *   residual:  in situ, the head's real LayerNorm'd input inside the model (hook_pattern and hook_z
 *              of the forward pass; N_proj = z_last·W_O^(h), which is hook_result at the last
 *              position, computed for that position only instead of caching hook_result
 *              [1, k, head, d_model] for every position).
 * σ_f and γ_f are the final LayerNorm's divisor at the last position and its gain. ΔL_actual is
 * the model's own logit gap at the last position (BL Eq. D4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { attend } from '../core/attention.js';
import { matmul } from '../core/linalg.js';
import type { LanguageModel } from '../model/engine.js';
import { disposeActivations } from '../model/hooks.js';

/** 'embedding': fields from the token embeddings (BL Eqs. 1–4); 'residual': from the LN-scaled residual stream (BL App. D). */
export type FieldMode = 'embedding' | 'residual';
/** The extraction modes of {@link extractPromptFields}. */
export const FIELD_MODES: readonly FieldMode[] = ['embedding', 'residual'];

/** Per-head fields of one prompt: α, N₀, N_proj, ΔL_theory for every head, and the model's own ΔL_actual. */
export interface PromptFields {
  mode: FieldMode;
  nLayer: number;
  nHead: number;
  /** Context length k. */
  k: number;
  /** α per head, row-major [layer][head][k]. */
  alpha: Float32Array;
  /** N₀ per head, [layer][head][d_head]. */
  N0: Float32Array;
  /** N_proj per head, [layer][head][d_model]. */
  Nproj: Float32Array;
  /** ΔL_theory per head, [layer][head]. */
  theory: Float64Array;
  /** LN-scaled ΔL per head, [layer][head]. */
  theoryLn: Float64Array;
  /** The model's logit gap at the last position. */
  actual: number;
  /** Final LayerNorm divisor σ_f at the last position. */
  lnScale: number;
  /** Logits of the last position [vocab] (for temperature sweeps). */
  logits: Float32Array;
}

/** Token directions e_t as rows [n, d_model]: columns of the unembedding W_U [d_model, vocab] (= rows of W_E when tied). */
export function tokenDirections(model: LanguageModel, ids: number[]): tf.Tensor {
  return tf.tidy(() => {
    const WU = model.params().get('unembed.W_U')!; // [d_model, vocab]
    return tf.transpose(tf.gather(WU, tf.tensor1d(ids, 'int32'), 1)); // [n, d_model]
  });
}

/** Per-head output matrices W_O of layer l: [head, d_head, d_model] (TransformerLens layout). */
function headOutputs(model: LanguageModel, l: number): tf.Tensor {
  return model.params().get(`blocks.${l}.attn.W_O`)!;
}

/** Embedding mode for one layer: α [head, k], N₀ [head, d_head], N_proj [head, d_model]. */
function embeddingModeLayer(model: LanguageModel, S: tf.Tensor, l: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const p = model.params();
    const [nH, dh, d] = [model.nHead, model.dHead, model.dModel];
    const k = S.shape[0] as number;
    const perHead = (x: tf.Tensor) => tf.broadcastTo(tf.expandDims(x, 0), [nH, x.shape[0] as number, d]); // [head, rows, d_model]
    const sLast = tf.slice(S, [k - 1, 0], [1, d]); // [1, d_model]: only the last query is needed
    const qLast = matmul(perHead(sLast), p.get(`blocks.${l}.attn.W_Q`)!); // [head, 1, d_head]
    const K = matmul(perHead(S), p.get(`blocks.${l}.attn.W_K`)!); // [head, k, d_head]
    const V = matmul(perHead(S), p.get(`blocks.${l}.attn.W_V`)!); // [head, k, d_head]
    const { pattern, z } = attend(qLast, K, V, Math.sqrt(dh)); // [head, 1, k], [head, 1, d_head]
    const Nproj = matmul(z, headOutputs(model, l)); // [head, 1, d_model]
    return [tf.reshape(pattern, [nH, k]), tf.reshape(z, [nH, dh]), tf.reshape(Nproj, [nH, model.dModel])];
  });
}

const layerNames = (l: number) => [`blocks.${l}.attn.hook_pattern`, `blocks.${l}.attn.hook_z`];

/** Extract every head's context field for one prompt. */
export async function extractPromptFields(model: LanguageModel, ids: number[], goodId: number, badId: number, mode: FieldMode): Promise<PromptFields> {
  const [L, nH, dh, d] = [model.nLayer, model.nHead, model.dHead, model.dModel];
  const k = ids.length;
  const names = ['ln_final.hook_scale', ...(mode === 'residual' ? Array.from({ length: L }, (_, l) => layerNames(l)).flat() : [])];
  const { logits, activations } = await model.runWithCacheAsync([ids], { names, lastOnly: true }); // logits [1, 1, vocab]
  const out: PromptFields = {
    mode,
    nLayer: L,
    nHead: nH,
    k,
    alpha: new Float32Array(L * nH * k),
    N0: new Float32Array(L * nH * dh),
    Nproj: new Float32Array(L * nH * d),
    theory: new Float64Array(L * nH),
    theoryLn: new Float64Array(L * nH),
    actual: 0,
    lnScale: 0,
    logits: new Float32Array(0),
  };
  try {
    const last = tf.reshape(logits, [model.vocab]);
    out.logits = last.dataSync() as Float32Array;
    last.dispose();
    out.actual = out.logits[goodId] - out.logits[badId];
    const scaleT = activations.get('ln_final.hook_scale')!; // [1, k, 1]
    out.lnScale = scaleT.dataSync()[k - 1];
    const [dE, dEln] = tf.tidy(() => {
      const e = tokenDirections(model, [goodId, badId]); // [2, d_model]
      const diff = tf.sub(tf.slice(e, [0, 0], [1, d]), tf.slice(e, [1, 0], [1, d])); // [1, d_model]
      return [tf.reshape(diff, [d, 1]), tf.reshape(tf.mul(diff, model.params().get('ln_final.w')!), [d, 1])]; // [d_model, 1]
    });
    let S: tf.Tensor | null = null;
    if (mode === 'embedding') S = tf.tidy(() => tf.gather(model.params().get('embed.W_E')!, tf.tensor1d(ids, 'int32'))); // [k, d_model]
    for (let l = 0; l < L; l++) {
      const [alpha, N0, Nproj] =
        mode === 'embedding'
          ? embeddingModeLayer(model, S!, l)
          : tf.tidy(() => {
              const pat = activations.get(`blocks.${l}.attn.hook_pattern`)!; // [1, head, k, k]
              const z = activations.get(`blocks.${l}.attn.hook_z`)!; // [1, k, head, d_head]
              const zLast = tf.reshape(tf.slice(z, [0, k - 1, 0, 0], [1, 1, nH, dh]), [nH, 1, dh]); // [head, 1, d_head]
              const Nproj = matmul(zLast, headOutputs(model, l)); // [head, 1, d_model]: hook_result at the last position
              return [tf.reshape(tf.slice(pat, [0, 0, k - 1, 0], [1, nH, 1, k]), [nH, k]), tf.reshape(zLast, [nH, dh]), tf.reshape(Nproj, [nH, d])];
            });
      const [gap, gapLn] = tf.tidy(() => {
        const centred = tf.sub(Nproj, tf.mean(Nproj, 1, true)); // [head, d_model]
        return [matmul(Nproj, dE), tf.div(matmul(centred, dEln), out.lnScale)]; // [head, 1]
      });
      out.alpha.set(alpha.dataSync(), l * nH * k);
      out.N0.set(N0.dataSync(), l * nH * dh);
      out.Nproj.set(Nproj.dataSync(), l * nH * d);
      const g = gap.dataSync();
      const gl = gapLn.dataSync();
      for (let h = 0; h < nH; h++) {
        out.theory[l * nH + h] = g[h];
        out.theoryLn[l * nH + h] = gl[h];
      }
      tf.dispose([alpha, N0, Nproj, gap, gapLn]);
    }
    tf.dispose([dE, dEln, ...(S ? [S] : [])]);
  } finally {
    logits.dispose();
    disposeActivations(activations);
  }
  return out;
}
