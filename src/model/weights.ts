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

/** A row-major fp32 host tensor. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A GPT-2 checkpoint on the host: its config and its tensors by Hugging Face name. */
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

/**
 * The TransformerLens name and shape of every parameter a `LanguageModel.params()` holds for a
 * config (the weight table in src/model/hooks.ts), in model order.
 */
export function transformerLensShapes(c: Gpt2Config): Map<string, number[]> {
  const [d, nH, V] = [c.n_embd, c.n_head, c.vocab_size];
  const dh = d / nH;
  const dMlp = c.n_inner ?? 4 * d;
  const m = new Map<string, number[]>([
    ['embed.W_E', [V, d]],
    ['pos_embed.W_pos', [c.n_positions, d]],
  ]);
  for (let l = 0; l < c.n_layer; l++) {
    const b = `blocks.${l}.`;
    m.set(b + 'ln1.w', [d]);
    m.set(b + 'ln1.b', [d]);
    for (const x of ['Q', 'K', 'V']) m.set(`${b}attn.W_${x}`, [nH, d, dh]);
    for (const x of ['Q', 'K', 'V']) m.set(`${b}attn.b_${x}`, [nH, dh]);
    m.set(b + 'attn.W_O', [nH, dh, d]);
    m.set(b + 'attn.b_O', [d]);
    m.set(b + 'ln2.w', [d]);
    m.set(b + 'ln2.b', [d]);
    m.set(b + 'mlp.W_in', [d, dMlp]);
    m.set(b + 'mlp.b_in', [dMlp]);
    m.set(b + 'mlp.W_out', [dMlp, d]);
    m.set(b + 'mlp.b_out', [d]);
  }
  m.set('ln_final.w', [d]);
  m.set('ln_final.b', [d]);
  m.set('unembed.W_U', [d, V]);
  return m;
}

/**
 * Host weights (Hugging Face names, Conv1D layout) rearranged into TransformerLens names and
 * shapes (`transformerLensShapes`), by index arithmetic on the host; what every engine's `params()`
 * returns. c_attn [d, 3d] column j of block q/k/v holds head ⌊j/d_head⌋, so
 * W_Q[h, i, c] = c_attn[i, h·d_head + c] (K: + d, V: + 2d); W_O[h, c, o] = c_proj[h·d_head + c, o];
 * W_U = lm_headᵀ when untied, else wteᵀ. Entries whose layout is unchanged share `w`'s buffers.
 */
export function tlParamsFromHost(w: Gpt2Weights): Map<string, HostTensor> {
  const c = w.config;
  const [d, nH] = [c.n_embd, c.n_head];
  const dh = d / nH;
  const get = (name: string) => {
    const t = w.tensors.get(name);
    if (!t) throw new Error(`weight ${name} is missing`);
    return t;
  };
  const shapes = transformerLensShapes(c);
  const out = new Map<string, HostTensor>();
  const put = (name: string, data: Float32Array) => out.set(name, { shape: shapes.get(name)!, data });
  const transposed = (t: HostTensor) => {
    const [r, k] = t.shape;
    const data = new Float32Array(r * k);
    for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) data[j * r + i] = t.data[i * k + j];
    return data;
  };
  put('embed.W_E', get('wte.weight').data);
  put('pos_embed.W_pos', get('wpe.weight').data);
  for (let l = 0; l < c.n_layer; l++) {
    const [b, h_] = [`blocks.${l}.`, `h.${l}.`];
    put(b + 'ln1.w', get(h_ + 'ln_1.weight').data);
    put(b + 'ln1.b', get(h_ + 'ln_1.bias').data);
    const cAttn = get(h_ + 'attn.c_attn.weight').data; // [d, 3d]
    const cBias = get(h_ + 'attn.c_attn.bias').data; // [3d]
    for (const [which, x] of ['Q', 'K', 'V'].entries()) {
      const W = new Float32Array(nH * d * dh);
      const bias = new Float32Array(nH * dh);
      for (let h = 0; h < nH; h++) {
        for (let cc = 0; cc < dh; cc++) {
          const col = which * d + h * dh + cc;
          for (let i = 0; i < d; i++) W[(h * d + i) * dh + cc] = cAttn[i * 3 * d + col];
          bias[h * dh + cc] = cBias[col];
        }
      }
      put(`${b}attn.W_${x}`, W);
      put(`${b}attn.b_${x}`, bias);
    }
    put(b + 'attn.W_O', get(h_ + 'attn.c_proj.weight').data); // [nH·dh, d] row-major = [nH, dh, d]
    put(b + 'attn.b_O', get(h_ + 'attn.c_proj.bias').data);
    put(b + 'ln2.w', get(h_ + 'ln_2.weight').data);
    put(b + 'ln2.b', get(h_ + 'ln_2.bias').data);
    put(b + 'mlp.W_in', get(h_ + 'mlp.c_fc.weight').data);
    put(b + 'mlp.b_in', get(h_ + 'mlp.c_fc.bias').data);
    put(b + 'mlp.W_out', get(h_ + 'mlp.c_proj.weight').data);
    put(b + 'mlp.b_out', get(h_ + 'mlp.c_proj.bias').data);
  }
  put('ln_final.w', get('ln_f.weight').data);
  put('ln_final.b', get('ln_f.bias').data);
  put('unembed.W_U', transposed(w.tensors.get('lm_head.weight') ?? get('wte.weight')));
  return out;
}

/**
 * A padded embedding cut to the tokenizer's ids: wte (and an untied lm_head) keep their first
 * `rows` rows and config.vocab_size becomes `rows`. The dropped rows are ids no tokenizer
 * produces or decodes (e.g. GPT-2 checkpoints padded to 50,304 rows for 50,257 tokens); the
 * logits of the kept ids are unchanged, and probabilities are normalised over them, so nothing
 * can sample an id that cannot be decoded. The kept rows are views (no copy).
 */
export function dropPaddingRows(w: Gpt2Weights, rows: number): Gpt2Weights {
  const vocab = w.config.vocab_size;
  if (!(Number.isInteger(rows) && rows >= 1 && rows <= vocab)) throw new Error(`internal: cannot keep ${rows} of ${vocab} embedding rows`);
  if (rows === vocab) return w;
  const tensors = new Map(w.tensors);
  for (const name of ['wte.weight', 'lm_head.weight']) {
    const t = w.tensors.get(name);
    if (!t) continue;
    const [, d] = t.shape; // [vocab, d_model]
    tensors.set(name, { shape: [rows, d], data: t.data.subarray(0, rows * d) });
  }
  return { config: { ...w.config, vocab_size: rows }, tensors };
}
