/**
 * The ONNX Runtime engine: `OrtGpt2` runs the GPT-2 graph of src/model/ort/graph.ts on
 * onnxruntime-node (native CPU kernels, threads, fused LayerNorm/GELU) and meets the `LanguageModel`
 * contract of src/model/engine.ts through its async methods (`forwardAsync`, …).
 *
 * One graph per variant (hook outputs, last-position-only, residual or per-token-loss output, KV
 * cache, interventions), compiled lazily and kept in a small LRU of sessions. Large models feed
 * the weights to every variant as graph inputs straight from the host Float32Arrays, which ORT
 * wraps without copying, so the weights exist once in memory however many sessions are alive;
 * small ones (≤ 64 MB) copy them into each session, where ORT prepacks them (`OrtOptions.weights`).
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import { UserError } from '../../errors.js';
import { checkEngineInput, EngineHookError, type EngineForwardOptions, type LanguageModel, type ModelCache, type RunWithCacheOptions } from '../engine.js';
import { hookNames, type Hook, type NameFilter } from '../hooks.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from '../weights.js';
import { OrtCache } from './cache.js';
import { buildGpt2Graph, type GraphSpec } from './graph.js';
import { GraphBuilder } from './onnx.js';
import { expressible, interventionInputs } from './interventions.js';
import { LazyParams } from './params.js';

type OrtModule = typeof Ort;
let ortModule: Promise<OrtModule> | null = null;

/** Load onnxruntime-node once (dynamically, so a missing or broken native binary is an error value, not a crash at import). */
function loadOrt(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-node').then((m) => (m as unknown as { default?: OrtModule }).default ?? m);
  return ortModule;
}

/** Whether onnxruntime-node loads here: its version and bundled execution providers, or why not. Never throws. */
export async function ortAvailable(): Promise<{ ok: true; version: string; providers: string[] } | { ok: false; reason: string }> {
  try {
    const ort = await loadOrt();
    const providers = ort
      .listSupportedBackends()
      .filter((b) => b.bundled)
      .map((b) => b.name);
    return { ok: true, version: ort.env.versions.node ?? ort.env.versions.common, providers };
  } catch (e) {
    ortModule = null;
    return { ok: false, reason: `onnxruntime-node could not be loaded: ${(e as Error).message.split('\n')[0]}` };
  }
}

let webgpuProbe: Promise<{ ok: true } | { ok: false; reason: string }> | null = null;

/**
 * Whether ORT's WebGPU execution provider starts here: bundled in this onnxruntime-node and able
 * to get a Dawn adapter and device (probed once per process by running y = 2·x on ['webgpu'] alone
 * and checking y). Never throws; the reason is one line.
 */
export function ortWebgpuAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  webgpuProbe ??= (async () => {
    const avail = await ortAvailable();
    if (!avail.ok) return avail;
    if (!avail.providers.includes('webgpu'))
      return { ok: false as const, reason: `this onnxruntime-node ${avail.version} has no webgpu execution provider (it has: ${avail.providers.join(', ')})` };
    try {
      const ort = await loadOrt();
      const g = new GraphBuilder();
      g.output(g.op('Mul', [g.input('x', [4]), g.float(2)]), 'y', [4]);
      const session = await ort.InferenceSession.create(g.build('probe'), {
        executionProviders: [{ name: 'webgpu', validationMode: 'full' }],
        logSeverityLevel: 3,
      });
      const y = (await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) })).y.data as Float32Array;
      await session.release();
      if (Array.from(y).join() !== '2,4,6,8')
        return { ok: false as const, reason: `ORT's WebGPU execution provider computed 2·[1,2,3,4] = [${Array.from(y).join(', ')}]` };
      return { ok: true as const };
    } catch (e) {
      return { ok: false as const, reason: `ORT's WebGPU execution provider cannot start: ${ortReason(e)}` };
    }
  })();
  return webgpuProbe;
}

