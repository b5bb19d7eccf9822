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
import { linear, matmul } from '../core/linalg.js';
import { UserError } from '../errors.js';
import { HookPoints, type Hook, type NameFilter } from './hooks.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from './weights.js';

/**
 * Embedding lookup table[ids] whose gradient w.r.t. the table is the scatter-add of dy's rows into
 * the rows ids (tf.scatterND sums duplicate indices): tf.gather's own gradient needs
 * UnsortedSegmentSum, which tfjs-wasm lacks, and a oneHot(ids)ᵀ·dy product costs n·vocab·d.
 * No gradient w.r.t. ids. table [vocab, d], ids int32 [n] → [n, d].
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const vocab = table.shape[0] as number;
  const lookup = tf.customGrad(((t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([ids]);
    return {
      value: tf.gather(t, ids), // [n, d]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const n = saved[0].shape[0] as number;
        return [tf.scatterND(tf.reshape(saved[0], [n, 1]), dy, [vocab, dy.shape[1] as number])]; // [vocab, d]
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as unknown as (t: tf.Tensor) => tf.Tensor;
  return lookup(table);
}

/** Keep the last `n` tokens (of one prompt, or of every row of a batch): `--truncate left`. */
export function truncateLeft(ids: number[], n: number): number[];
export function truncateLeft(ids: number[][], n: number): number[][];
export function truncateLeft(ids: number[] | number[][], n: number): number[] | number[][] {
  const cut = (row: number[]) => (row.length > n ? row.slice(row.length - n) : row.slice());
  return ids.length > 0 && Array.isArray(ids[0]) ? (ids as number[][]).map(cut) : cut(ids as number[]);
}

/** Per-layer keys and values [batch, head, pos, d_head] for incremental decoding. */
export class KVCache {
  k: (tf.Tensor | null)[];
  v: (tf.Tensor | null)[];
  constructor(nLayer: number) {
    this.k = new Array<tf.Tensor | null>(nLayer).fill(null);
    this.v = new Array<tf.Tensor | null>(nLayer).fill(null);
  }
  /** Number of cached positions (0 when empty). */
  get length(): number {
    return (this.k[0]?.shape[2] as number | undefined) ?? 0;
  }
  /** Batch rows held (null when empty). */
  get batch(): number | null {
    return (this.k[0]?.shape[0] as number | undefined) ?? null;
  }
  /** Release the cached keys and values. */
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
  }
}

/** Options of {@link Gpt2Model.forward}. */
export interface ForwardOptions {
  /** KV cache: read for the past positions, then updated in place with this call's keys and values. */
  cache?: KVCache;
  /** Hooks and activation cache of this call (runWithHooks / runWithCache make one). */
  hookPoints?: HookPoints;
  /** Unembed only the last position: logits (and hook_logits) are [batch, 1, vocab]. */
  lastOnly?: boolean;
  /**
   * 'residual': stop after ln_final and return its output γ ⊙ x̂ + β [batch, pos (or 1), d_model]
   * instead of logits (no unembedding, hook_logits does not run). Default 'logits'.
   */
  output?: 'logits' | 'residual';
}

/** Parameter names (TransformerLens style) and shapes: see `Gpt2Model.params`. */
interface LayerParams {
  ln1_w: tf.Tensor; ln1_b: tf.Tensor; // [d_model]
  W_Q: tf.Tensor; W_K: tf.Tensor; W_V: tf.Tensor; // [d_model, d_model] (heads along the output axis)
  b_Q: tf.Tensor; b_K: tf.Tensor; b_V: tf.Tensor; // [d_model]
  W_O: tf.Tensor; b_O: tf.Tensor; // [d_model, d_model], [d_model] (c_proj)
  ln2_w: tf.Tensor; ln2_b: tf.Tensor; // [d_model]
  W_in: tf.Tensor; b_in: tf.Tensor; // [d_model, d_mlp], [d_mlp]
  W_out: tf.Tensor; b_out: tf.Tensor; // [d_mlp, d_model], [d_model]
}

