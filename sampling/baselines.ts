/**
 * Attention baselines for spin-diffusion generation: ordinary autoregressive decoding of the same
 * GPT-2 (same model, tokenizer and KV-cached forward, one incremental forward per token).
 *
 *   greedy       argmax of the (penalised) logits
 *   temperature  sample from softmax(z / T)
 *   top-k        sample from softmax(z / T) restricted to the k largest logits
 *   top-p        nucleus: the smallest set of largest-probability tokens whose mass under
 *                softmax(z / T) reaches p (always at least the top token; p → 0 is greedy)
 *   repetition penalty θ (any method; CTRL, Keskar et al. 2019, as in Hugging Face): for every
 *                distinct token already in the context (prompt + generated; `penalizePrompt:
 *                false` for generated only), z ← z / θ when z > 0 and z ← z · θ otherwise,
 *                applied before the temperature.
 *
 * Ties: argmax and the orders of top-k/top-p prefer the lower token id. Sampling is by inverse
 * CDF over token ids in increasing order with one uniform draw per token from the row's own
 * generator makeRng(`${seed}/baseline/${promptIndex}/${sample}`), so a sample does not depend on
 * how rows are batched. Rows (prompt × sample) with equal prompt length run as one batch (at
 * most `batchSize` rows). An empty prompt starts from <|endoftext|> (GPT-2's convention).
 * With `stopAtEos` (default true) a row that draws <|endoftext|> ends; the token is not kept.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../src/errors.js';
import type { LanguageModel } from '../src/model/engine.js';
import type { Tokenizer } from '../src/model/tokenizer.js';
import { makeRng, type Rng } from '../src/rng.js';

// The option family (methods, schema) lives in sampling/options.ts, shared with the CLI and sweeps.
export { BASELINE_METHODS, baselineSpecSchema, type BaselineMethod, type BaselineSpec } from './options.js';
import { baselineSpecSchema, type BaselineSpec } from './options.js';

export interface BaselineLm {
  /** Any engine (src/model/engine.ts); only the async forms are called. */
  model: LanguageModel;
  tokenizer: Tokenizer;
}

/** Options of {@link generateBaseline}: the method and its parameters, the prompts, tokens, samples, seed and batching. */
export interface BaselineOptions extends BaselineSpec {
  /** Prompt texts (encoded with the tokenizer unless promptIds is given). */
  prompts: string[];
  /** Prompts already encoded, one row per prompt (then `prompts` only labels the results). */
  promptIds?: number[][];
  /** Samples per prompt (default 1). */
  samples?: number;
  /** New tokens per sample (at most). */
  tokens: number;
  seed?: number | string;
  /** Rows per forward batch (default 16). */
  batchSize?: number;
  /** A drawn <|endoftext|> ends the sample (default true). */
  stopAtEos?: boolean;
  /** The repetition penalty also counts prompt tokens (default true). */
  penalizePrompt?: boolean;
  /** Keep the last tokens of a prompt too long for n_positions − tokens + 1. */
  truncate?: 'left';
  /** Called after every generated token of every row. */
  onToken?: (e: { prompt: number; sample: number; token: number }) => void;
}

/** One generated continuation of {@link generateBaseline} (one per prompt × sample). */
export interface BaselineResult {
  prompt: string;
  promptIndex: number;
  sample: number;
  /** Generated continuation only. */
  text: string;
  /** Generated ids (without a final <|endoftext|>). */
  tokens: number[];
  /** Why the sample ended. */
  stop: 'eos' | 'length';
}

/**
 * Token ids of topic words: the first token of ' word' (with GPT-2's leading space) and of 'word',
 * deduplicated, in first-seen order.
 */
export function topicTokenIds(tokenizer: Pick<Tokenizer, 'encode'>, words: readonly string[]): number[] {
  const ids: number[] = [];
  for (const w of words)
    for (const form of [` ${w}`, w]) {
      const t = tokenizer.encode(form)[0];
      if (t !== undefined && !ids.includes(t)) ids.push(t);
    }
  return ids;
}

/** A short label such as 'greedy', 'top-p 0.9', 'top-k 40 T=0.7 rep=1.2'. */
export function baselineLabel(s: BaselineSpec): string {
  const parts: string[] = [s.method];
  if (s.method === 'top-k') parts.push(String(s.topK));
  if (s.method === 'top-p') parts.push(String(s.topP));
  if (s.method !== 'greedy' && s.temperature !== undefined && s.temperature !== 1) parts.push(`T=${s.temperature}`);
  if (s.repetitionPenalty !== undefined && s.repetitionPenalty !== 1) parts.push(`rep=${s.repetitionPenalty}`);
  if (s.logitBias) parts.push(`bias=${s.logitBias.bias}`);
  return parts.join(' ');
}

/** CTRL repetition penalty, in place on z [vocab]: z/θ for z > 0, z·θ otherwise, once per distinct id in `seen`. */
export function applyRepetitionPenalty(z: Float32Array, seen: Iterable<number>, penalty: number): Float32Array {
  if (penalty === 1) return z;
  for (const id of new Set(seen)) z[id] = z[id] > 0 ? z[id] / penalty : z[id] * penalty;
  return z;
}

