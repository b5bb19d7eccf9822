/**
 * Quality and diversity metrics of a set of generations, always reported together.
 *
 * Model-based (under an evaluator GPT-2; see `evaluatorScores`):
 *   perplexity     exp(mean −ln p(token | prompt, earlier generated tokens)) pooled over every
 *                  generated token of every output (token-weighted, not a mean of per-output values)
 *   entropy_bits   mean over the same positions of the entropy −Σ p log₂ p of the evaluator's
 *                  next-token distribution (the one that scored the generated token)
 * Which ids are scored: the output's `tokens` when the evaluator's tokenizer decodes them to the
 * output's `text` (then they mean the same text to the evaluator), else the evaluator's encoding
 * of `text`; likewise the prompt is `promptTokens` when they decode to `prompt`, else the
 * evaluator's encoding of `prompt` (an empty prompt: <|endoftext|>). A prompt too long for
 * n_positions together with the output is cut from the left.
 *
 * Text statistics, on TOKEN IDS (the records' `tokens`, else the evaluator's encoding of `text`),
 * so they compare runs that share a tokenizer:
 *   distinct_n     unique n-grams / total n-grams, pooled over all outputs (n = 1, 2, 3); n-grams
 *                  never cross outputs
 *   repetition_4   per output 1 − unique/total 4-grams (outputs with no 4-gram are skipped), averaged
 *   loop_rate      share of outputs that END IN A LOOP: for some period p ≤ 8 the last 3p tokens
 *                  are one block of p tokens repeated 3 times (t[i] = t[i−p] for the last 2p i)
 *   zipf           s of the least-squares fit log f_r = c − s·log r over the frequency table of all
 *                  tokens of all outputs (every type one point, rank r = 1 the most frequent; ties in
 *                  frequency ranked by id); s ≈ 1 for natural text, larger = more peaked
 * A metric with nothing to measure is null (NaN in the library).
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../src/errors.js';
import type { LanguageModel } from '../src/model/engine.js';
import type { Tokenizer } from '../src/model/tokenizer.js';

/** One generation as read from a JSONL file: the prompt, the continuation text and (optionally) the token ids. */
export interface GenerationRecord {
  prompt: string;
  text: string;
  /** Generated ids (generator's tokenizer). */
  tokens?: number[];
  /** Prompt ids in the same tokenizer as `tokens` (optional; sweeps pass them). */
  promptTokens?: number[];
}

/** Statistics of the generated tokens alone (no evaluator): counts, distinct-n, repetition, loop rate, Zipf. */
export interface TextStats {
  outputs: number;
  tokens: number;
  distinct_1: number;
  distinct_2: number;
  distinct_3: number;
  repetition_4: number;
  loop_rate: number;
  zipf: number;
}

/** The full metric set of a group of generations: the text statistics plus the evaluator perplexity. */
export interface Metrics extends TextStats {
  perplexity: number;
  entropy_bits: number;
  /** Generated tokens that the evaluator scored. */
  scored_tokens: number;
}

/** Every metric, in report order: evaluator perplexity, entropy, distinct-n, repetition, loop rate, Zipf coefficient. */
export const METRIC_KEYS = ['perplexity', 'entropy_bits', 'distinct_1', 'distinct_2', 'distinct_3', 'repetition_4', 'loop_rate', 'zipf'] as const;
/** One of {@link METRIC_KEYS}. */
export type MetricKey = (typeof METRIC_KEYS)[number];

/** n-grams of one sequence as string keys. */
function ngrams(ids: readonly number[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= ids.length; i++) out.push(ids.slice(i, i + n).join(','));
  return out;
}

/** Unique n-grams / total n-grams over all outputs (NaN when there is none). */
export function distinctN(outputs: readonly (readonly number[])[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const o of outputs) {
    const g = ngrams(o, n);
    total += g.length;
    for (const x of g) seen.add(x);
  }
  return total === 0 ? NaN : seen.size / total;
}

/** 1 − unique/total n-grams of one output (NaN when it has no n-gram). */
export function repetitionRate(ids: readonly number[], n = 4): number {
  const g = ngrams(ids, n);
  return g.length === 0 ? NaN : 1 - new Set(g).size / g.length;
}

/** The smallest period p ≤ maxPeriod such that the last `repeats`·p tokens repeat a p-block, else 0. */
export function loopPeriod(ids: readonly number[], maxPeriod = 8, repeats = 3): number {
  const n = ids.length;
  for (let p = 1; p <= maxPeriod; p++) {
    if (n < repeats * p) break;
    let ok = true;
    for (let i = n - (repeats - 1) * p; i < n && ok; i++) ok = ids[i] === ids[i - p];
    if (ok) return p;
  }
  return 0;
}

/** Zipf exponent s: −slope of log frequency against log rank, least squares over all types. */
export function zipfCoefficient(outputs: readonly (readonly number[])[]): number {
  const counts = new Map<number, number>();
  for (const o of outputs) for (const t of o) counts.set(t, (counts.get(t) ?? 0) + 1);
  const freqs = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map((e) => e[1]);
  if (freqs.length < 2) return NaN;
  const xs = freqs.map((_, r) => Math.log(r + 1));
  const ys = freqs.map((f) => Math.log(f));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return -sxy / sxx;
}

