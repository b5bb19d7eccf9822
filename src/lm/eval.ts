/**
 * Token-level perplexity of a GPT-2 model on a Brown split, next to n-gram baselines
 * (src/lm/ngram.ts) computed with the same tokenizer on the same tokens.
 *
 * The split is one token stream (documents in id order, each ending in <|endoftext|>); its targets
 * are positions 1..T−1 (position 0 has no context), and every target is scored exactly once.
 * Windows (`windowPlan`): inputs ids[start .. start+len), targets ids[start+1 .. start+len], with
 * len ≤ the model's context C and starts 0, S, 2S, …; a window scores only its last targets that
 * no earlier window scored. The default stride S = C gives non-overlapping windows (a target at
 * window offset k sees k+1 tokens of context, so early positions see little: a pessimistic
 * perplexity); S < C is the strided evaluation, every scored target seeing ≥ C − S tokens, at
 * C/S times the cost. Perplexity = exp(Σ nll / tokens); the baselines condition each target
 * on its predecessor (bigram) or on nothing (unigram).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SplitName } from '../data/brown.js';
import { UserError } from '../errors.js';
import { loadGpt2Weights } from '../model/checkpoint.js';
import { dropPaddingRows } from '../model/weights.js';
import type { EngineName, LanguageModel } from '../model/engine.js';
import { createLanguageModel, resolveThreads, type EngineOptions } from '../model/load.js';
import { checkTokenizerFitsModel } from '../model/tokenizer.js';
import { brownSplitIds, modelDirTokenizer, type TokenIds } from './data.js';
import { tokenNll } from './loss.js';
import { KneserNeyBigram, scoreNgram, UnigramModel } from './ngram.js';

/** One evaluation window: inputs ids[start .. start+len), targets ids[start+1 .. start+len]; the last `score` targets count. */
export interface EvalWindow {
  start: number;
  len: number;
  score: number;
}

/** Windows over a stream of T tokens with context C and stride S (1 ≤ S ≤ C): every target 1..T−1 scored once. */
export function windowPlan(T: number, context: number, stride: number): EvalWindow[] {
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= context)) {
    throw new UserError('E_ARG', `--stride ${stride} must be an integer in [1, ${context}] (the model's context)`);
  }
  const out: EvalWindow[] = [];
  let scoredTo = 0; // last target position scored
  for (let start = 0; scoredTo < T - 1; start += stride) {
    const len = Math.min(context, T - 1 - start);
    const last = start + len;
    out.push({ start, len, score: last - scoredTo });
    scoredTo = last;
  }
  return out;
}

/** Per-token −log p of targets y given input rows x (all rows equal length): [rows·len]. */
export type NllFn = (x: number[][], y: Int32Array) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** Total nll and token count of `ids` under `nll`, windows grouped `batchSize` at a time. */
export async function scoreWindows(
  ids: ArrayLike<number>,
  plan: EvalWindow[],
  nll: NllFn,
  batchSize: number,
  onBatch?: (done: number, total: number) => void,
): Promise<{ tokens: number; nll: number }> {
  let total = 0;
  let tokens = 0;
  let done = 0;
  for (let i = 0; i < plan.length;) {
    const len = plan[i].len;
    const group: EvalWindow[] = [];
    while (i < plan.length && plan[i].len === len && group.length < batchSize) group.push(plan[i++]);
    const x = group.map((w) => Array.from({ length: len }, (_, k) => ids[w.start + k]));
    const y = Int32Array.from(group.flatMap((w) => Array.from({ length: len }, (_, k) => ids[w.start + 1 + k])));
    const v = await nll(x, y);
    group.forEach((w, r) => {
      for (let k = len - w.score; k < len; k++) total += v[r * len + k];
      tokens += w.score;
    });
    done += group.length;
    onBatch?.(done, plan.length);
  }
  return { tokens, nll: total };
}

/**
 * NllFn of a language model on any engine (forward, then the uncapped per-token loss). An engine
 * with `tokenNllAsync` (ort) computes the loss inside its graph, so the logits never leave it.
 */
export function modelNll(model: LanguageModel): NllFn {
  const inGraph = (model as Partial<{ tokenNllAsync(ids: number[][], targets: ArrayLike<number>): Promise<Float32Array> }>).tokenNllAsync;
  if (typeof inGraph === 'function') return (x, y) => inGraph.call(model, x, y);
  return async (x, y) => {
    const logits = await model.forwardAsync(x); // [rows, len, vocab]
    try {
      const t = tf.tidy(() => tokenNll(tf.reshape(logits, [-1, model.vocab]), tf.tensor1d(y, 'int32'))); // [rows·len]
      const v = t.dataSync().slice();
      t.dispose();
      return v;
    } finally {
      logits.dispose();
    }
  };
}

