/**
 * The GPT-2 forward as an ONNX graph, built in memory for onnxruntime (src/model/ort/engine.ts runs
 * it). It mirrors the tfjs forward of src/model/gpt2.ts line for line: token + position embeddings,
 * n_layer pre-LN blocks (causal self-attention, MLP), ln_f and the tied (or untied) unembedding.
 *
 * Weights keep their Hugging Face names (`h.0.attn.c_attn.weight`, Conv1D layout [in, out],
 * y = x·W + b). By default they are graph INPUTS, fed at every run straight from the host
 * Float32Arrays: ORT wraps those buffers without copying, so every compiled variant of the graph
 * (hook outputs, last-position logits, interventions) shares the one host copy. With
 * `weights: 'initializers'` they are external initializers instead, handed to the session as
 * in-memory external data (ORT copies and prepacks them; the engine does this for small models).
 *
 * Variants (`GraphSpec`): hook sites become graph outputs named by their TransformerLens names
 * (table in src/model/hooks.ts); head interventions become graph inputs (`iv{i}.*`); a KV cache adds
 * `present_key.{l}` / `present_value.{l}` outputs [batch, head, p, d_head] (this call's keys and
 * values only; src/model/ort/cache.ts appends them) and, once the cache holds positions,
 * `past_key.{l}` / `past_value.{l}` inputs [batch, head, cap, d_head] (the cache's buffers, read in
 * place; slots past `past_len` are masked). The first call into an empty cache runs the graph
 * without past inputs (`past: false`): a zero-length past would make σ_past·V_past a MatMul with an
 * inner dimension of 0, which crashes ORT 1.30's WebGPU execution provider (SIGSEGV; the CPU
 * provider returns zeros); without it, a prefill equals the uncached forward to the bit.
 * Symbols below: b batch, p new positions, pk = past_len + p key positions, h heads,
 * dh = d_head, d = d_model, dm = d_mlp, V vocab.
 *
 * Equations: attention scores −H = Q·Kᵀ/√dh (HJ Eq. 1), pattern σ = softmax over visible keys (the
 * Boltzmann ensemble, HJ), z = σ·V (the ensemble average ⟨V⟩ per head).
 */
import type { Gpt2Config } from '../weights.js';
import { GraphBuilder, INT64, type Dim } from './onnx.js';

/** An intervention slot in the graph; its values are fed per call (src/model/ort/interventions.ts). */
export interface InterventionSlot {
  /** `blocks.{l}.attn.hook_z` for 'head' (zero/mean ablation), `blocks.{l}.attn.hook_result` for 'patch'. */
  site: string;
  kind: 'head' | 'patch';
}

/** What one compiled graph computes (sessions are cached by this, JSON-keyed). */
export interface GraphSpec {
  /** KV cache outputs (present_key/present_value: this call's keys and values). */
  cache: boolean;
  /** KV cache inputs (past_key/past_value, past_len): only with `cache`, false while the cache is empty. */
  past: boolean;
  /** Unembed (or return the residual of) the last position only. */
  lastOnly: boolean;
  /**
   * 'logits' [b·p, V]; 'residual' = the ln_f output [b, p, d] (p → 1 with lastOnly); 'nll' = the
   * per-token loss logsumexp(logits) − logits[target] [b·p] for an input `targets` [b, p] (the
   * logits never leave the graph).
   */
  output: 'logits' | 'residual' | 'nll';
  /** Hook names exposed as graph outputs (sorted). */
  hooks: readonly string[];
  /** Interventions in the order they apply; slot i reads inputs `iv{i}.mask`, `iv{i}.value` (and `iv{i}.own`). */
  interventions: readonly InterventionSlot[];
}

