/**
 * Tiny random GPT-2 checkpoints for tests: random weights from a seed, written in the Hugging
 * Face layout (config.json + safetensors + tokenizer files) so every loader path (prefix, dtype,
 * shards, tied/untied head) can be exercised without network access. The random weights
 * themselves are src/model/randomWeights.ts (shared with bench/).
 *
 * The tokenizer fits the embedding, as a model directory must (src/model/tokenizer.ts
 * `checkTokenizerFitsModel`): GPT-2's own files for a 50,257-token vocabulary, else GPT-2's
 * byte-level BPE truncated to vocab_size − 257 merges (src/data/bpe.ts `writeTruncatedTokenizer`:
 * 256 byte tokens, the first K merges, `<|endoftext|>` at id 256 + K). A vocabulary below 257
 * cannot hold a byte-level BPE and is refused here.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2_MERGES, writeTruncatedTokenizer } from '../../src/data/bpe.js';
import { copyTokenizerFiles, bundledGpt2Dir, loadTokenizer, type Tokenizer } from '../../src/model/tokenizer.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import type { WriteDtype } from '../../src/model/safetensors.js';
import { randomGpt2Weights } from '../../src/model/randomWeights.js';
import type { Gpt2Config, Gpt2Weights } from '../../src/model/weights.js';

import { TINY_CONFIG } from '../../src/model/randomWeights.js';
export { randomGpt2Weights, TINY_CONFIG, type RandomWeightOptions } from '../../src/model/randomWeights.js';

export interface TinyGpt2Options {
  seed?: number | string;
  dtype?: WriteDtype;
  /** Store names as `transformer.*` (default false). */
  prefix?: boolean;
  /** Split the weights into about this many shards (0 or 1: a single model.safetensors). */
  shards?: number;
  /** Tied head (default true); false writes a distinct lm_head.weight. */
  tiedHead?: boolean;
  /** Config overrides on top of TINY_CONFIG. */
  config?: Partial<Gpt2Config>;
  /** Also write lm_head.weight equal to wte (a tied head stored explicitly). */
  explicitTiedHead?: boolean;
  /**
   * Token ids of the tokenizer written (default: the config's vocab_size, a consistent directory).
   * Smaller: a padded embedding; larger: a deliberately inconsistent directory. 257..50257.
   */
  tokenizerVocab?: number;
}

/** Smallest vocabulary of a byte-level BPE: 256 byte tokens + `<|endoftext|>`. */
export const MIN_BPE_VOCAB = 257;

function checkBpeVocab(vocab: number): void {
  if (!Number.isInteger(vocab) || vocab < MIN_BPE_VOCAB || vocab > MIN_BPE_VOCAB + GPT2_MERGES) {
    throw new Error(
      `test fixture: a byte-level BPE tokenizer has ${MIN_BPE_VOCAB}..${MIN_BPE_VOCAB + GPT2_MERGES} ids, not ${vocab}; raise the fixture's vocab_size or set tokenizerVocab`,
    );
  }
}

/**
 * Writes the byte-level BPE tokenizer with `vocab` ids into `dir`: GPT-2's own files for 50,257,
 * else GPT-2's BPE truncated to vocab − 257 merges.
 */
export function writeBpeTokenizer(dir: string, vocab: number): void {
  checkBpeVocab(vocab);
  if (vocab === MIN_BPE_VOCAB + GPT2_MERGES) copyTokenizerFiles(bundledGpt2Dir(), dir);
  else writeTruncatedTokenizer(dir, vocab - MIN_BPE_VOCAB);
}

/**
 * Writes a random tiny GPT-2 into `dir` (config.json, safetensors, tokenizer files sized to the
 * vocabulary unless `tokenizerVocab` says otherwise) and returns the fp32 weights that were
 * written (before any fp16/bf16 rounding).
 */
export function writeTinyGpt2(dir: string, opts: TinyGpt2Options = {}): Gpt2Weights {
  const weights = randomGpt2Weights(opts.config, opts.seed ?? 0, { untiedHead: opts.tiedHead === false });
  const tokenizerVocab = opts.tokenizerVocab ?? weights.config.vocab_size;
  checkBpeVocab(tokenizerVocab); // before anything is written
  const dtype = opts.dtype ?? 'F32';
  let toSave = weights;
  if (opts.explicitTiedHead && opts.tiedHead !== false) {
    const tensors = new Map(weights.tensors);
    tensors.set('lm_head.weight', weights.tensors.get('wte.weight')!);
    toSave = { config: weights.config, tensors };
  }
  let shardSizeBytes: number | undefined;
  if (opts.shards && opts.shards > 1) {
    const bytesPer = dtype === 'F32' ? 4 : 2;
    let total = 0;
    for (const t of toSave.tensors.values()) total += t.data.length * bytesPer;
    shardSizeBytes = Math.ceil(total / opts.shards);
  }
  saveGpt2Checkpoint(dir, toSave, { dtype, prefix: opts.prefix ?? false, shardSizeBytes });
  writeBpeTokenizer(dir, tokenizerVocab);
  return weights;
}

const tokenizerDirs = new Map<number, string>();

/**
 * The tokenizer that fits a model of `vocab` rows (default TINY_CONFIG's 300), for tests that
 * pair random weights with a tokenizer in memory: the files are written once per vocabulary and
 * process into a temporary directory. Ids below 256 are GPT-2's byte tokens, as in GPT-2 itself.
 */
export async function tinyTokenizer(vocab = TINY_CONFIG.vocab_size): Promise<Tokenizer> {
  let dir = tokenizerDirs.get(vocab);
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), `sb-tok${vocab}-`));
    writeBpeTokenizer(dir, vocab);
    tokenizerDirs.set(vocab, dir);
  }
  return loadTokenizer(dir);
}