const LAYER_PARAM_NAMES: Record<keyof LayerParams, string> = {
  ln1_w: 'ln1.w', ln1_b: 'ln1.b', W_Q: 'attn.W_Q', W_K: 'attn.W_K', W_V: 'attn.W_V', b_Q: 'attn.b_Q', b_K: 'attn.b_K',
  b_V: 'attn.b_V', W_O: 'attn.W_O', b_O: 'attn.b_O', ln2_w: 'ln2.w', ln2_b: 'ln2.b', W_in: 'mlp.W_in', b_in: 'mlp.b_in',
  W_out: 'mlp.W_out', b_out: 'mlp.b_out',
};

/** Our parameter name → Hugging Face name, for the weights copied as they are (c_attn is split, lm_head transposed). */
function hfNames(nLayer: number): [string, string][] {
  const names: [string, string][] = [['embed.W_E', 'wte.weight'], ['pos_embed.W_pos', 'wpe.weight'], ['ln_final.w', 'ln_f.weight'], ['ln_final.b', 'ln_f.bias']];
  const perLayer = [['ln1.w', 'ln_1.weight'], ['ln1.b', 'ln_1.bias'], ['attn.W_O', 'attn.c_proj.weight'], ['attn.b_O', 'attn.c_proj.bias'],
    ['ln2.w', 'ln_2.weight'], ['ln2.b', 'ln_2.bias'], ['mlp.W_in', 'mlp.c_fc.weight'], ['mlp.b_in', 'mlp.c_fc.bias'],
    ['mlp.W_out', 'mlp.c_proj.weight'], ['mlp.b_out', 'mlp.c_proj.bias']];
  for (let l = 0; l < nLayer; l++) for (const [ours, hf] of perLayer) names.push([`blocks.${l}.${ours}`, `h.${l}.${hf}`]);
  return names;
}

const NO_HOOKS = new HookPoints();