/** Index of the largest entry (the lowest id among ties). */
export function argmax(z: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
  return best;
}

/** Ids of the m largest entries of z, largest first (ties: lower id first). */
export function topIndices(z: ArrayLike<number>, m: number): number[] {
  const n = z.length;
  m = Math.min(m, n);
  const before = (a: number, b: number) => z[a] > z[b] || (z[a] === z[b] && a < b);
  if (m * 8 >= n) {
    const all = Array.from({ length: n }, (_, i) => i);
    return all.sort((a, b) => (before(a, b) ? -1 : 1)).slice(0, m);
  }
  // Threshold by quickselect on a copy of the values, then sort the few survivors.
  const vals = Float64Array.from(z as ArrayLike<number>);
  const kth = quickselectDesc(vals, m - 1);
  const above: number[] = [];
  const equal: number[] = [];
  for (let i = 0; i < n; i++) {
    if (z[i] > kth) above.push(i);
    else if (z[i] === kth) equal.push(i);
  }
  return above.concat(equal.slice(0, m - above.length)).sort((a, b) => (before(a, b) ? -1 : 1));
}

/** The k-th largest value (0-based) of a (permuted in place). */
function quickselectDesc(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        [a[i], a[j]] = [a[j], a[i]];
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Inverse-CDF draw from weights w over candidate ids (in the given order) with one uniform u. */
function drawFrom(ids: ArrayLike<number>, w: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let i = 0; i < w.length; i++) total += w[i];
  let target = u * total;
  for (let i = 0; i < w.length; i++) {
    target -= w[i];
    if (target < 0) return ids[i];
  }
  for (let i = w.length - 1; i >= 0; i--) if (w[i] > 0) return ids[i]; // rounding at the top end
  return ids[0];
}

/**
 * One token from logits z [vocab] (already penalised) by `spec`, drawing from `rng` (greedy draws
 * nothing). Pure host code.
 */
export function chooseToken(z: Float32Array, spec: BaselineSpec, rng: Rng): number {
  if (spec.method === 'greedy') return argmax(z);
  const T = spec.temperature ?? 1;
  const V = z.length;
  let cand: number[] | null = null; // candidate ids, largest logit first; null = the whole vocabulary
  if (spec.method === 'top-k') cand = topIndices(z, spec.topK!);
  const zmax = z[argmax(z)];
  if (spec.method === 'top-p') {
    const p = spec.topP!;
    let Zall = 0;
    for (let i = 0; i < V; i++) Zall += Math.exp((z[i] - zmax) / T);
    for (let m = 64; ; m *= 4) {
      const top = topIndices(z, m);
      let mass = 0;
      let cut = -1;
      for (let i = 0; i < top.length; i++) {
        mass += Math.exp((z[top[i]] - zmax) / T) / Zall;
        if (mass >= p) {
          cut = i + 1;
          break;
        }
      }
      if (cut > 0 || top.length === V) {
        cand = top.slice(0, cut > 0 ? cut : top.length);
        break;
      }
    }
  }
  const ids = cand ? Int32Array.from(cand).sort() : null; // inverse CDF in increasing id order
  const n = ids ? ids.length : V;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.exp((z[ids ? ids[i] : i] - zmax) / T);
  const u = rng.uniform();
  return drawFrom(ids ?? Int32Array.from({ length: V }, (_, i) => i), w, u);
}

/** Encode prompts and fit them into the context (prompt + tokens − 1 ≤ n_positions), with one-line errors. */
export function preparePromptIds(lm: BaselineLm, prompts: string[], promptIds: number[][] | undefined, tokens: number, truncate?: 'left'): number[][] {
  const { model, tokenizer } = lm;
  if (!Number.isInteger(tokens) || tokens < 1) throw new UserError('E_ARG', `--tokens must be a positive integer, got ${tokens}`);
  const room = model.nPositions - tokens + 1; // the last new token is never fed back
  if (room < 1)
    throw new UserError('E_ARG', `--tokens ${tokens} does not fit the model's context of ${model.nPositions} positions; ask for at most ${model.nPositions}`);
  const rows = promptIds ?? prompts.map((p) => tokenizer.encode(p));
  return rows.map((ids0, i) => {
    let ids = ids0.length === 0 ? [tokenizer.eosId] : ids0;
    if (ids.length > room) {
      if (truncate !== 'left') {
        throw new UserError(
          'E_INPUT',
          `prompt ${i + 1} is ${ids.length} tokens; with ${tokens} new tokens it exceeds the model's context of ${model.nPositions}; shorten it, ask for fewer tokens or pass --truncate left`,
        );
      }
      ids = ids.slice(ids.length - room);
    }
    const bad = ids.find((t) => !Number.isInteger(t) || t < 0 || t >= model.vocab);
    if (bad !== undefined)
      throw new UserError(
        'E_TOKENIZER',
        `prompt ${i + 1} has token id ${bad}, outside the model's vocabulary of ${model.vocab}; use the model's own tokenizer`,
      );
    return ids;
  });
}

