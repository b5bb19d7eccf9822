/**
 * Hook points of the GPT-2 forward pass (src/model/gpt2.ts) and the parameters of `params()`, named
 * AND shaped as in TransformerLens (HookedTransformer): code ported from TransformerLens indexes
 * them the same way. b = batch, p = query positions of this call, pk = key positions (cached +
 * new, pk = p without a KV cache), h = head_index (n_heads), dh = d_head, d = d_model,
 * d_mlp = MLP width, V = vocabulary, n_ctx = n_positions.
 * In spin-bath terms (src/core/attention.ts): scores = −H, pattern = σ, z = ⟨V⟩ = N₀ per head,
 * result = N_proj per head (BL Eqs. 1–2).
 *
 * | name                              | shape          | value                                                       |
 * |-----------------------------------|----------------|-------------------------------------------------------------|
 * | hook_embed                        | [b, p, d]      | token embeddings W_E[ids]                                   |
 * | hook_pos_embed                    | [b, p, d]      | position embeddings W_pos[past .. past+p) (broadcast over b)|
 * | blocks.{l}.hook_resid_pre         | [b, p, d]      | residual stream entering block l                            |
 * | blocks.{l}.ln1.hook_scale         | [b, p, 1]      | LN divisor sqrt(var + eps)                                  |
 * | blocks.{l}.ln1.hook_normalized    | [b, p, d]      | (x − mean)/sqrt(var + eps), BEFORE the LN gain and bias     |
 * | blocks.{l}.attn.hook_q            | [b, p, h, dh]  | queries ln1(x)·W_Q[h] + b_Q[h]                              |
 * | blocks.{l}.attn.hook_k            | [b, pk, h, dh] | keys, cached positions included                             |
 * | blocks.{l}.attn.hook_v            | [b, pk, h, dh] | values, cached positions included                           |
 * | blocks.{l}.attn.hook_attn_scores  | [b, h, p, pk]  | −H = Q·Kᵀ/√dh plus the causal mask (masked entries ≈ −1e9)  |
 * | blocks.{l}.attn.hook_pattern      | [b, h, p, pk]  | σ = softmax of the masked scores (rows sum to 1)            |
 * | blocks.{l}.attn.hook_z            | [b, p, h, dh]  | per-head ensemble average ⟨V⟩ = σ·V (N₀ per head)           |
 * | blocks.{l}.attn.hook_result       | [b, p, h, d]   | per-head z[h]·W_O[h] (N_proj per head), WITHOUT b_O         |
 * | blocks.{l}.hook_attn_out          | [b, p, d]      | Σ_h result + b_O (the attention sublayer's output)          |
 * | blocks.{l}.hook_resid_mid         | [b, p, d]      | resid_pre + attn_out                                        |
 * | blocks.{l}.ln2.hook_scale         | [b, p, 1]      | LN divisor sqrt(var + eps)                                  |
 * | blocks.{l}.ln2.hook_normalized    | [b, p, d]      | as ln1, before gain and bias                                |
 * | blocks.{l}.mlp.hook_pre           | [b, p, d_mlp]  | x·W_in + b_in (before the activation)                       |
 * | blocks.{l}.mlp.hook_post          | [b, p, d_mlp]  | activation(pre) (gelu_new / gelu / relu)                    |
 * | blocks.{l}.hook_mlp_out           | [b, p, d]      | post·W_out + b_out                                          |
 * | blocks.{l}.hook_resid_post        | [b, p, d]      | resid_mid + mlp_out (= resid_pre of block l+1)              |
 * | ln_final.hook_scale               | [b, p, 1]      | final-LN divisor sqrt(var + eps) (NOT its reciprocal 1/σ)   |
 * | ln_final.hook_normalized          | [b, p, d]      | final LN output before its gain and bias                    |
 * | hook_logits                       | [b, p, V]      | logits ([b, 1, V] under lastLogits / lastOnly)              |
 * |-----------------------------------|----------------|-------------------------------------------------------------|
 * | params(): embed.W_E               | [V, d]         | token embeddings (wte)                                      |
 * | pos_embed.W_pos                   | [n_ctx, d]     | learned positions (wpe)                                     |
 * | blocks.{l}.ln1.w / ln1.b          | [d]            | LN gain / bias (ln_1); ln2.w / ln2.b likewise (ln_2)        |
 * | blocks.{l}.attn.W_Q / W_K / W_V   | [h, d, dh]     | per-head projections (c_attn columns h·dh..(h+1)·dh)        |
 * | blocks.{l}.attn.b_Q / b_K / b_V   | [h, dh]        | per-head biases (c_attn bias)                               |
 * | blocks.{l}.attn.W_O               | [h, dh, d]     | per-head output (c_proj rows h·dh..(h+1)·dh)                |
 * | blocks.{l}.attn.b_O               | [d]            | c_proj bias                                                 |
 * | blocks.{l}.mlp.W_in / b_in        | [d, d_mlp] / [d_mlp] | c_fc                                                  |
 * | blocks.{l}.mlp.W_out / b_out      | [d_mlp, d] / [d] | mlp c_proj                                                |
 * | ln_final.w / ln_final.b           | [d]            | final LN gain / bias (ln_f)                                 |
 * | unembed.W_U                       | [d, V]         | unembedding (lm_headᵀ; = W_Eᵀ when tied). No b_U (GPT-2)    |
 *
 * `transformerLensShapes` (src/model/weights.ts) gives the parameter shapes for a config; the
 * trainable tfjs model stores the attention projections flat (`Gpt2Model.storedParams`).
 *
 * Hooks run in that order. A hook may return a tensor of the same shape to replace the
 * activation (an intervention); the replaced value is what flows on and what the activation
 * cache stores. Replacing hook_attn_scores recomputes the pattern (mask re-applied), replacing
 * hook_pattern recomputes z. hook_result is computed only when a hook or the cache asks for it
 * (otherwise attn_out = merge_heads(z)·W_O + b_O in one matmul). hook_k / hook_v values are what
 * the KV cache stores; with a KV cache they span every key position (TransformerLens's span only
 * the new ones). Tensors passed to a hook are disposed after the forward: tf.keep (or clone)
 * what a hook wants to hold on to.
 *
 * There is no global hook registry: hooks live in a HookPoints object made for one call.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A hook function: return a tensor of the same shape to replace the activation, or nothing. */