/** The MLP activation of config.activation_function, in standard ops (ORT fuses gelu_new to FastGelu). */
function activation(g: GraphBuilder, name: string, x: string): string {
  switch (name) {
    case 'gelu_new':
    case 'gelu_fast':
    case 'gelu_pytorch_tanh': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as Hugging Face's GPT-2 export writes it.
      const cube = g.op('Mul', [g.op('Pow', [x, g.float(3)]), g.float(0.044715)]);
      const inner = g.op('Mul', [g.op('Add', [x, cube]), g.float(Math.sqrt(2 / Math.PI))]);
      return g.op('Mul', [g.op('Mul', [x, g.float(0.5)]), g.op('Add', [g.op('Tanh', [inner]), g.float(1)])]);
    }
    case 'gelu': // exact: 0.5·x·(1 + erf(x/√2))
      return g.op('Mul', [g.op('Mul', [x, g.float(0.5)]), g.op('Add', [g.op('Erf', [g.op('Div', [x, g.float(Math.SQRT2)])]), g.float(1)])]);
    case 'relu':
      return g.op('Relu', [x]);
    default:
      throw new Error(`activation_function '${name}' is not supported; use gelu_new, gelu or relu`);
  }
}

/**
 * Build the graph of `spec` for a model of config `c`. Returns the serialized ModelProto, its node
 * count and the output names (main output first). The logits (and hook_logits) come out 2-D,
 * [b·p, V] (p = 1 with lastOnly); every other output has its hook-table shape.
 */