/** Options of {@link evaluateModelDir}: the engine's, split, stride, batch size, token limit, cache directory, progress. */
export interface EvalOptions extends EngineOptions {
  split: SplitName;
  /** Stride S (default: the context, non-overlapping windows). */
  stride?: number;
  /** Windows per forward pass (default 8). */
  batchSize?: number;
  /** Evaluate only the first maxTokens targets of the split (default all). */
  maxTokens?: number;
  cacheDir?: string;
  /** Called after each forward batch of windows. */
  onBatch?: (done: number, total: number) => void;
}

/** Perplexity of a model on a Brown split, with unigram and Kneser–Ney bigram baselines on the same tokens. */
export interface EvalReport {
  split: SplitName;
  tokens: number;
  perplexity: number;
  unigram_perplexity: number;
  bigram_perplexity: number;
  nll_per_token: number;
  model: string;
  vocab_size: number;
  context: number;
  stride: number;
  windows: number;
  train_tokens: number;
  unigram: string;
  bigram: string;
  bigram_discounts: { d1: number; d2: number };
  wall_s: number;
  /** Scored tokens per second of the model's forward passes (wall clock, n-gram baselines excluded). */
  tokens_per_s: number;
  /** The engine that ran the model (after `auto`), and the tfjs backend holding its outputs. */
  engine: EngineName;
  threads: number | null;
  backend: string;
}

/** Evaluate the model directory `dir` (HF layout + tokenizer) on a Brown split. */
export async function evaluateModelDir(dir: string, opts: EvalOptions): Promise<EvalReport> {
  const stored = await loadGpt2Weights(dir);
  const tok = await modelDirTokenizer(dir);
  checkTokenizerFitsModel({ vocabSize: tok.vocabSize, eosId: tok.eotId }, stored.config.vocab_size, dir, opts.onNote);
  const weights = dropPaddingRows(stored, tok.vocabSize); // as loadModel: probabilities over the tokenizer's ids
  const all: TokenIds = brownSplitIds(opts.split, tok, { cacheDir: opts.cacheDir });
  const ids = opts.maxTokens !== undefined ? all.subarray(0, opts.maxTokens + 1) : all;
  if (ids.length < 2) throw new UserError('E_INPUT', `the ${opts.split} split has ${ids.length} tokens; at least 2 are needed to score one`);
  const train = brownSplitIds('train', tok, { cacheDir: opts.cacheDir });
  const context = weights.config.n_positions;
  const stride = opts.stride ?? context;
  const plan = windowPlan(ids.length, context, stride);
  const model = await createLanguageModel(weights, { ...opts, purpose: 'inference' });
  let lm: { tokens: number; nll: number };
  const t0 = performance.now();
  try {
    lm = await scoreWindows(ids, plan, modelNll(model), opts.batchSize ?? 8, opts.onBatch);
  } finally {
    model.dispose();
  }
  const wall = (performance.now() - t0) / 1000;
  const uni = scoreNgram(new UnigramModel(train, tok.vocabSize), ids);
  const kn = new KneserNeyBigram(train, tok.vocabSize);
  const bi = scoreNgram(kn, ids);
  if (uni.tokens !== lm.tokens || bi.tokens !== lm.tokens)
    throw new Error(`internal: scored ${lm.tokens} tokens with the model but ${uni.tokens} with the baselines`);
  return {
    split: opts.split,
    tokens: lm.tokens,
    perplexity: Math.exp(lm.nll / lm.tokens),
    unigram_perplexity: uni.perplexity,
    bigram_perplexity: bi.perplexity,
    nll_per_token: lm.nll / lm.tokens,
    model: dir,
    vocab_size: tok.vocabSize,
    context,
    stride,
    windows: plan.length,
    train_tokens: train.length,
    unigram: 'add-one smoothed, train-split counts',
    bigram: 'interpolated Kneser-Ney (D = n1/(n1+2 n2)), train-split counts',
    bigram_discounts: { d1: kn.d1, d2: kn.d2 },
    wall_s: wall,
    tokens_per_s: lm.tokens / wall,
    engine: model.engine,
    threads: model.engine === 'ort' ? resolveThreads(opts.threads) : null,
    backend: tf.getBackend(),
  };
}
