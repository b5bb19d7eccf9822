/**
 * The GPT-2 forward pass, read top to bottom like nanoGPT's model.py: token + learned position
 * embeddings, n_layer pre-LN blocks (causal self-attention, MLP), a final LayerNorm and the tied
 * unembedding. Attention goes through the one core implementation (src/core/attention.ts), matrix
 * products through src/core/linalg.ts (explicit transposes). Every activation passes a named hook
 * point (src/model/hooks.ts has the table); a KV cache gives incremental decoding.
 *
 * Differentiable: no dataSync inside the forward; `trainable` weights are tf.Variables.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attend, boltzmannWeights, causalMask, ensembleAverage } from '../core/attention.js';
import { linear, matmul, swapLast } from '../core/linalg.js';
import { UserError } from '../errors.js';
import { checkEngineInput, type EngineForwardOptions, type LanguageModel, type ModelCache, type RunWithCacheOptions } from './engine.js';
import { HookPoints, type Hook } from './hooks.js';
import { activation, embeddingLookup, KVCache, kvCache, LazyTensorMap } from './gpt2-ops.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from './weights.js';

export { activation, embeddingLookup, geluTanh, KVCache, truncateLeft } from './gpt2-ops.js';

/** Options of `Gpt2Model.forward`: the engine contract's, plus this call's hook points. */
export interface ForwardOptions extends EngineForwardOptions {
  /** Hooks and activation cache of this call (runWithHooks / runWithCache make one; internal to the model). */
  hookPoints?: HookPoints;
}

/**
 * What one block stores. The attention projections keep GPT-2's flat Conv1D layout, so that a
 * projection is one 2-D matmul (tfjs-wasm's batched matmul is slow); `params()` exposes them as
 * TransformerLens-shaped views (table in src/model/hooks.ts).
 */
interface LayerParams {
  ln1_w: tf.Tensor;
  ln1_b: tf.Tensor; // [d_model]
  q_w: tf.Tensor;
  k_w: tf.Tensor;
  v_w: tf.Tensor; // [d_model, n_heads·d_head]: head h = columns h·d_head..(h+1)·d_head
  q_b: tf.Tensor;
  k_b: tf.Tensor;
  v_b: tf.Tensor; // [n_heads·d_head]
  o_w: tf.Tensor; // [n_heads·d_head, d_model] (c_proj): head h = rows h·d_head..(h+1)·d_head
  b_O: tf.Tensor; // [d_model]
  ln2_w: tf.Tensor;
  ln2_b: tf.Tensor; // [d_model]
  W_in: tf.Tensor;
  b_in: tf.Tensor; // [d_model, d_mlp], [d_mlp]
  W_out: tf.Tensor;
  b_out: tf.Tensor; // [d_mlp, d_model], [d_model]
}

/**
 * Stored names (`storedParams`): the TransformerLens name where the stored shape is
 * TransformerLens's, else a Hugging Face-style name (a TransformerLens name always means its shape).
 */
const LAYER_STORED_NAMES: Record<keyof LayerParams, string> = {
  ln1_w: 'ln1.w',
  ln1_b: 'ln1.b',
  q_w: 'attn.c_attn_q.weight',
  k_w: 'attn.c_attn_k.weight',
  v_w: 'attn.c_attn_v.weight',
  q_b: 'attn.c_attn_q.bias',
  k_b: 'attn.c_attn_k.bias',
  v_b: 'attn.c_attn_v.bias',
  o_w: 'attn.c_proj.weight',
  b_O: 'attn.b_O',
  ln2_w: 'ln2.w',
  ln2_b: 'ln2.b',
  W_in: 'mlp.W_in',
  b_in: 'mlp.b_in',
  W_out: 'mlp.W_out',
  b_out: 'mlp.b_out',
};