export function buildGpt2Graph(
  c: Gpt2Config,
  spec: GraphSpec,
  opts: { untiedHead: boolean; weights?: 'inputs' | 'initializers' },
): { model: Uint8Array; nodes: number; outputs: string[] } {
  const g = new GraphBuilder();
  const [d, H, L] = [c.n_embd, c.n_head, c.n_layer];
  const dh = d / H;
  const dm = c.n_inner ?? 4 * d;
  const V = c.vocab_size;
  const hooked = new Set(spec.hooks);
  const outputs: string[] = [];
  const out = (value: string, name: string, dims: readonly Dim[]) => outputs.push(g.output(value, name, dims));
  /** Expose `value` as the hook output `name` if asked; returns `value`. */
  const hook = (name: string, value: string, dims: readonly Dim[]) => {
    if (hooked.has(name)) out(value, name, dims);
    return value;
  };
  const W = (name: string, dims: number[]) => (opts.weights === 'initializers' ? g.externalInitializer(name, dims) : g.input(name, dims)); // a weight
  const slots = spec.interventions.map((s, i) => ({ ...s, i }));

  // ---- inputs ----
  const ids = g.input('input_ids', ['b', 'p'], INT64); // [b, p]
  const positions = g.input('position_ids', ['p'], INT64); // [p] = past .. past+p−1
  // Additive mask over the keys, 0 visible / −1e9 hidden: causal [p, p], or with a KV cache
  // [p, cap + p] over [cache slots | new keys] (slots ≥ past_len hidden too).
  const mask = g.input('attn_mask', ['p', 'keys']);
  const withPast = spec.cache && spec.past;
  const pastLen = withPast ? g.input('past_len', [1], INT64) : null; // [1] filled cache positions
  const wte = W('wte.weight', [V, d]);
  const wpe = W('wpe.weight', [c.n_positions, d]);

  /** LayerNorm over d; the explicit form only where its hook_scale / hook_normalized are asked for. */
  const layerNorm = (x: string, hf: string, tl: string): string => {
    const [w, bias] = [W(`${hf}.weight`, [d]), W(`${hf}.bias`, [d])];
    if (!hooked.has(`${tl}hook_scale`) && !hooked.has(`${tl}hook_normalized`)) {
      return g.op('LayerNormalization', [x, w, bias], { axis: -1, epsilon: { f: c.layer_norm_epsilon } }); // [b, p, d]
    }
    const centred = g.op('Sub', [x, g.op('ReduceMean', [x], { axes: [-1], keepdims: 1 })]); // [b, p, d]
    const variance = g.op('ReduceMean', [g.op('Mul', [centred, centred])], { axes: [-1], keepdims: 1 }); // [b, p, 1]
    const scale = hook(`${tl}hook_scale`, g.op('Sqrt', [g.op('Add', [variance, g.float(c.layer_norm_epsilon)])]), ['b', 'p', 1]); // [b, p, 1]
    const normalized = hook(`${tl}hook_normalized`, g.op('Div', [centred, scale]), ['b', 'p', d]); // [b, p, d]
    return g.op('Add', [g.op('Mul', [normalized, w]), bias]); // [b, p, d]
  };

  /** Apply the interventions of `site` in order to x (z [b, p, h, dh] or result [b, p, h, d]). */
  const intervene = (site: string, x: string, width: number): string => {
    for (const s of slots.filter((t) => t.site === site)) {
      const keepOld = (m: string) => g.op('Sub', [g.float(1), m]); // 1 − mask
      if (s.kind === 'head') {
        // z_h ← value_h + own_h·mean_{b,p}(z_h) on masked heads (zero: value 0, own 0; mean: given value or own mean).
        const m = g.input(`iv${s.i}.mask`, [1, 1, H, 1]); // [1, 1, h, 1]
        const value = g.input(`iv${s.i}.value`, [1, 1, H, width]); // [1, 1, h, dh]
        const own = g.input(`iv${s.i}.own`, [1, 1, H, 1]); // [1, 1, h, 1]
        const ownMean = g.op('ReduceMean', [x], { axes: [0, 1], keepdims: 1 }); // [1, 1, h, dh]
        const repl = g.op('Add', [value, g.op('Mul', [own, ownMean])]); // [1, 1, h, dh]
        x = g.op('Add', [g.op('Mul', [x, keepOld(m)]), g.op('Mul', [repl, m])]); // [b, p, h, dh]
      } else {
        // result[:, q, h] ← value[:, q, h] where mask[q, h] = 1 (activation patching).
        const m = g.input(`iv${s.i}.mask`, [1, 'p', H, 1]); // [1, p, h, 1]
        const value = g.input(`iv${s.i}.value`, ['b', 'p', H, width]); // [b, p, h, d]
        x = g.op('Add', [g.op('Mul', [x, keepOld(m)]), g.op('Mul', [value, m])]); // [b, p, h, d]
      }
    }
    return x;
  };

  /** Causal self-attention of block l on the LN'd stream x [b, p, d] → attn_out [b, p, d]. */
  const attention = (l: number, x: string): string => {
    const hf = `h.${l}.attn.`;
    const tl = `blocks.${l}.attn.`;
    const qkv = g.op('Add', [g.op('MatMul', [x, W(`${hf}c_attn.weight`, [d, 3 * d])]), W(`${hf}c_attn.bias`, [3 * d])]); // [b, p, 3d]
    const [q0, k0, v0] = g.ops('Split', [qkv, g.ints([d, d, d])], 3, { axis: 2 }); // 3 × [b, p, d]
    const heads = (t: string) => g.op('Reshape', [t, g.ints([0, 0, H, dh])]); // [b, p, h, dh]
    const toBHPD = (t: string, name?: string) => g.op('Transpose', [t], { perm: [0, 2, 1, 3] }, name); // [b, p, h, ·] ↔ [b, h, p, ·]
    const q = toBHPD(hook(`${tl}hook_q`, heads(q0), ['b', 'p', H, dh])); // [b, h, p, dh]
    const k = toBHPD(heads(k0), spec.cache ? `present_key.${l}` : undefined); // [b, h, p, dh]
    const v = toBHPD(heads(v0), spec.cache ? `present_value.${l}` : undefined); // [b, h, p, dh]
    const qk = (keys: string) => g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [keys], { perm: [0, 1, 3, 2] })]), g.float(1 / Math.sqrt(dh))]);

    let zBH: string; // ⟨V⟩ = σ·V [b, h, p, dh]
    if (spec.cache) {
      out(k, `present_key.${l}`, ['b', H, 'p', dh]);
      out(v, `present_value.${l}`, ['b', H, 'p', dh]);
    }
    if (!withPast) {
      if (hooked.has(`${tl}hook_k`)) hook(`${tl}hook_k`, toBHPD(k), ['b', 'p', H, dh]); // [b, p, h, dh]
      if (hooked.has(`${tl}hook_v`)) hook(`${tl}hook_v`, toBHPD(v), ['b', 'p', H, dh]); // [b, p, h, dh]
      const scores = hook(`${tl}hook_attn_scores`, g.op('Add', [qk(k), mask]), ['b', H, 'p', 'p']); // −H = Q·Kᵀ/√dh + mask [b, h, p, p]
      const pattern = hook(`${tl}hook_pattern`, g.op('Softmax', [scores], { axis: -1 }), ['b', H, 'p', 'p']); // σ [b, h, p, p]
      zBH = g.op('MatMul', [pattern, v]); // [b, h, p, dh]
    } else {
      // KV cache: the past keys/values [b, h, cap, dh] (slots ≥ past_len unfilled, masked) are read in
      // place, never concatenated: scores over [cached slots | new keys], one softmax, two products.
      // Only this call's k, v leave the graph (present_*); the engine appends them to the cache.
      const pastK = g.input(`past_key.${l}`, ['b', H, 'cap', dh]);
      const pastV = g.input(`past_value.${l}`, ['b', H, 'cap', dh]);
      const cap = g.op('Shape', [pastK], { start: 2, end: 3 }); // [1] = cap
      const lastAxis = g.ints([3]);
      const end = g.ints([Number.MAX_SAFE_INTEGER]);
      const scores = g.op('Add', [g.op('Concat', [qk(pastK), qk(k)], { axis: 3 }), mask]); // [b, h, p, cap + p]
      const pattern = g.op('Softmax', [scores], { axis: -1 }); // σ [b, h, p, cap + p]
      const sigmaPast = g.op('Slice', [pattern, g.ints([0]), cap, lastAxis]); // [b, h, p, cap]
      const sigmaNew = g.op('Slice', [pattern, cap, end, lastAxis]); // [b, h, p, p]
      zBH = g.op('Add', [g.op('MatMul', [sigmaPast, pastV]), g.op('MatMul', [sigmaNew, v])]); // [b, h, p, dh]
      // Hooks see the filled positions only, in order: [past | new] (pk = past_len + p).
      const filled = (t: string, axis: number, tail: string) => g.op('Concat', [g.op('Slice', [t, g.ints([0]), pastLen!, g.ints([axis])]), tail], { axis }); // pk along `axis`
      const tailOf = (t: string) => g.op('Slice', [t, cap, end, lastAxis]); // the new keys' columns [b, h, p, p]
      if (hooked.has(`${tl}hook_k`)) hook(`${tl}hook_k`, toBHPD(filled(pastK, 2, k)), ['b', 'pk', H, dh]); // [b, pk, h, dh]
      if (hooked.has(`${tl}hook_v`)) hook(`${tl}hook_v`, toBHPD(filled(pastV, 2, v)), ['b', 'pk', H, dh]); // [b, pk, h, dh]
      if (hooked.has(`${tl}hook_attn_scores`)) hook(`${tl}hook_attn_scores`, filled(scores, 3, tailOf(scores)), ['b', H, 'p', 'pk']);
      if (hooked.has(`${tl}hook_pattern`)) hook(`${tl}hook_pattern`, filled(pattern, 3, tailOf(pattern)), ['b', H, 'p', 'pk']);
    }
    const z = hook(`${tl}hook_z`, intervene(`${tl}hook_z`, toBHPD(zBH), dh), ['b', 'p', H, dh]); // [b, p, h, dh]

    const Wo = W(`${hf}c_proj.weight`, [d, d]); // [h·dh, d]: rows h·dh.. belong to head h
    const bo = W(`${hf}c_proj.bias`, [d]);
    const perHead = hooked.has(`${tl}hook_result`) || slots.some((s) => s.site === `${tl}hook_result`);
    if (!perHead) {
      // Fast path: merge heads, one matmul with W_O.
      const merged = g.op('Reshape', [z, g.ints([0, 0, d])]); // [b, p, d]
      return g.op('Add', [g.op('MatMul', [merged, Wo]), bo]); // [b, p, d]
    }
    // Per-head path: result_h = z_h · W_O[h·dh..(h+1)·dh, :] (without the bias).
    const WoHeads = g.op('Reshape', [Wo, g.ints([H, dh, d])]); // [h, dh, d]
    const resultBH = g.op('MatMul', [toBHPD(z), WoHeads]); // [b, h, p, d]
    const result = hook(`${tl}hook_result`, intervene(`${tl}hook_result`, toBHPD(resultBH), d), ['b', 'p', H, d]); // [b, p, h, d]
    return g.op('Add', [g.op('ReduceSum', [result, g.ints([2])], { keepdims: 0 }), bo]); // Σ_h result + b_O [b, p, d]
  };

  /** One pre-LN block: x + attn(ln_1(x)), then + mlp(ln_2(·)). x [b, p, d]. */
  const block = (l: number, x: string): string => {
    const hf = `h.${l}.`;
    const tl = `blocks.${l}.`;
    const residPre = hook(`${tl}hook_resid_pre`, x, ['b', 'p', d]); // [b, p, d]
    const attnOut = hook(`${tl}hook_attn_out`, attention(l, layerNorm(residPre, `${hf}ln_1`, `${tl}ln1.`)), ['b', 'p', d]); // [b, p, d]
    const residMid = hook(`${tl}hook_resid_mid`, g.op('Add', [residPre, attnOut]), ['b', 'p', d]); // [b, p, d]
    const ln2 = layerNorm(residMid, `${hf}ln_2`, `${tl}ln2.`); // [b, p, d]
    const fc = g.op('MatMul', [ln2, W(`${hf}mlp.c_fc.weight`, [d, dm])]);
    const pre = hook(`${tl}mlp.hook_pre`, g.op('Add', [fc, W(`${hf}mlp.c_fc.bias`, [dm])]), ['b', 'p', dm]); // [b, p, dm]
    const post = hook(`${tl}mlp.hook_post`, activation(g, c.activation_function, pre), ['b', 'p', dm]); // [b, p, dm]
    const proj = g.op('MatMul', [post, W(`${hf}mlp.c_proj.weight`, [dm, d])]);
    const mlpOut = hook(`${tl}hook_mlp_out`, g.op('Add', [proj, W(`${hf}mlp.c_proj.bias`, [d])]), ['b', 'p', d]); // [b, p, d]
    return hook(`${tl}hook_resid_post`, g.op('Add', [residMid, mlpOut]), ['b', 'p', d]); // [b, p, d]
  };

  // ---- embeddings ----
  const tok = hook('hook_embed', g.op('Gather', [wte, ids], { axis: 0 }), ['b', 'p', d]); // wte[ids] [b, p, d]
  const pos = g.op('Gather', [wpe, positions], { axis: 0 }); // wpe[past .. past+p) [p, d]
  if (hooked.has('hook_pos_embed')) hook('hook_pos_embed', g.op('Expand', [pos, g.op('Shape', [tok])]), ['b', 'p', d]); // [b, p, d]
  let x = g.op('Add', [tok, pos]); // [b, p, d]

  // ---- blocks ----
  for (let l = 0; l < L; l++) x = block(l, x); // [b, p, d]

  // ---- final LayerNorm, last position, unembedding ----
  x = layerNorm(x, 'ln_f', 'ln_final.'); // [b, p, d]
  if (spec.lastOnly) x = g.op('Slice', [x, g.ints([-1]), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]); // [b, 1, d]
  if (spec.output === 'residual') {
    out(x, 'residual', ['b', spec.lastOnly ? 1 : 'p', d]);
  } else {
    // logits = x·W_Eᵀ (tied) or x·lm_headᵀ: a Gemm with transB on the [V, d] matrix, so no transposed
    // copy. The output stays 2-D ([b·p, V], row-major = [b, p, V]): the engine reshapes it for free,
    // where a Reshape node would copy the largest tensor of the forward.
    const unembed = opts.untiedHead ? W('lm_head.weight', [V, d]) : wte; // [V, d]
    const flat = g.op('Reshape', [x, g.ints([-1, d])]); // [b·p, d]
    const logits = g.op('Gemm', [flat, unembed], { transB: 1 }); // [b·p, V]
    hook('hook_logits', logits, ['bp', V]);
    if (spec.output === 'logits') {
      out(logits, 'logits', ['bp', V]);
    } else {
      // nll = logsumexp_v(logits) − logits[target]: the cross-entropy of each position, in nats.
      const targets = g.op('Reshape', [g.input('targets', ['b', 'p'], INT64), g.ints([-1, 1])]); // [b·p, 1]
      const picked = g.op('GatherElements', [logits, targets], { axis: 1 }); // logits[target] [b·p, 1]
      const lse = g.op('ReduceLogSumExp', [logits], { axes: [1], keepdims: 1 }); // [b·p, 1]
      out(g.op('Reshape', [g.op('Sub', [lse, picked]), g.ints([-1])]), 'nll', ['bp']); // [b·p]
    }
  }
  // The main output first, then hooks and cache outputs in graph order.
  const main = outputs.indexOf(spec.output);
  outputs.unshift(...outputs.splice(main, 1));
  return { model: g.build('gpt2'), nodes: g.nodeCount, outputs };
}
