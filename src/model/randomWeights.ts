/**
 * Random GPT-2 weights from a seed, for tests, benchmarks and experiments without a checkpoint.
 *
 * Weights: matrices N(0, 1/fan_in) (attention is visibly non-uniform), embeddings N(0, 0.1²),
 * LayerNorm gains 1 + N(0, 0.1²), biases N(0, 0.02²): small but nonzero so a dropped bias shows.
 */
import { makeRng, normalArray } from '../rng.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from './weights.js';

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

/** Options of {@link randomGpt2Weights}. */
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
