/**
 * Tiny random GPT-2 checkpoints for tests: random weights from a seed, written in the Hugging
 * Face layout (config.json + safetensors + the bundled GPT-2 tokenizer files) so every loader
 * path (prefix, dtype, shards, tied/untied head) can be exercised without network access.
 *
 * Weights: matrices N(0, 1/fan_in) (attention is visibly non-uniform), embeddings N(0, 0.1²),
 * LayerNorm gains 1 + N(0, 0.1²), biases N(0, 0.02²): small but nonzero so a dropped bias shows.
 */
import { copyTokenizerFiles, bundledGpt2Dir } from '../../src/model/tokenizer.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import type { WriteDtype } from '../../src/model/safetensors.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from '../../src/model/weights.js';
import { makeRng, normalArray } from '../../src/rng.js';

/** Default tiny config: 2 layers, 4 heads of 4 dims, a 300-token vocabulary, 16 positions. */
export const TINY_CONFIG: Gpt2Config = {
  model_type: 'gpt2',
  vocab_size: 300,
  n_positions: 16,
  n_embd: 16,
  n_layer: 2,
  n_head: 4,
  n_inner: null,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
  tie_word_embeddings: true,
};

export interface RandomWeightOptions {
  /** Add a random lm_head.weight different from wte (default false: tied). */
  untiedHead?: boolean;
}

/** Random weights for `TINY_CONFIG` overridden by `partial`; deterministic in `seed`. */
export function randomGpt2Weights(partial: Partial<Gpt2Config> = {}, seed: number | string = 0, opts: RandomWeightOptions = {}): Gpt2Weights {
  const config: Gpt2Config = { ...TINY_CONFIG, ...partial };
  const rng = makeRng(`tinyGpt2/${seed}`);
  const tensors = new Map<string, HostTensor>();
  const shapes = expectedShapes(config);
  if (opts.untiedHead) shapes.set('lm_head.weight', [config.vocab_size, config.n_embd]);
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (/ln_(1|2|f)\.weight$/.test(name)) {
      data = normalArray(rng, n, 0.1).map((v) => 1 + v);
    } else if (name.endsWith('.bias')) {
      data = normalArray(rng, n, 0.02);
    } else if (name === 'wte.weight' || name === 'wpe.weight') {
      data = normalArray(rng, n, 0.1);
    } else if (name === 'lm_head.weight') {
      data = normalArray(rng, n, 0.1);
    } else {
      data = normalArray(rng, n, 1 / Math.sqrt(shape[0]));
    }
    tensors.set(name, { shape, data });
  }
  return { config: { ...config, tie_word_embeddings: !opts.untiedHead }, tensors };
}

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