/** Rows (prompt index, sample) grouped by prompt length, in order, at most `batch` per group. */
export function rowGroups(lengths: number[], samples: number, batch: number): { prompt: number; sample: number }[][] {
  const byLen = new Map<number, { prompt: number; sample: number }[]>();
  lengths.forEach((L, p) => {
    for (let s = 0; s < samples; s++) {
      if (!byLen.has(L)) byLen.set(L, []);
      byLen.get(L)!.push({ prompt: p, sample: s });
    }
  });
  const out: { prompt: number; sample: number }[][] = [];
  for (const rows of byLen.values()) for (let i = 0; i < rows.length; i += batch) out.push(rows.slice(i, i + batch));
  return out;
}

/** Generate with a baseline decoder; results ordered by prompt, then sample. */
export async function generateBaseline(lm: BaselineLm, opts: BaselineOptions): Promise<BaselineResult[]> {
  const parsed = baselineSpecSchema.safeParse({
    method: opts.method,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    repetitionPenalty: opts.repetitionPenalty,
    logitBias: opts.logitBias,
  });
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UserError('E_ARG', `baseline ${opts.method}: ${i.path.join('.') || 'method'}: ${i.message}`);
  }
  const spec = parsed.data;
  const samples = opts.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new UserError('E_ARG', `--samples must be a positive integer, got ${samples}`);
  const batchSize = opts.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError('E_ARG', `--batch-size must be a positive integer, got ${batchSize}`);
  const { model, tokenizer } = lm;
  const prompts = preparePromptIds(lm, opts.prompts, opts.promptIds, opts.tokens, opts.truncate);
  const penalty = spec.repetitionPenalty ?? 1;
  const biasIds = spec.logitBias ? topicTokenIds(tokenizer, spec.logitBias.words) : [];
  const stopAtEos = opts.stopAtEos ?? true;
  const seed = opts.seed ?? 0;
  const results: BaselineResult[] = [];
  for (const group of rowGroups(
    prompts.map((p) => p.length),
    samples,
    batchSize,
  )) {
    const rngs = group.map((r) => makeRng(`${seed}/baseline/${r.prompt}/${r.sample}`));
    const gen: number[][] = group.map(() => []);
    const seen: Set<number>[] = group.map((r) => new Set(opts.penalizePrompt === false ? [] : prompts[r.prompt]));
    const stop: ('eos' | 'length')[] = group.map(() => 'length');
    const done = group.map(() => false);
    const cache = model.newCache();
    try {
      let logits: tf.Tensor | null = await model.lastLogitsAsync(
        group.map((r) => prompts[r.prompt]),
        { cache },
      ); // [rows, vocab]
      for (let step = 0; step < opts.tokens && logits; step++) {
        const host = logits.dataSync() as Float32Array; // [rows·vocab]
        const next: number[][] = [];
        group.forEach((r, b) => {
          if (done[b]) return void next.push([gen[b][gen[b].length - 1] ?? tokenizer.eosId]); // ignored row
          const z = Float32Array.from(host.subarray(b * model.vocab, (b + 1) * model.vocab)); // [vocab]
          for (const id of biasIds) z[id] += spec.logitBias!.bias; // logit bias on the topic words
          const t = chooseToken(applyRepetitionPenalty(z, seen[b], penalty), spec, rngs[b]);
          next.push([t]);
          if (stopAtEos && t === tokenizer.eosId) {
            done[b] = true;
            stop[b] = 'eos';
            return;
          }
          gen[b].push(t);
          if (penalty !== 1) seen[b].add(t);
          opts.onToken?.({ prompt: r.prompt, sample: r.sample, token: t });
        });
        logits.dispose();
        logits = null;
        if (step + 1 < opts.tokens && !done.every(Boolean)) logits = await model.lastLogitsAsync(next, { cache }); // [rows, vocab]
      }
      logits?.dispose();
    } finally {
      cache.dispose();
    }
    group.forEach((r, b) =>
      results.push({
        prompt: opts.prompts[r.prompt] ?? tokenizer.decode(prompts[r.prompt]),
        promptIndex: r.prompt,
        sample: r.sample,
        text: decodeIds(tokenizer, gen[b]),
        tokens: gen[b],
        stop: stop[b],
      }),
    );
  }
  return results.sort((a, b) => a.promptIndex - b.promptIndex || a.sample - b.sample);
}

/** tokenizer.decode that maps no ids to '' (the Hugging Face decoder rejects an empty list). */
export function decodeIds(tokenizer: Tokenizer, ids: number[]): string {
  return ids.length === 0 ? '' : tokenizer.decode(ids);
}

/**
 * Incremental text of a growing token list: `push(ids)` returns the text not yet returned,
 * holding back a trailing partial UTF-8 character ('�') until it completes.
 */
export class StreamDecoder {
  private shown = 0;
  constructor(private readonly tokenizer: Tokenizer) {}
  push(ids: number[], final = false): string {
    const text = decodeIds(this.tokenizer, ids);
    let upto = text.length;
    if (!final) while (upto > this.shown && text[upto - 1] === '\uFFFD') upto--;
    const out = text.slice(this.shown, upto);
    this.shown = Math.max(this.shown, upto);
    return out;
  }
}