/** The first line of an ORT error; of an enforce message ("<file>.cc:N <function> <condition> was false. <why>") only <why>. */
function ortReason(e: unknown): string {
  const first = String((e as Error).message ?? e).split('\n')[0];
  return / was false\. (.+)$/.exec(first)?.[1] ?? first;
}

/** Up to this many fp32 weight bytes, `weights: 'auto'` copies the weights into each session (64 MB). */
export const AUTO_INITIALIZER_BYTES = 64 * 2 ** 20;

export interface OrtOptions {
  /** intraOpNumThreads (default: os.availableParallelism()). */
  threads?: number;
  /**
   * ORT execution providers in order of preference (default ['cpu']); ['webgpu', 'cpu'] runs on the
   * GPU through ORT's WebGPU EP (its own Dawn device), nodes it has no kernel for on the CPU.
   */
  executionProviders?: string[];
  /**
   * Validation of ORT's WebGPU EP (its `validationMode`; default 'full'). With 'full' every kernel
   * runs inside a Dawn error scope and a validation error fails the run; with 'basic' (ORT's
   * default) Dawn errors are only logged by ORT and the run returns whatever the GPU computed.
   */
  webgpuValidation?: 'full' | 'basic';
  /** Compiled graph variants kept alive (default 6). */
  maxSessions?: number;
  /**
   * How sessions get the weights: 'inputs' feeds the host arrays at every run (no copy, shared by
   * every session); 'initializers' hands them over once per session as in-memory external data
   * (ORT copies and prepacks them: faster small matmuls, one more copy per session). 'auto'
   * (default): 'initializers' up to AUTO_INITIALIZER_BYTES of fp32 weights, else 'inputs'.
   */
  weights?: 'inputs' | 'initializers' | 'auto';
  /**
   * ORT's CPU memory arena (default true). With it, each session keeps its peak activation buffers
   * reserved between runs (GPT-2 small: +26 MB at 128 tokens, +340 MB at 1024); without it every
   * run maps fresh pages, which cost ~35% more CPU time at 128 tokens here.
   */
  memArena?: boolean;
  /**
   * Let idle intra-op threads spin (ORT's session.intra_op.allow_spinning; default false): spinning
   * shaves wake-up latency on dedicated cores but burns a core that JS (the sampler, tfjs) or other
   * processes need on a small shared machine.
   */
  spin?: boolean;
}