/** Stored name → Hugging Face name, for the weights copied as they are (c_attn is split, lm_head transposed). */
function hfNames(nLayer: number): [string, string][] {
  const names: [string, string][] = [
    ['embed.W_E', 'wte.weight'],
    ['pos_embed.W_pos', 'wpe.weight'],
    ['ln_final.w', 'ln_f.weight'],
    ['ln_final.b', 'ln_f.bias'],
  ];
  const perLayer = [
    ['ln1.w', 'ln_1.weight'],
    ['ln1.b', 'ln_1.bias'],
    ['attn.c_proj.weight', 'attn.c_proj.weight'],
    ['attn.b_O', 'attn.c_proj.bias'],
    ['ln2.w', 'ln_2.weight'],
    ['ln2.b', 'ln_2.bias'],
    ['mlp.W_in', 'mlp.c_fc.weight'],
    ['mlp.b_in', 'mlp.c_fc.bias'],
    ['mlp.W_out', 'mlp.c_proj.weight'],
    ['mlp.b_out', 'mlp.c_proj.bias'],
  ];
  for (let l = 0; l < nLayer; l++) for (const [ours, hf] of perLayer) names.push([`blocks.${l}.${ours}`, `h.${l}.${hf}`]);
  return names;
}

const NO_HOOKS = new HookPoints();

/** Rows from which (W_E · xᵀ)ᵀ beats x · W_Eᵀ on tfjs-wasm (measured by A2: bench `forward`, unembedding rows). */
const UNEMBED_LEFT_ROWS = 8;

/** The tfjs engine: the reference forward, differentiable, with arbitrary JS hooks. */
export class Gpt2Model implements LanguageModel {
  readonly engine = 'tfjs' as const;
  readonly config: Gpt2Config;
  readonly nLayer: number;
  readonly nHead: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly vocab: number;
  readonly nPositions: number;
  readonly trainable: boolean;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly W_E: tf.Tensor; // [vocab, d_model]
  private readonly W_pos: tf.Tensor; // [n_positions, d_model]
  private readonly layers: LayerParams[];
  private readonly lnf_w: tf.Tensor; // [d_model]
  private readonly lnf_b: tf.Tensor; // [d_model]
  /** Untied lm_head, stored transposed [d_model, vocab]; null when tied to W_E. */
  private readonly W_U: tf.Tensor | null;
  /** W_Eᵀ [d_model, vocab] materialised once (frozen, tied models) for the few-row unembedding; see `unembed`. */
  private readonly W_E_T: tf.Tensor | null;
  /** TransformerLens-shaped views made by `params()`, with the data they were made from. */
  private readonly views = new Map<string, { dataId: object; view: tf.Tensor }>();

  private constructor(config: Gpt2Config, tensors: Map<string, tf.Tensor>, trainable: boolean) {
    this.config = config;
    this.nLayer = config.n_layer;
    this.nHead = config.n_head;
    this.dModel = config.n_embd;
    this.dHead = config.n_embd / config.n_head;
    this.dMlp = config.n_inner ?? 4 * config.n_embd;
    this.vocab = config.vocab_size;
    this.nPositions = config.n_positions;
    this.trainable = trainable;
    this.act = activation(config.activation_function);
    const get = (n: string) => tensors.get(n) as tf.Tensor;
    this.W_E = get('embed.W_E');
    this.W_pos = get('pos_embed.W_pos');
    this.layers = [];
    for (let l = 0; l < this.nLayer; l++) {
      const p = {} as LayerParams;
      for (const [k, n] of Object.entries(LAYER_STORED_NAMES)) p[k as keyof LayerParams] = get(`blocks.${l}.${n}`);
      this.layers.push(p);
    }
    this.lnf_w = get('ln_final.w');
    this.lnf_b = get('ln_final.b');
    this.W_U = tensors.get('unembed.W_U') ?? null;
    this.W_E_T = this.W_U || trainable ? null : tf.keep(tf.transpose(this.W_E)); // [d_model, vocab]
  }

