/**
 * Tokens for language-model training and evaluation: the tokenizer chosen by `model.merges`
 * (truncated GPT-2 BPE with K merges, or the full GPT-2 BPE for null), the Brown splits as token
 * id streams through the on-disk token cache (src/data/tokenCache.ts), and the windows cut from
 * them: training batches derived from (seed, step) alone, so a resumed run needs no RNG state,
 * and a fixed, evenly spaced set of validation windows.
 *
 * Thin adapter over src/data (bpe.ts, brown.ts, tokenCache.ts); nothing there is changed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gpt2Tokenizer, loadTokenizerDir, truncatedTokenizer, writeTruncatedTokenizer, type BpeTokenizer } from '../data/bpe.js';
import type { SplitName } from '../data/brown.js';
import { loadOrBuildTokenCache } from '../data/tokenCache.js';
import { UserError } from '../errors.js';
import { bundledGpt2Dir, copyTokenizerFiles } from '../model/tokenizer.js';
import { makeRng } from '../rng.js';

export type TokenIds = Uint16Array | Uint32Array;

/** The tokenizer of `merges` K (null: the full GPT-2 tokenizer). */
export function lmTokenizer(merges: number | null): BpeTokenizer {
  return merges === null ? gpt2Tokenizer() : truncatedTokenizer(merges);
}

/** Write the tokenizer files of `merges` into `dir` (tokenizer.json, tokenizer_config.json, vocab.json, merges.txt, special_tokens_map.json). */
export function writeLmTokenizer(dir: string, merges: number | null): void {
  if (merges === null) copyTokenizerFiles(bundledGpt2Dir(), dir);
  else writeTruncatedTokenizer(dir, merges);
}

/** The tokenizer stored in a model directory, with its hash (for the token cache). */
export async function modelDirTokenizer(dir: string): Promise<BpeTokenizer> {
  if (!existsSync(join(dir, 'tokenizer.json'))) {
    throw new UserError(
      'E_FILE',
      `model directory ${dir} has no tokenizer.json; export the model with \`spinbath lm train\` or copy its tokenizer files there`,
    );
  }
  return loadTokenizerDir(dir);
}

export interface SplitOptions {
  /** Token cache directory (default: SPINBATH_CACHE_DIR or ./.spinbath-cache). */
  cacheDir?: string;
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** Token ids of a Brown split (documents in id order, each followed by <|endoftext|>), cached on disk. */
export function brownSplitIds(split: SplitName, tok: BpeTokenizer, opts: SplitOptions = {}): TokenIds {
  return loadOrBuildTokenCache(split, tok, { cacheDir: opts.cacheDir, onProgress: opts.onProgress }).ids;
}

/** A split must hold at least seq_len + 1 tokens (one window of inputs plus its shifted targets). */
export function checkSplitSize(ids: ArrayLike<number>, seqLen: number, split: string): void {
  if (ids.length < seqLen + 1) {
    throw new UserError(
      'E_INPUT',
      `the ${split} split has ${ids.length} tokens, fewer than training.seq_len + 1 = ${seqLen + 1}; lower training.seq_len or use a larger corpus`,
    );
  }
}

/** A batch of windows: inputs x [batch][seq_len] and next-token targets y (flattened, [batch·seq_len]). */
export interface Batch {
  x: number[][];
  y: Int32Array;
}

/** Windows ids[o .. o+len) as inputs and ids[o+1 .. o+len] as targets, for each start offset o. */
export function windowsAt(ids: TokenIds, offsets: readonly number[], seqLen: number): Batch {
  const x: number[][] = [];
  const y = new Int32Array(offsets.length * seqLen);
  offsets.forEach((o, b) => {
    x.push(Array.from(ids.subarray(o, o + seqLen)));
    y.set(ids.subarray(o + 1, o + seqLen + 1), b * seqLen);
  });
  return { x, y };
}

/**
 * The training batch of update `step` (0-based): batch_size start offsets drawn uniformly from
 * [0, n − seq_len − 1] by a generator seeded with (seed, step) only, so any step's batch can be
 * rebuilt without replaying earlier draws (exact resume).
 */
export function trainBatch(ids: TokenIds, batchSize: number, seqLen: number, seed: number, step: number): Batch {
  const rng = makeRng(`lm-batch/${seed}/${step}`);
  const span = ids.length - seqLen; // offsets 0 .. span-1
  const offsets = Array.from({ length: batchSize }, () => rng.int(span));
  return windowsAt(ids, offsets, seqLen);
}

/** `count` validation window offsets spread evenly over the split (the same on every run). */
export function validationOffsets(n: number, seqLen: number, count: number): number[] {
  const last = n - seqLen - 1;
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, k) => Math.round((k * last) / (count - 1)));
}