/** The GPT-2 forward pass on tfjs with TransformerLens-style hook points (src/model/hooks.ts). */
export class Gpt2Model {
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
  /** W_Eᵀ [d_model, vocab] materialised once (frozen, tied models); trainable models transpose in-graph. */
  private readonly W_E_T: tf.Tensor | null;

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
      for (const [k, n] of Object.entries(LAYER_PARAM_NAMES)) p[k as keyof LayerParams] = get(`blocks.${l}.${n}`);
      this.layers.push(p);
    }
    this.lnf_w = get('ln_final.w');
    this.lnf_b = get('ln_final.b');
    this.W_U = tensors.get('unembed.W_U') ?? null;
    this.W_E_T = this.W_U || trainable ? null : tf.keep(tf.transpose(this.W_E)); // [d_model, vocab]
  }

  /** Upload host weights (c_attn split into W_Q | W_K | W_V); tf.Variables when `trainable`. */
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
    const untied = weights.tensors.has('lm_head.weight') && !sameData(host('lm_head.weight', [c.vocab_size, c.n_embd]), host('wte.weight', [c.vocab_size, c.n_embd]));
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
      for (const [i, x] of ['Q', 'K', 'V'].entries()) {
        put(`blocks.${l}.attn.W_${x}`, W[i]);
        put(`blocks.${l}.attn.b_${x}`, b[i]);
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
   * Parameters by name: embed.W_E [vocab, d], pos_embed.W_pos [n_positions, d], blocks.{l}.ln1.w/b [d],
   * blocks.{l}.attn.W_Q/W_K/W_V [d, d], b_Q/b_K/b_V [d], W_O [d, d], b_O [d], blocks.{l}.ln2.w/b [d],
   * blocks.{l}.mlp.W_in [d, d_mlp], b_in [d_mlp], W_out [d_mlp, d], b_out [d], ln_final.w/b [d], and
   * unembed.W_U [d, vocab] only when lm_head is untied. tf.Variables when trainable.
   */
  params(): Map<string, tf.Tensor> {
    const m = new Map<string, tf.Tensor>([['embed.W_E', this.W_E], ['pos_embed.W_pos', this.W_pos]]);
    this.layers.forEach((p, l) => {
      for (const [k, n] of Object.entries(LAYER_PARAM_NAMES)) m.set(`blocks.${l}.${n}`, p[k as keyof LayerParams]);
    });
    m.set('ln_final.w', this.lnf_w);
    m.set('ln_final.b', this.lnf_b);
    if (this.W_U) m.set('unembed.W_U', this.W_U);
    return m;
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
    const p = this.params();
    const out: [string, tf.Tensor, boolean][] = [];
    for (const [ours, hf] of hfNames(this.nLayer)) out.push([hf, p.get(ours)!, false]);
    for (let l = 0; l < this.nLayer; l++) {
      const b = (n: string) => p.get(`blocks.${l}.attn.${n}`)!;
      out.push([`h.${l}.attn.c_attn.weight`, tf.concat([b('W_Q'), b('W_K'), b('W_V')], 1), true]); // [d_model, 3·d_model]
      out.push([`h.${l}.attn.c_attn.bias`, tf.concat([b('b_Q'), b('b_K'), b('b_V')], 0), true]); // [3·d_model]
    }
    if (this.W_U) out.push(['lm_head.weight', tf.transpose(this.W_U), true]); // [vocab, d]
    return out;
  }

  /** Release the weights. */
  dispose(): void {
    for (const t of this.params().values()) t.dispose();
    this.W_E_T?.dispose();
  }

  /** An empty KV cache for this model. */
  newCache(): KVCache {
    return new KVCache(this.nLayer);
  }

  /** Logits [batch, pos, vocab] for rectangular `ids` [batch][pos] (or the final residual: `output`). */
  forward(ids: number[][], opts: ForwardOptions = {}): tf.Tensor {
    const { cache } = opts;
    const hp = opts.hookPoints ?? NO_HOOKS;
    const past = this.checkInput(ids, cache);
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
        const unembed = this.W_U ?? this.W_E_T ?? tf.transpose(this.W_E); // [d_model, vocab]
        const logits2d = matmul(tf.reshape(x, [B * Pout, d]), unembed); // [batch·pos, vocab]
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

  /** Causal multi-head self-attention on the LN'd stream x [batch, pos, d_model] → attn_out [batch, pos, d_model]. */
  private attention(l: number, x: tf.Tensor, past: number, kv: KVPair | null, hp: HookPoints, newKV: KVOut | null): tf.Tensor {
    const p = this.layers[l];
    const a = `blocks.${l}.attn.`;
    const [B, P] = x.shape as [number, number, number];
    const [H, dh, d] = [this.nHead, this.dHead, this.dModel];
    const splitHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, P, H, dh]), [0, 2, 1, 3]); // [batch, head, pos, d_head]
    const q = hp.run(a + 'hook_q', splitHeads(linear(x, p.W_Q, p.b_Q))); // [batch, head, pos, d_head]
    let k = splitHeads(linear(x, p.W_K, p.b_K)); // [batch, head, pos, d_head]
    let v = splitHeads(linear(x, p.W_V, p.b_V)); // [batch, head, pos, d_head]
    if (kv?.k && kv.v) {
      k = tf.concat([kv.k, k], 2); // [batch, head, past+pos, d_head]
      v = tf.concat([kv.v, v], 2); // [batch, head, past+pos, d_head]
    }
    k = hp.run(a + 'hook_k', k); // [batch, head, pos_k, d_head]
    v = hp.run(a + 'hook_v', v); // [batch, head, pos_k, d_head]
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
    z = hp.run(a + 'hook_z', z); // [batch, head, pos, d_head]

    if (!hp.wants(a + 'hook_result')) {
      // Fast path: merge heads, one matmul with W_O.
      const merged = tf.reshape(tf.transpose(z, [0, 2, 1, 3]), [B, P, d]); // [batch, pos, d_model]
      return linear(merged, p.W_O, p.b_O); // [batch, pos, d_model]
    }
    // Per-head path: result_h = z_h · W_O[h·dh..(h+1)·dh, :].
    const zh = tf.reshape(tf.transpose(z, [1, 0, 2, 3]), [H, B * P, dh]); // [head, batch·pos, d_head]
    const perHead = matmul(zh, tf.reshape(p.W_O, [H, dh, d])); // [head, batch·pos, d_model]
    const result = tf.transpose(tf.reshape(perHead, [H, B, P, d]), [1, 0, 2, 3]); // [batch, head, pos, d_model]
    const hookedResult = hp.run(a + 'hook_result', result); // [batch, head, pos, d_model]
    return tf.add(tf.sum(hookedResult, 1), p.b_O); // [batch, pos, d_model]
  }

  /** LayerNorm over d_model: (x − mean)/sqrt(var + eps)·w + b, with its divisor and output hooked. */
  private layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, prefix: string, hp: HookPoints): tf.Tensor {
    const centred = tf.sub(x, tf.mean(x, -1, true)); // [batch, pos, d_model]
    const variance = tf.mean(tf.square(centred), -1, true); // [batch, pos, 1]
    const scale = hp.run(prefix + 'hook_scale', tf.sqrt(tf.add(variance, this.config.layer_norm_epsilon))); // [batch, pos, 1]
    const normalized = hp.run(prefix + 'hook_normalized', tf.div(centred, scale)); // [batch, pos, d_model]
    return tf.add(tf.mul(normalized, w), b); // [batch, pos, d_model]
  }

  /** Validate ids and the context length; returns the number of cached positions. */
  private checkInput(ids: number[][], cache?: KVCache): number {
    if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0]) || ids[0].length === 0) {
      throw new UserError('E_INPUT', 'ids must be a non-empty batch of non-empty rows of token ids (number[][])');
    }
    const P = ids[0].length;
    for (const [r, row] of ids.entries()) {
      if (row.length !== P) throw new UserError('E_INPUT', `ids rows must have equal lengths: row ${r} has ${row.length} tokens, row 0 has ${P}`);
      for (const t of row) {
        if (!Number.isInteger(t) || t < 0 || t >= this.vocab) {
          throw new UserError('E_INPUT', `token id ${t} in row ${r} is outside the vocabulary [0, ${this.vocab})`);
        }
      }
    }
    const past = cache?.length ?? 0;
    if (cache && past > 0 && cache.batch !== ids.length) {
      throw new UserError('E_INPUT', `the KV cache holds a batch of ${cache.batch} rows but ids has ${ids.length}`);
    }
    if (past + P > this.nPositions) {
      const what = past > 0 ? `${past} cached + ${P} new tokens = ${past + P}` : `a prompt of ${P} tokens`;
      throw new UserError(
        'E_INPUT',
        `${what} exceeds the model's context of ${this.nPositions} positions (n_positions); use --truncate left to keep the last ${this.nPositions} tokens`,
      );
    }
    return past;
  }

  /** Logits [batch, pos, vocab]. */
  logits(ids: number[][], opts: ForwardOptions = {}): tf.Tensor {
    return this.forward(ids, opts);
  }

  /** Logits of the last position [batch, vocab] (only that position is unembedded). */
  lastLogits(ids: number[][], opts: ForwardOptions = {}): tf.Tensor {
    return tf.tidy(() => tf.reshape(this.forward(ids, { ...opts, lastOnly: true }), [ids.length, this.vocab])); // [batch, vocab]
  }

  /** Run with hooks registered for this call only (removed in `finally`, even when a hook throws). */
  runWithHooks(ids: number[][], opts: { hooks: readonly Hook[]; cache?: KVCache }): tf.Tensor {
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
  runWithCache(
    ids: number[][],
    opts: { names: NameFilter; cache?: KVCache; hooks?: readonly Hook[]; lastOnly?: boolean; output?: 'logits' | 'residual' },
  ): { logits: tf.Tensor; activations: Map<string, tf.Tensor> } {
    const hp = new HookPoints(opts.hooks ?? [], opts.names);
    try {
      const logits = this.forward(ids, { cache: opts.cache, hookPoints: hp, lastOnly: opts.lastOnly, output: opts.output });
      return { logits, activations: hp.takeActivations() };
    } finally {
      hp.close(); // disposes the activations when forward threw
    }
  }
}

type KVPair = { k: tf.Tensor | null; v: tf.Tensor | null };
type KVOut = { k: tf.Tensor; v: tf.Tensor }[];

/** The MLP activation named by config.activation_function. */
export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu_new':
    case 'gelu_fast':
    case 'gelu_pytorch_tanh':
      return geluTanh;
    case 'gelu':
      return (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))); // exact (erf)
    case 'relu':
      return (x) => tf.relu(x);
    default:
      throw new UserError('E_CONFIG', `activation_function '${name}' is not supported; use gelu_new, gelu or relu`);
  }
}

/**
 * gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·sigmoid(2·√(2/π)·(x + 0.044715·x³))
 * (the same function: 0.5·(1 + tanh u) = sigmoid(2u)). tfjs-wasm's Tanh is a scalar loop ~6x slower
 * than its XNNPack Sigmoid; the two forms agree to float rounding.
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(inner));
}

function sameData(a: HostTensor, b: HostTensor): boolean {
  if (!tf.util.arraysEqual(a.shape, b.shape)) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