/** Load onnxruntime-node and wrap `weights` (kept by reference: do not clear `weights.tensors`). */
export async function createOrtGpt2(weights: Gpt2Weights, opts: OrtOptions = {}): Promise<OrtGpt2> {
  const untied = checkWeights(weights);
  const avail = await ortAvailable();
  if (!avail.ok) throw new UserError('E_BACKEND', `${avail.reason}; use --engine tfjs`);
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new UserError('E_ARG', `--threads must be a positive integer, got ${threads}`);
  const executionProviders = opts.executionProviders ?? ['cpu'];
  const missing = executionProviders.find((p) => !avail.providers.includes(p));
  if (missing !== undefined) {
    throw new UserError('E_BACKEND', `execution provider '${missing}' is not available in this onnxruntime-node (available: ${avail.providers.join(', ')})`);
  }
  const bytes = [...weights.tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
  const mode = opts.weights ?? 'auto';
  const weightsAs = mode === 'auto' ? (bytes <= AUTO_INITIALIZER_BYTES ? 'initializers' : 'inputs') : mode;
  const resolved = {
    threads,
    executionProviders,
    maxSessions: opts.maxSessions ?? 6,
    weights: weightsAs,
    memArena: opts.memArena ?? true,
    spin: opts.spin ?? false,
    webgpuValidation: opts.webgpuValidation ?? 'full',
  } as const;
  return new OrtGpt2(await loadOrt(), weights, untied, resolved);
}

/** Check every weight's shape against the config (messages as Gpt2Model.fromWeights); returns whether lm_head is untied. */
function checkWeights(w: Gpt2Weights): boolean {
  const c = w.config;
  if (c.n_embd % c.n_head !== 0) throw new UserError('E_CONFIG', `n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
  if (!['gelu_new', 'gelu_fast', 'gelu_pytorch_tanh', 'gelu', 'relu'].includes(c.activation_function)) {
    throw new UserError('E_CONFIG', `activation_function '${c.activation_function}' is not supported; use gelu_new, gelu or relu`);
  }
  const shapes = expectedShapes(c);
  const head = w.tensors.get('lm_head.weight');
  if (head) shapes.set('lm_head.weight', [c.vocab_size, c.n_embd]);
  for (const [name, shape] of shapes) {
    const t = w.tensors.get(name);
    if (!t) throw new UserError('E_CHECKPOINT', `weight ${name} is missing`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new UserError('E_CHECKPOINT', `weight ${name} has shape [${t.shape}], expected [${shape}] from the config`);
    }
  }
  if (!head) return false;
  const wte = w.tensors.get('wte.weight')!.data;
  if (head.data === wte) return false;
  for (let i = 0; i < wte.length; i++) if (head.data[i] !== wte[i]) return true;
  return false;
}

/** OrtOptions with every default applied. */
type ResolvedOptions = {
  threads: number;
  executionProviders: string[];
  maxSessions: number;
  weights: 'inputs' | 'initializers';
  memArena: boolean;
  spin: boolean;
  webgpuValidation: 'full' | 'basic';
};

/** One forward's request, common to every public method. */
interface RunRequest extends EngineForwardOptions {
  names?: NameFilter;
  hooks?: readonly Hook[];
}

export class OrtGpt2 implements LanguageModel {
  readonly engine = 'ort' as const;
  readonly config: Gpt2Config;
  readonly nLayer: number;
  readonly nHead: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly vocab: number;
  readonly nPositions: number;
  /** intraOpNumThreads of every session. */
  readonly threads: number;
  /** How the sessions get the weights ('auto' resolved). */
  readonly weightsAs: 'inputs' | 'initializers';
  private readonly ort: OrtModule;
  private readonly weights: Gpt2Weights;
  private readonly untiedHead: boolean;
  private readonly opts: ResolvedOptions;
  /** Weight feeds: ORT tensors over the host Float32Arrays (no copy). */
  private readonly weightFeeds: Record<string, Ort.Tensor> = {};
  /** Compiled sessions by JSON(GraphSpec), least recently used first. */
  private readonly sessions = new Map<string, Promise<Ort.InferenceSession>>();
  /** Runs in flight per session, and sessions evicted while running (released when their last run ends). */
  private readonly inFlight = new Map<Ort.InferenceSession, number>();
  private readonly retired = new Set<Ort.InferenceSession>();
  private tfParams: LazyParams | null = null;
  /** Node count of the last graph built (for reports). */
  lastGraphNodes = 0;

  /** Use `createOrtGpt2`. */
  constructor(ort: OrtModule, weights: Gpt2Weights, untiedHead: boolean, opts: ResolvedOptions) {
    const c = weights.config;
    this.ort = ort;
    this.weights = weights;
    this.untiedHead = untiedHead;
    this.opts = opts;
    this.threads = opts.threads;
    this.weightsAs = opts.weights;
    this.config = c;
    this.nLayer = c.n_layer;
    this.nHead = c.n_head;
    this.dModel = c.n_embd;
    this.dHead = c.n_embd / c.n_head;
    this.dMlp = c.n_inner ?? 4 * c.n_embd;
    this.vocab = c.vocab_size;
    this.nPositions = c.n_positions;
    const names = [...expectedShapes(c).keys(), ...(untiedHead ? ['lm_head.weight'] : [])];
    for (const name of names) {
      const t = weights.tensors.get(name) as HostTensor;
      this.weightFeeds[name] = new ort.Tensor('float32', t.data, t.shape);
    }
  }

  /** TransformerLens-named parameters (as the tfjs engine's) as tf.Tensors, each uploaded on first access. Do not dispose. */
  params(): Map<string, tf.Tensor> {
    this.tfParams ??= new LazyParams(this.weights);
    return this.tfParams;
  }

  newCache(): OrtCache {
    return new OrtCache(this, this);
  }

  canRun(hooks: readonly Hook[]): boolean {
    return hooks.every(expressible);
  }

  // ---- the contract's sync forms: not available on an asynchronous engine ----
  forward(): tf.Tensor {
    return this.syncError('forward');
  }
  lastLogits(): tf.Tensor {
    return this.syncError('lastLogits');
  }
  runWithHooks(): tf.Tensor {
    return this.syncError('runWithHooks');
  }
  runWithCache(): { logits: tf.Tensor; activations: Map<string, tf.Tensor> } {
    return this.syncError('runWithCache');
  }

  /** Logits [batch, pos, vocab] (or [batch, 1, vocab] with lastOnly; or the ln_f output with output 'residual'). */
  async forwardAsync(ids: number[][], opts: EngineForwardOptions = {}): Promise<tf.Tensor> {
    return (await this.run(ids, opts)).logits;
  }

  /** Logits of the last position [batch, vocab] (only that position is unembedded). */
  async lastLogitsAsync(ids: number[][], opts: { cache?: ModelCache } = {}): Promise<tf.Tensor> {
    const logits = (await this.run(ids, { cache: opts.cache, lastOnly: true })).logits; // [batch, 1, vocab]
    const out = tf.reshape(logits, [ids.length, this.vocab]); // [batch, vocab]
    logits.dispose();
    return out;
  }

  /** Run with interventions (hooks carrying `intervention`); EngineHookError for any other hook. */
  async runWithHooksAsync(ids: number[][], opts: { hooks: readonly Hook[]; cache?: ModelCache }): Promise<tf.Tensor> {
    return (await this.run(ids, { cache: opts.cache, hooks: opts.hooks })).logits;
  }

  /** Run and return the named activations (after the interventions in `hooks`), as the tfjs engine does. */
  async runWithCacheAsync(ids: number[][], opts: RunWithCacheOptions): Promise<{ logits: tf.Tensor; activations: Map<string, tf.Tensor> }> {
    return this.run(ids, opts);
  }

  /**
   * Per-token loss of `targets` given `ids` (rows [batch][pos], targets row-major [batch·pos]):
   * logsumexp(logits) − logits[target] in nats, the value of src/lm/loss.ts `tokenNll`, computed in
   * the graph so that the [batch, pos, vocab] logits never leave ORT. ORT engine only (not on the
   * LanguageModel contract); `lm eval` uses it when the model is an OrtGpt2.
   */
  async tokenNllAsync(ids: number[][], targets: ArrayLike<number>): Promise<Float32Array> {
    checkEngineInput(ids, this.vocab, this.nPositions);
    const n = ids.length * ids[0].length;
    if (targets.length !== n) throw new UserError('E_INPUT', `targets has ${targets.length} entries, expected batch × pos = ${n}`);
    for (let i = 0; i < n; i++) {
      const t = targets[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.vocab)
        throw new UserError('E_INPUT', `target id ${t} at ${i} is outside the vocabulary [0, ${this.vocab})`);
    }
    const res = await this.runGraph(ids, { output: 'nll' }, { targets: BigInt64Array.from(Array.from(targets), (t) => BigInt(t)) });
    return (res.res.nll as Ort.Tensor).data as Float32Array; // [b·p]
  }

  /** Release every compiled session (the host weights belong to the caller). */
  dispose(): void {
    for (const s of this.sessions.values()) void s.then((x) => this.retire(x)).catch(() => undefined);
    this.sessions.clear();
    this.tfParams?.disposeAll();
    this.tfParams = null;
  }

  /** Compile (or reuse) the session of `spec`. Exposed for benchmarks and tests. */
  session(spec: GraphSpec): Promise<Ort.InferenceSession> {
    const key = JSON.stringify(spec);
    const hit = this.sessions.get(key);
    if (hit) {
      this.sessions.delete(key); // move to the most recently used end
      this.sessions.set(key, hit);
      return hit;
    }
    const { model, nodes } = buildGpt2Graph(this.config, spec, { untiedHead: this.untiedHead, weights: this.opts.weights });
    this.lastGraphNodes = nodes;
    const externalData =
      this.opts.weights === 'initializers'
        ? Object.entries(this.weightFeeds).map(([path, t]) => {
            const d = t.data as Float32Array;
            return { path, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
          })
        : undefined;
    const created = this.ort.InferenceSession.create(model, {
      executionProviders: this.opts.executionProviders.map((p) => (p === 'webgpu' ? { name: 'webgpu', validationMode: this.opts.webgpuValidation } : p)),
      intraOpNumThreads: this.opts.threads,
      interOpNumThreads: 1,
      enableCpuMemArena: this.opts.memArena,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: this.opts.spin ? '1' : '0' } } },
      ...(externalData ? { externalData } : {}),
    });
    const made = created.catch((e: unknown) => {
      this.sessions.delete(key);
      throw new UserError('E_BACKEND', `onnxruntime could not build a session on execution providers [${this.opts.executionProviders}]: ${ortReason(e)}`);
    });
    this.sessions.set(key, made);
    while (this.sessions.size > this.opts.maxSessions) {
      const [oldest, s] = this.sessions.entries().next().value as [string, Promise<Ort.InferenceSession>];
      this.sessions.delete(oldest);
      void s.then((x) => this.retire(x)).catch(() => undefined);
    }
    return made;
  }

  /** Release a session now, or after its runs in flight end. */
  private retire(session: Ort.InferenceSession): void {
    if (this.inFlight.has(session)) this.retired.add(session);
    else void session.release();
  }

  private syncError(method: string): never {
    throw new UserError('E_BACKEND', `the ort engine is asynchronous: call ${method}Async instead of ${method}`);
  }

  /** The forward behind every contract method: run the graph, hand the outputs over as tf.Tensors. */
  private async run(ids: number[][], req: RunRequest): Promise<{ logits: tf.Tensor; activations: Map<string, tf.Tensor> }> {
    const { res, names, spec } = await this.runGraph(ids, req);
    const [B, Pout] = [ids.length, spec.lastOnly ? 1 : ids[0].length];
    const toTf = (t: Ort.Tensor, name: string) => {
      const shape = name === 'logits' || name === 'hook_logits' ? [B, Pout, this.vocab] : [...t.dims]; // logits come out [b·p, V]
      return tf.tensor(t.data as Float32Array, shape);
    };
    const activations = new Map<string, tf.Tensor>();
    for (const n of names) activations.set(n, toTf(res[n], n));
    return { logits: toTf(res[spec.output], spec.output), activations };
  }

  /** Validate, pick (or compile) the session of this request, feed it, run it, update the cache. */
  private async runGraph(
    ids: number[][],
    req: Omit<RunRequest, 'output'> & { output?: GraphSpec['output'] },
    extra: { targets?: BigInt64Array } = {},
  ): Promise<{ res: Ort.InferenceSession.ReturnType; names: string[]; spec: GraphSpec }> {
    const hooks = req.hooks ?? [];
    const bad = hooks.find((h) => !expressible(h));
    if (bad) {
      const name = typeof bad.name === 'string' ? bad.name : 'a name predicate';
      throw new EngineHookError(
        `the ort engine runs only declarative interventions (src/model/interventions.ts); the hook on ${name} is arbitrary JS: run it on the tfjs engine`,
      );
    }
    const cache = this.ownCache(req.cache);
    const past = checkEngineInput(ids, this.vocab, this.nPositions, cache);
    const [B, P] = [ids.length, ids[0].length];
    const output = req.output ?? 'logits';
    const names = selectHooks(hookNames(this.nLayer), req.names).filter((n) => !(output !== 'logits' && n === 'hook_logits'));
    const iv = interventionInputs(hooks, this, B, P);
    // An empty cache runs the graph without past inputs (never a zero-length past: see graph.ts).
    const withPast = cache !== null && past > 0;
    const spec: GraphSpec = { cache: cache !== null, past: withPast, lastOnly: req.lastOnly ?? false, output, hooks: names, interventions: iv.slots };
    const session = await this.session(spec);

    const T = this.ort.Tensor;
    const feeds: Record<string, Ort.Tensor> = this.opts.weights === 'inputs' ? { ...this.weightFeeds } : {};
    feeds.input_ids = new T(
      'int64',
      BigInt64Array.from(ids.flat(), (t) => BigInt(t)),
      [B, P],
    ); // [b, p]
    feeds.position_ids = new T(
      'int64',
      BigInt64Array.from({ length: P }, (_, i) => BigInt(past + i)),
      [P],
    ); // [p]
    const cap = withPast ? cache.capacity : 0;
    feeds.attn_mask = new T('float32', attentionMask(P, past, withPast ? cap : null), [P, cap + P]); // [p, keys]
    for (const [name, f] of iv.feeds) feeds[name] = new T('float32', f.data, f.dims);
    if (extra.targets) feeds.targets = new T('int64', extra.targets, [B, P]); // [b, p]
    if (withPast) {
      feeds.past_len = new T('int64', BigInt64Array.of(BigInt(past)), [1]);
      const dims = cache.pastDims(B);
      for (let l = 0; l < this.nLayer; l++) {
        feeds[`past_key.${l}`] = new T('float32', cache.k[l], dims);
        feeds[`past_value.${l}`] = new T('float32', cache.v[l], dims);
      }
    }
    this.inFlight.set(session, (this.inFlight.get(session) ?? 0) + 1);
    let res: Ort.InferenceSession.ReturnType;
    try {
      res = await session.run(feeds);
    } finally {
      const n = this.inFlight.get(session)! - 1;
      if (n > 0) this.inFlight.set(session, n);
      else {
        this.inFlight.delete(session);
        if (this.retired.delete(session)) void session.release();
      }
    }
    if (cache) {
      const layers = [...Array(this.nLayer).keys()];
      const data = (name: string) => res[name].data as Float32Array;
      cache.append(
        layers.map((l) => data(`present_key.${l}`)),
        layers.map((l) => data(`present_value.${l}`)),
        B,
        P,
      );
    }
    return { res, names, spec };
  }

  private ownCache(cache: ModelCache | undefined): OrtCache | null {
    if (!cache) return null;
    if (!(cache instanceof OrtCache) || cache.owner !== this) {
      throw new UserError('E_INPUT', 'this KV cache was not made by this ort model: make it with model.newCache()');
    }
    return cache;
  }
}

/**
 * The additive attention mask (row-major), 0 where a query sees a key and −1e9 elsewhere (as
 * src/core/attention.ts). Without a cache (`cap` null): causal over the p new keys, [p, p]. With a
 * cache of `cap` slots, `past` of them filled: [p, cap + p] over [cache slots | new keys], query j
 * seeing the filled slots and new keys 0..j.
 */
function attentionMask(P: number, past: number, cap: number | null): Float32Array {
  const c = cap ?? 0;
  const width = c + P;
  const m = new Float32Array(P * width);
  for (let j = 0; j < P; j++) {
    for (let i = past; i < c; i++) m[j * width + i] = -1e9; // unfilled cache slots
    for (let i = j + 1; i < P; i++) m[j * width + c + i] = -1e9; // future new keys
  }
  return m;
}

/** The hook names a NameFilter selects, sorted (a stable session key). */
function selectHooks(all: readonly string[], filter: NameFilter | undefined): string[] {
  if (!filter) return [];
  const keep = typeof filter === 'function' ? filter : (n: string) => filter.includes(n);
  return all.filter((n) => keep(n)).sort();
}