function mean(xs: number[]): number {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

/** The token-id statistics of a set of outputs. */
export function textStats(outputs: readonly (readonly number[])[]): TextStats {
  return {
    outputs: outputs.length,
    tokens: outputs.reduce((a, o) => a + o.length, 0),
    distinct_1: distinctN(outputs, 1),
    distinct_2: distinctN(outputs, 2),
    distinct_3: distinctN(outputs, 3),
    repetition_4: mean(outputs.map((o) => repetitionRate(o, 4))),
    loop_rate: outputs.length === 0 ? NaN : outputs.filter((o) => loopPeriod(o) > 0).length / outputs.length,
    zipf: zipfCoefficient(outputs),
  };
}

export interface Evaluator {
  /** Any engine (src/model/engine.ts); only the async forms are called. */
  model: LanguageModel;
  tokenizer: Tokenizer;
}

/** Per-output ids for the evaluator: context and continuation (see the file comment). */
export function evaluatorIds(ev: Evaluator, r: GenerationRecord): { context: number[]; continuation: number[] } {
  const tok = ev.tokenizer;
  const own =
    r.tokens !== undefined &&
    r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < tok.vocabSize) &&
    (r.tokens.length === 0 ? '' : tok.decode(r.tokens)) === r.text;
  const continuation = own ? r.tokens! : tok.encode(r.text);
  const ownPrompt =
    r.promptTokens !== undefined &&
    r.promptTokens.every((t) => Number.isInteger(t) && t >= 0 && t < tok.vocabSize) &&
    (r.promptTokens.length === 0 ? '' : tok.decode(r.promptTokens)) === r.prompt;
  let context = ownPrompt ? r.promptTokens! : tok.encode(r.prompt);
  if (context.length === 0) context = [tok.eosId];
  const room = ev.model.nPositions - continuation.length;
  if (room < 1) return { context: context.slice(-1), continuation: continuation.slice(0, ev.model.nPositions - 1) };
  return { context: context.length > room ? context.slice(context.length - room) : context, continuation };
}

/**
 * Σ nll (nats), Σ entropy (bits) and the count of generated tokens under the evaluator; rows of
 * equal length run as one batch of at most ~4M logits.
 */
export async function evaluatorScores(ev: Evaluator, records: readonly GenerationRecord[]): Promise<{ nll: number; entropyBits: number; tokens: number }> {
  const { model } = ev;
  const rows = records.map((r) => evaluatorIds(ev, r)).filter((r) => r.continuation.length > 0);
  for (const r of rows)
    for (const t of [...r.context, ...r.continuation])
      if (t >= model.vocab)
        throw new UserError(
          'E_INPUT',
          `token id ${t} is outside the evaluator's vocabulary of ${model.vocab}; evaluate with a model that shares the tokenizer`,
        );
  const byLen = new Map<number, typeof rows>();
  for (const r of rows) {
    const L = r.context.length + r.continuation.length - 1; // input length (last token is never an input)
    if (!byLen.has(L)) byLen.set(L, []);
    byLen.get(L)!.push(r);
  }
  let nll = 0;
  let ent = 0;
  let count = 0;
  for (const [L, group] of byLen) {
    const per = Math.max(1, Math.floor(4_000_000 / (L * model.vocab)));
    for (let i = 0; i < group.length; i += per) {
      const chunk = group.slice(i, i + per);
      const input = chunk.map((r) => [...r.context, ...r.continuation].slice(0, L)); // [rows][L]
      const logits = await model.forwardAsync(input); // [rows, L, vocab]
      let n: tf.Tensor;
      let e: tf.Tensor;
      try {
        [n, e] = tf.tidy(() => {
          const logp = tf.logSoftmax(logits, -1); // [rows, L, vocab]
          const targets = chunk.flatMap((r) => [...r.context, ...r.continuation].slice(1, L + 1)); // [rows·L]
          const at = tf.tensor1d(
            targets.map((t, j) => j * model.vocab + t),
            'int32',
          ); // flat index of each target
          const nllT = tf.reshape(tf.neg(tf.gather(tf.reshape(logp, [-1]), at)), [chunk.length, L]); // [rows, L]
          const entT = tf.div(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)), Math.LN2); // [rows, L] bits
          return [nllT, entT];
        });
      } finally {
        logits.dispose();
      }
      const nh = n.dataSync();
      const eh = e.dataSync();
      tf.dispose([n, e]);
      chunk.forEach((r, b) => {
        for (let k = r.context.length - 1; k < L; k++) {
          nll += nh[b * L + k];
          ent += eh[b * L + k];
          count++;
        }
      });
    }
  }
  return { nll, entropyBits: ent, tokens: count };
}

/** All metrics of `records`; the model-based ones are NaN without an evaluator. */
export async function computeMetrics(records: readonly GenerationRecord[], ev?: Evaluator): Promise<Metrics> {
  const outputs = records.map((r) => r.tokens ?? (ev ? ev.tokenizer.encode(r.text) : []));
  if (!ev && records.some((r) => r.tokens === undefined)) throw new Error('records without tokens need an evaluator tokenizer');
  const stats = textStats(outputs);
  const s = ev ? await evaluatorScores(ev, records) : { nll: NaN, entropyBits: NaN, tokens: 0 };
  return {
    ...stats,
    perplexity: s.tokens > 0 ? Math.exp(s.nll / s.tokens) : NaN,
    entropy_bits: s.tokens > 0 ? s.entropyBits / s.tokens : NaN,
    scored_tokens: s.tokens,
  };
}

/** Metrics with NaN as null, keys in the reported order (for JSON). */
export function metricsJson(m: Metrics): Record<string, number | null> {
  const keys = ['outputs', 'tokens', 'scored_tokens', ...METRIC_KEYS] as const;
  return Object.fromEntries(keys.map((k) => [k, Number.isFinite(m[k]) ? m[k] : null]));
}
