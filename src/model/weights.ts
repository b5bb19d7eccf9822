/**
 * GPT-2 weights as plain host arrays, independent of any tensor engine (so a second inference
 * engine, e.g. onnxruntime, can be added later). Names are the Hugging Face GPT-2 names without
 * the `transformer.` prefix; matrices keep GPT-2's Conv1D layout (W stored [in, out], y = x·W + b).
 *
 *   wte.weight              [vocab, d_model]      token embeddings (tied unembedding)
 *   wpe.weight              [n_positions, d_model] learned positions
 *   h.{l}.ln_1.weight/bias  [d_model]
 *   h.{l}.attn.c_attn.weight [d_model, 3·d_model] (q | k | v along the output axis)
 *   h.{l}.attn.c_attn.bias  [3·d_model]
 *   h.{l}.attn.c_proj.weight [d_model, d_model]   (W_O; rows h·d_head..(h+1)·d_head belong to head h)
 *   h.{l}.attn.c_proj.bias  [d_model]
 *   h.{l}.ln_2.weight/bias  [d_model]
 *   h.{l}.mlp.c_fc.weight   [d_model, d_mlp]
 *   h.{l}.mlp.c_fc.bias     [d_mlp]
 *   h.{l}.mlp.c_proj.weight [d_mlp, d_model]
 *   h.{l}.mlp.c_proj.bias   [d_model]
 *   ln_f.weight/bias        [d_model]
 *   lm_head.weight          [vocab, d_model]      optional; absent or equal to wte when tied
 */

/** config.json of a GPT-2-architecture model (Hugging Face field names). */
export interface Gpt2Config {
  model_type?: string;
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner?: number | null;
  layer_norm_epsilon: number;
  activation_function: string;
  bos_token_id?: number;
  eos_token_id?: number;
  tie_word_embeddings?: boolean;
  [key: string]: unknown;
}

/** A tensor on the host: shape and float32 data (row-major). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A GPT-2 config with its weights by Hugging Face name, as host tensors. */
export interface Gpt2Weights {
  config: Gpt2Config;
  /** Canonical (unprefixed) name → fp32 host tensor. */
  tensors: Map<string, HostTensor>;
}

/** The expected shape of every weight for a config, in canonical names (lm_head excluded). */
export function expectedShapes(c: Gpt2Config): Map<string, number[]> {
  const d = c.n_embd;
  const inner = c.n_inner ?? 4 * d;
  const m = new Map<string, number[]>();
  m.set('wte.weight', [c.vocab_size, d]);
  m.set('wpe.weight', [c.n_positions, d]);
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}.`;
    m.set(p + 'ln_1.weight', [d]);
    m.set(p + 'ln_1.bias', [d]);
    m.set(p + 'attn.c_attn.weight', [d, 3 * d]);
    m.set(p + 'attn.c_attn.bias', [3 * d]);
    m.set(p + 'attn.c_proj.weight', [d, d]);
    m.set(p + 'attn.c_proj.bias', [d]);
    m.set(p + 'ln_2.weight', [d]);
    m.set(p + 'ln_2.bias', [d]);
    m.set(p + 'mlp.c_fc.weight', [d, inner]);
    m.set(p + 'mlp.c_fc.bias', [inner]);
    m.set(p + 'mlp.c_proj.weight', [inner, d]);
    m.set(p + 'mlp.c_proj.bias', [d]);
  }
  m.set('ln_f.weight', [d]);
  m.set('ln_f.bias', [d]);
  return m;
}