export type HookFn = (act: tf.Tensor, name: string) => tf.Tensor | void;

/** Which hook names: an explicit list, or a predicate over the name. */
export type NameFilter = readonly string[] | ((name: string) => boolean);

/**
 * A head-level intervention described as data, so that an engine without JS hooks (the ORT engine
 * compiles them into graph inputs) can run it; `fn` of the same Hook is its tfjs implementation.
 * Made only by src/model/interventions.ts; the Hook's `name` is then the exact hook name below.
 *
 * - zero:  `blocks.{layer}.attn.hook_z` [batch, pos, head_index, d_head]: z[:, :, h] ← 0 for h in heads.
 * - mean:  `blocks.{layer}.attn.hook_z`: z[:, :, heads[i]] ← means[i] ([d_head]), or, where means[i]
 *          is null, that head's z averaged over every batch row and position of the current call.
 * - patch: `blocks.{layer}.attn.hook_result` [batch, pos, head_index, d_model]:
 *          result[:, positions[i], head] ← value[:, i] (value [batch, n, d_model] or [n, d_model]
 *          for every row, row-major in `value`, shape in `valueShape`; n = positions.length).
 */
export type Intervention =
  | { kind: 'zero'; layer: number; heads: number[] }
  | { kind: 'mean'; layer: number; heads: number[]; means: (Float32Array | null)[] }
  | { kind: 'patch'; layer: number; head: number; positions: number[]; value: Float32Array; valueShape: number[] };

/** A hook registered for one call: a hook point name (or predicate) and the function run there. */
export interface Hook {
  /** The hook point's name, or a predicate selecting several (e.g. every `hook_z`). */
  name: string | ((name: string) => boolean);
  fn: HookFn;
  /** What `fn` does, declaratively (set by src/model/interventions.ts; absent for arbitrary hooks). */
  intervention?: Intervention;
}

/** Every hook name of a model with `nLayer` blocks, in the order the forward runs them. */
export function hookNames(nLayer: number): string[] {
  const names = ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < nLayer; l++) {
    const b = `blocks.${l}.`;
    names.push(b + 'hook_resid_pre', b + 'ln1.hook_scale', b + 'ln1.hook_normalized');
    for (const a of ['q', 'k', 'v', 'attn_scores', 'pattern', 'z', 'result']) names.push(`${b}attn.hook_${a}`);
    names.push(b + 'hook_attn_out', b + 'hook_resid_mid', b + 'ln2.hook_scale', b + 'ln2.hook_normalized');
    names.push(b + 'mlp.hook_pre', b + 'mlp.hook_post', b + 'hook_mlp_out', b + 'hook_resid_post');
  }
  names.push('ln_final.hook_scale', 'ln_final.hook_normalized', 'hook_logits');
  return names;
}

function toPredicate(f: NameFilter | string | undefined): (name: string) => boolean {
  if (f === undefined) return () => false;
  if (typeof f === 'function') return f;
  if (typeof f === 'string') return (n) => n === f;
  const set = new Set(f);
  return (n) => set.has(n);
}

/**
 * The hooks and activation cache of ONE forward call. The model asks `wants(name)` before doing
 * optional work and passes each activation through `run(name, act)`.
 */
export class HookPoints {
  private hooks: { match: (name: string) => boolean; fn: HookFn }[];
  private readonly keep: (name: string) => boolean;
  private acts = new Map<string, tf.Tensor>();

  constructor(hooks: readonly Hook[] = [], keep?: NameFilter) {
    this.hooks = hooks.map((h) => ({ match: toPredicate(h.name), fn: h.fn }));
    this.keep = toPredicate(keep);
  }

  /** Whether a hook or the activation cache wants `name`. */
  wants(name: string): boolean {
    return this.keep(name) || this.hooks.some((h) => h.match(name));
  }

  /** Run the hooks registered for `name` in order (each may replace the activation); cache it if asked. */
  run(name: string, act: tf.Tensor): tf.Tensor {
    let cur = act;
    for (const h of this.hooks) {
      if (!h.match(name)) continue;
      const out = h.fn(cur, name);
      if (out instanceof tf.Tensor) {
        if (!tf.util.arraysEqual(out.shape, cur.shape)) {
          throw new Error(`hook on ${name} returned shape [${out.shape}], but the activation has shape [${cur.shape}]`);
        }
        cur = out;
      }
    }
    if (this.keep(name)) {
      this.acts.get(name)?.dispose();
      this.acts.set(name, tf.keep(tf.clone(cur)));
    }
    return cur;
  }

  /** Hand the cached activations to the caller (who disposes them); the HookPoints forgets them. */
  takeActivations(): Map<string, tf.Tensor> {
    const out = this.acts;
    this.acts = new Map();
    return out;
  }

  /** Remove every hook and dispose activations not taken (called in `finally`). */
  close(): void {
    this.hooks = [];
    disposeActivations(this.acts);
  }
}

/** Dispose every tensor of an activation cache returned by `runWithCache`, and clear it. */
export function disposeActivations(acts: Map<string, tf.Tensor>): void {
  for (const t of acts.values()) t.dispose();
  acts.clear();
}
