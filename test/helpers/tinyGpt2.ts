/**
 * Tiny random GPT-2 checkpoints for tests: random weights from a seed, written in the Hugging
 * Face layout (config.json + safetensors + the bundled GPT-2 tokenizer files) so every loader
 * path (prefix, dtype, shards, tied/untied head) can be exercised without network access.
 * The random weights themselves are src/model/randomWeights.ts (shared with bench/).
 */
import { copyTokenizerFiles, bundledGpt2Dir } from '../../src/model/tokenizer.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import type { WriteDtype } from '../../src/model/safetensors.js';
import { randomGpt2Weights } from '../../src/model/randomWeights.js';
import type { Gpt2Config, Gpt2Weights } from '../../src/model/weights.js';

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
}

/**
 * Writes a random tiny GPT-2 into `dir` (config.json, safetensors, tokenizer files) and returns
 * the fp32 weights that were written (before any fp16/bf16 rounding).
 */
export function writeTinyGpt2(dir: string, opts: TinyGpt2Options = {}): Gpt2Weights {
  const weights = randomGpt2Weights(opts.config, opts.seed ?? 0, { untiedHead: opts.tiedHead === false });
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
  copyTokenizerFiles(bundledGpt2Dir(), dir);
  return weights;
}