  /** Upload host weights (c_attn split into its q | k | v columns); tf.Variables when `trainable`. */
  static fromWeights(weights: Gpt2Weights, opts: { trainable?: boolean } = {}): Gpt2Model {
    const c = weights.config;
    if (c.n_embd % c.n_head !== 0) throw new UserError('E_CONFIG', `n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
    activation(c.activation_function); // validate early
    const host = (name: string, shape: number[]): HostTensor => {
      const t = weights.tensors.get(name);
      if (!t) throw new UserError('E_CHECKPOINT', `weight ${name} is missing`);
      if (!tf.util.arraysEqual(t.shape, shape) || t.data.length !== tf.util.sizeFromShape(shape)) {
        throw new UserError('E_CHECKPOINT', `weight ${name} has shape [${t.shape}], expected [${shape}] from the config`);
      }
      return t;
    };
    for (const [name, shape] of expectedShapes(c)) host(name, shape);
    const untied =
      weights.tensors.has('lm_head.weight') && !sameData(host('lm_head.weight', [c.vocab_size, c.n_embd]), host('wte.weight', [c.vocab_size, c.n_embd]));
    const d = c.n_embd;
    const out = new Map<string, tf.Tensor>();
    const put = (name: string, t: tf.Tensor) => {
      out.set(name, opts.trainable ? tf.variable(t, true) : tf.keep(t));
      if (opts.trainable) t.dispose();
    };
    const up = (hf: string) => tf.tensor(weights.tensors.get(hf)!.data, weights.tensors.get(hf)!.shape);
    for (const [ours, hf] of hfNames(c.n_layer)) put(ours, up(hf));
    for (let l = 0; l < c.n_layer; l++) {
      const cAttn = up(`h.${l}.attn.c_attn.weight`); // [d_model, 3·d_model]
      const cBias = up(`h.${l}.attn.c_attn.bias`); // [3·d_model]
      const W = tf.split(cAttn, [d, d, d], 1); // 3 × [d_model, d_model]: q | k | v columns
      const b = tf.split(cBias, [d, d, d], 0); // 3 × [d_model]
      tf.dispose([cAttn, cBias]);
      for (const [i, x] of ['q', 'k', 'v'].entries()) {
        put(`blocks.${l}.attn.c_attn_${x}.weight`, W[i]);
        put(`blocks.${l}.attn.c_attn_${x}.bias`, b[i]);
      }
    }
    if (untied) {
      const t = up('lm_head.weight'); // [vocab, d_model]
      put('unembed.W_U', tf.transpose(t)); // [d_model, vocab]
      t.dispose();
    }
    return new Gpt2Model(c, out, opts.trainable ?? false);
  }

  /**
   * The tensors the model stores, by stored name (tf.Variables when trainable): what the optimizer
   * updates, checkpoints save and `dispose` frees. TransformerLens names where the stored shape is
   * TransformerLens's (embed.W_E, pos_embed.W_pos, ln*.w/b, attn.b_O, mlp.*, ln_final.*, and
   * unembed.W_U when lm_head is untied); the attention projections keep GPT-2's flat layout under
   * Hugging Face-style names: blocks.{l}.attn.c_attn_q/k/v.weight [d_model, n_heads·d_head],
   * .bias [n_heads·d_head], blocks.{l}.attn.c_proj.weight [n_heads·d_head, d_model].
   */
  storedParams(): Map<string, tf.Tensor> {
    const m = new Map<string, tf.Tensor>([
      ['embed.W_E', this.W_E],
      ['pos_embed.W_pos', this.W_pos],
    ]);
    this.layers.forEach((p, l) => {
      for (const [k, n] of Object.entries(LAYER_STORED_NAMES)) m.set(`blocks.${l}.${n}`, p[k as keyof LayerParams]);
    });
    m.set('ln_final.w', this.lnf_w);
    m.set('ln_final.b', this.lnf_b);
    if (this.W_U) m.set('unembed.W_U', this.W_U);
    return m;
  }

  /**
   * Parameters by TransformerLens name, in TransformerLens shapes (the weight table in
   * src/model/hooks.ts): blocks.{l}.attn.W_Q/W_K/W_V [n_heads, d_model, d_head], b_Q/b_K/b_V
   * [n_heads, d_head], W_O [n_heads, d_head, d_model], and unembed.W_U [d_model, vocab] always
   * (W_Eᵀ when tied); the rest are the stored tensors themselves. Owned by the model: do not
   * dispose. A view is built when first read (`get` builds one, iterating builds all) and cached;
   * after the weights of a trainable model change, the next read rebuilds it (disposing the old
   * one). Train with `storedParams()`.
   */
  params(): Map<string, tf.Tensor> {
    const [nH, dh, d] = [this.nHead, this.dHead, this.dModel];
    const m = new LazyTensorMap().set('embed.W_E', this.W_E).set('pos_embed.W_pos', this.W_pos);
    const perHeadIn = (w: tf.Tensor) => tf.transpose(tf.reshape(w, [d, nH, dh]), [1, 0, 2]); // [n_heads, d_model, d_head]
    this.layers.forEach((p, l) => {
      const b = `blocks.${l}.`;
      m.set(b + 'ln1.w', p.ln1_w);
      m.set(b + 'ln1.b', p.ln1_b);
      for (const [x, w, bias] of [
        ['Q', p.q_w, p.q_b],
        ['K', p.k_w, p.k_b],
        ['V', p.v_w, p.v_b],
      ] as const) {
        m.defer(`${b}attn.W_${x}`, () => this.view(`${b}attn.W_${x}`, w, perHeadIn)); // [n_heads, d_model, d_head]
        m.defer(`${b}attn.b_${x}`, () => this.view(`${b}attn.b_${x}`, bias, (t) => tf.reshape(t, [nH, dh]))); // [n_heads, d_head]
      }
      m.defer(b + 'attn.W_O', () => this.view(b + 'attn.W_O', p.o_w, (t) => tf.reshape(t, [nH, dh, d]))); // [n_heads, d_head, d_model]
      m.set(b + 'attn.b_O', p.b_O);
      m.set(b + 'ln2.w', p.ln2_w);
      m.set(b + 'ln2.b', p.ln2_b);
      m.set(b + 'mlp.W_in', p.W_in);
      m.set(b + 'mlp.b_in', p.b_in);
      m.set(b + 'mlp.W_out', p.W_out);
      m.set(b + 'mlp.b_out', p.b_out);
    });
    m.set('ln_final.w', this.lnf_w);
    m.set('ln_final.b', this.lnf_b);
    m.defer('unembed.W_U', () => this.W_U ?? this.W_E_T ?? this.view('unembed.W_U', this.W_E, (t) => tf.transpose(t))); // [d_model, vocab]
    return m;
  }

  /** A view of a stored tensor, cached until the stored tensor's data changes (an optimizer step). */
  private view(name: string, from: tf.Tensor, make: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
    const cached = this.views.get(name);
    if (cached && cached.dataId === from.dataId && !cached.view.isDisposed) return cached.view;
    cached?.view.dispose();
    const view = tf.keep(tf.tidy(() => make(from)));
    this.views.set(name, { dataId: from.dataId, view });
    return view;
  }

  /** Back to host Gpt2Weights in Hugging Face names and Conv1D layout (for export; synchronous reads). */
  toWeights(): Gpt2Weights {
    const tensors = new Map<string, HostTensor>();
    for (const [hf, t, owned] of this.hfTensors()) {
      tensors.set(hf, { shape: [...t.shape], data: Float32Array.from(t.dataSync()) });
      if (owned) t.dispose();
    }
    return { config: { ...this.config }, tensors };
  }

  /** toWeights with asynchronous reads (the only kind the webgpu backend has in Node). */
  async toWeightsAsync(): Promise<Gpt2Weights> {
    const tensors = new Map<string, HostTensor>();
    for (const [hf, t, owned] of this.hfTensors()) {
      tensors.set(hf, { shape: [...t.shape], data: Float32Array.from(await t.data()) });
      if (owned) t.dispose();
    }
    return { config: { ...this.config }, tensors };
  }

  /** The parameters as Hugging Face tensors; `owned` ones are new (c_attn joined, lm_head transposed) and for the caller to dispose. */
  private hfTensors(): [string, tf.Tensor, boolean][] {
    const p = this.storedParams();
    const out: [string, tf.Tensor, boolean][] = [];
    for (const [ours, hf] of hfNames(this.nLayer)) out.push([hf, p.get(ours)!, false]);
    for (let l = 0; l < this.nLayer; l++) {
      const b = (n: string) => p.get(`blocks.${l}.attn.c_attn_${n}`)!;
      out.push([`h.${l}.attn.c_attn.weight`, tf.concat([b('q.weight'), b('k.weight'), b('v.weight')], 1), true]); // [d_model, 3·d_model]
      out.push([`h.${l}.attn.c_attn.bias`, tf.concat([b('q.bias'), b('k.bias'), b('v.bias')], 0), true]); // [3·d_model]
    }
    if (this.W_U) out.push(['lm_head.weight', tf.transpose(this.W_U), true]); // [vocab, d]
    return out;
  }

  /** Release the weights. */
  dispose(): void {
    for (const t of this.storedParams().values()) t.dispose();
    for (const { view } of this.views.values()) view.dispose();
    this.views.clear();
    this.W_E_T?.dispose();
  }

  /** An empty KV cache for this model. */
  newCache(): KVCache {
    return new KVCache(this.nLayer);
  }

  /** Logits [batch, pos, vocab] for rectangular `ids` [batch][pos] (or the final residual: `output`). */
  forward(ids: number[][], opts: ForwardOptions = {}): tf.Tensor {
    const cache = kvCache(opts.cache);
    const hp = opts.hookPoints ?? NO_HOOKS;
    const past = checkEngineInput(ids, this.vocab, this.nPositions, cache);
    const [B, P, d] = [ids.length, ids[0].length, this.dModel];
    const newKV: { k: tf.Tensor; v: tf.Tensor }[] = [];
    try {
      const logits = tf.tidy(() => {
        const idsT = tf.tensor1d(ids.flat(), 'int32'); // [batch·pos]
        const tok = hp.run('hook_embed', tf.reshape(embeddingLookup(this.W_E, idsT), [B, P, d])); // [batch, pos, d_model]
        const posRows = tf.slice(this.W_pos, [past, 0], [P, d]); // [pos, d_model]
        const pos = hp.run('hook_pos_embed', tf.broadcastTo(posRows, [B, P, d])); // [batch, pos, d_model]
        let x = tf.add(tok, pos); // [batch, pos, d_model]
        // Without hook points nothing outside sees a block's intermediate tensors, so each block runs
        // in its own tidy scope and only one block's intermediates are alive at a time (GPT-2 small at
        // 128 tokens: ~20 MB instead of ~250 MB for all blocks). With hook points, the tensors passed
        // to hooks stay alive until the end of the forward, as src/model/hooks.ts documents. The KV
        // cache entries are tf.keep'd, so they survive either way.
        const scoped = opts.hookPoints === undefined;
        for (let l = 0; l < this.nLayer; l++) {
          const kv = cache ? { k: cache.k[l], v: cache.v[l] } : null;
          const input = x;
          const run = () => this.block(l, input, past, kv, hp, cache ? newKV : null);
          x = scoped ? tf.tidy(run) : run(); // [batch, pos, d_model]
        }
        x = this.layerNorm(x, this.lnf_w, this.lnf_b, 'ln_final.', hp); // [batch, pos, d_model]
        const Pout = opts.lastOnly ? 1 : P;
        if (opts.lastOnly) x = tf.slice(x, [0, P - 1, 0], [B, 1, d]); // [batch, 1, d_model]
        if (opts.output === 'residual') return x; // [batch, pos, d_model]
        const logits2d = this.unembed(tf.reshape(x, [B * Pout, d])); // [batch·pos, vocab]
        return hp.run('hook_logits', tf.reshape(logits2d, [B, Pout, this.vocab])); // [batch, pos, vocab]
      });
      if (cache) {
        cache.dispose();
        for (const [l, { k, v }] of newKV.entries()) [cache.k[l], cache.v[l]] = [k, v];
      }
      return logits;
    } catch (e) {
      for (const { k, v } of newKV) tf.dispose([k, v]);
      throw e;
    }
  }

  /**
   * Unembedding x [rows, d_model] → logits [rows, vocab] with plain (non-transposed-operand) matmuls:
   * untied W_U [d_model, vocab] directly; tied: (W_E · xᵀ)ᵀ, W_E [vocab, d_model] as the left operand
   * (the large matrix is never transposed), or x · W_Eᵀ when W_Eᵀ is materialised (frozen models) and
   * rows < UNEMBED_LEFT_ROWS (a GEMV is faster that way round).
   */
  unembed(x: tf.Tensor): tf.Tensor {
    const rows = x.shape[0] as number;
    if (this.W_U) return matmul(x, this.W_U); // [rows, vocab]
    if (this.W_E_T && rows < UNEMBED_LEFT_ROWS) return matmul(x, this.W_E_T); // [rows, vocab]
    const t = matmul(this.W_E, swapLast(x)); // [vocab, rows]
    return rows === 1 ? tf.reshape(t, [1, this.vocab]) : swapLast(t); // [rows, vocab]
  }

  /** One pre-LN transformer block: x + attn(ln1(x)), then + mlp(ln2(·)). x [batch, pos, d_model]. */
  private block(l: number, x: tf.Tensor, past: number, kv: KVPair | null, hp: HookPoints, newKV: KVOut | null): tf.Tensor {
    const p = this.layers[l];
    const b = `blocks.${l}.`;
    const residPre = hp.run(b + 'hook_resid_pre', x); // [batch, pos, d_model]
    const ln1 = this.layerNorm(residPre, p.ln1_w, p.ln1_b, b + 'ln1.', hp); // [batch, pos, d_model]
    const attnOut = hp.run(b + 'hook_attn_out', this.attention(l, ln1, past, kv, hp, newKV)); // [batch, pos, d_model]
    const residMid = hp.run(b + 'hook_resid_mid', tf.add(residPre, attnOut)); // [batch, pos, d_model]
    const ln2 = this.layerNorm(residMid, p.ln2_w, p.ln2_b, b + 'ln2.', hp); // [batch, pos, d_model]
    const pre = hp.run(b + 'mlp.hook_pre', linear(ln2, p.W_in, p.b_in)); // [batch, pos, d_mlp]
    const post = hp.run(b + 'mlp.hook_post', this.act(pre)); // [batch, pos, d_mlp]
    const mlpOut = hp.run(b + 'hook_mlp_out', linear(post, p.W_out, p.b_out)); // [batch, pos, d_model]
    return hp.run(b + 'hook_resid_post', tf.add(residMid, mlpOut)); // [batch, pos, d_model]
  }

  /**
   * Causal multi-head self-attention on the LN'd stream x [batch, pos, d_model] → attn_out [batch, pos, d_model].
   * The attention core works head-major ([batch, head, pos, d_head], what src/core/attention.ts and
   * the KV cache use); hook_q/k/v/z/result are TransformerLens's position-major layouts
   * ([batch, pos, head_index, ·]), transposed only when a hook or the activation cache asks for them.
   */
  private attention(l: number, x: tf.Tensor, past: number, kv: KVPair | null, hp: HookPoints, newKV: KVOut | null): tf.Tensor {
    const p = this.layers[l];
    const a = `blocks.${l}.attn.`;
    const [B, P] = x.shape as [number, number, number];
    const [nH, dh, d] = [this.nHead, this.dHead, this.dModel];
    const toHeadMajor = (t: tf.Tensor) => tf.transpose(t, [0, 2, 1, 3]); // [batch, pos, head, ·] ↔ [batch, head, pos, ·]
    // A TransformerLens-layout hook on a head-major tensor t [batch, head, pos, ·]: the value that flows on, head-major.
    const hookHeadMajor = (name: string, t: tf.Tensor): tf.Tensor => {
      if (!hp.wants(name)) return t;
      const tl = toHeadMajor(t); // [batch, pos, head, ·]
      const hooked = hp.run(name, tl); // [batch, pos, head, ·]
      return hooked === tl ? t : toHeadMajor(hooked);
    };
    const q = toHeadMajor(hp.run(a + 'hook_q', tf.reshape(linear(x, p.q_w, p.q_b), [B, P, nH, dh]))); // [batch, head, pos, d_head]
    let k = toHeadMajor(tf.reshape(linear(x, p.k_w, p.k_b), [B, P, nH, dh])); // [batch, head, pos, d_head]
    let v = toHeadMajor(tf.reshape(linear(x, p.v_w, p.v_b), [B, P, nH, dh])); // [batch, head, pos, d_head]
    if (kv?.k && kv.v) {
      k = tf.concat([kv.k, k], 2); // [batch, head, past+pos, d_head]
      v = tf.concat([kv.v, v], 2); // [batch, head, past+pos, d_head]
    }
    k = hookHeadMajor(a + 'hook_k', k); // [batch, head, pos_k, d_head]; hooked as [batch, pos_k, head, d_head]
    v = hookHeadMajor(a + 'hook_v', v); // [batch, head, pos_k, d_head]; hooked as [batch, pos_k, head, d_head]
    newKV?.push({ k: tf.keep(tf.clone(k)), v: tf.keep(tf.clone(v)) });

    const causal = { causal: true, queryOffset: past };
    const att = attend(q, k, v, Math.sqrt(dh), causal); // energy H, pattern σ [batch, head, pos, pos_k]; z [batch, head, pos, d_head]
    let { pattern, z } = att;
    if (hp.wants(a + 'hook_attn_scores')) {
      const scores = tf.add(tf.neg(att.energy), causalMask(P, k.shape[2] as number, past)); // [batch, head, pos, pos_k]
      const hooked = hp.run(a + 'hook_attn_scores', scores); // [batch, head, pos, pos_k]
      if (hooked !== scores) {
        pattern = boltzmannWeights(tf.neg(hooked), causal); // [batch, head, pos, pos_k]
        z = ensembleAverage(pattern, v); // [batch, head, pos, d_head]
      }
    }
    const hookedPattern = hp.run(a + 'hook_pattern', pattern); // [batch, head, pos, pos_k]
    if (hookedPattern !== pattern) z = ensembleAverage(hookedPattern, v); // [batch, head, pos, d_head]
    const zTL = toHeadMajor(z); // [batch, pos, head, d_head]
    const zPos = hp.run(a + 'hook_z', zTL); // [batch, pos, head, d_head]

    if (!hp.wants(a + 'hook_result')) {
      // Fast path: merge heads, one matmul with c_proj.
      return linear(tf.reshape(zPos, [B, P, d]), p.o_w, p.b_O); // [batch, pos, d_model]
    }
    // Per-head path: result_h = z_h · W_O[h], W_O[h] = c_proj rows h·d_head..(h+1)·d_head.
    const zHead = zPos === zTL ? tf.transpose(z, [1, 0, 2, 3]) : tf.transpose(zPos, [2, 0, 1, 3]); // [head, batch, pos, d_head]
    const zh = tf.reshape(zHead, [nH, B * P, dh]); // [head, batch·pos, d_head]
    const perHead = matmul(zh, tf.reshape(p.o_w, [nH, dh, d])); // [head, batch·pos, d_model]
    const result = tf.transpose(tf.reshape(perHead, [nH, B, P, d]), [1, 2, 0, 3]); // [batch, pos, head, d_model]
    const hookedResult = hp.run(a + 'hook_result', result); // [batch, pos, head, d_model]
    return tf.add(tf.sum(hookedResult, 2), p.b_O); // [batch, pos, d_model]
  }

  /** LayerNorm over d_model: (x − mean)/sqrt(var + eps)·w + b, with its divisor and output hooked. */
  private layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, prefix: string, hp: HookPoints): tf.Tensor {
    const centred = tf.sub(x, tf.mean(x, -1, true)); // [batch, pos, d_model]
    const variance = tf.mean(tf.square(centred), -1, true); // [batch, pos, 1]
    const scale = hp.run(prefix + 'hook_scale', tf.sqrt(tf.add(variance, this.config.layer_norm_epsilon))); // [batch, pos, 1]
    const normalized = hp.run(prefix + 'hook_normalized', tf.div(centred, scale)); // [batch, pos, d_model]
    return tf.add(tf.mul(normalized, w), b); // [batch, pos, d_model]
  }

  /** Logits [batch, pos, vocab]. */
  logits(ids: number[][], opts: ForwardOptions = {}): tf.Tensor {
    return this.forward(ids, opts);
  }

  /** Logits of the last position [batch, vocab] (only that position is unembedded). */
  lastLogits(ids: number[][], opts: { cache?: ModelCache } = {}): tf.Tensor {
    return tf.tidy(() => tf.reshape(this.forward(ids, { ...opts, lastOnly: true }), [ids.length, this.vocab])); // [batch, vocab]
  }

  /** Run with hooks registered for this call only (removed in `finally`, even when a hook throws). */
  runWithHooks(ids: number[][], opts: { hooks: readonly Hook[]; cache?: ModelCache }): tf.Tensor {
    const hp = new HookPoints(opts.hooks);
    try {
      return this.forward(ids, { cache: opts.cache, hookPoints: hp });
    } finally {
      hp.close();
    }
  }

  /**
   * Run and keep the named activations (after any hook in `hooks` has run on them). The caller
   * disposes `logits` and the activations (`disposeActivations`). Nothing else is kept. With
   * `lastOnly`, only the last position is unembedded: logits (and hook_logits) are [batch, 1, vocab].
   */
  runWithCache(ids: number[][], opts: RunWithCacheOptions): { logits: tf.Tensor; activations: Map<string, tf.Tensor> } {
    const hp = new HookPoints(opts.hooks ?? [], opts.names);
    try {
      const logits = this.forward(ids, { cache: opts.cache, hookPoints: hp, lastOnly: opts.lastOnly, output: opts.output });
      return { logits, activations: hp.takeActivations() };
    } finally {
      hp.close(); // disposes the activations when forward threw
    }
  }

  /** `forward` as a Promise (the engine contract's async form; the tfjs forward itself is synchronous). */
  async forwardAsync(ids: number[][], opts: EngineForwardOptions = {}): Promise<tf.Tensor> {
    return this.forward(ids, opts);
  }

  /** `lastLogits` as a Promise. */
  async lastLogitsAsync(ids: number[][], opts: { cache?: ModelCache } = {}): Promise<tf.Tensor> {
    return this.lastLogits(ids, opts);
  }

  /** `runWithHooks` as a Promise. */
  async runWithHooksAsync(ids: number[][], opts: { hooks: readonly Hook[]; cache?: ModelCache }): Promise<tf.Tensor> {
    return this.runWithHooks(ids, opts);
  }

  /** `runWithCache` as a Promise. */
  async runWithCacheAsync(ids: number[][], opts: RunWithCacheOptions): Promise<{ logits: tf.Tensor; activations: Map<string, tf.Tensor> }> {
    return this.runWithCache(ids, opts);
  }

  /** Whether this engine can run `hooks`: the tfjs engine runs any JS hook. */
  canRun(_hooks: readonly Hook[]): boolean {
    return true;
  }
}

type KVPair = { k: tf.Tensor | null; v: tf.Tensor | null };
type KVOut = { k: tf.Tensor; v: tf.Tensor }[];

function sameData(a: HostTensor, b: HostTensor): boolean {
  if (!tf.util.arraysEqual(a.shape, b.shape)) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
