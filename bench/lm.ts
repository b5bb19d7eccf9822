/**
 * Section `lm`: language-model training and evaluation throughput on the active backend, for the
 * embedded model's config (configs/lm/brown-small.json) with random tokens: tokens/s of a full
 * AdamW update, model FLOP/s (nanoGPT's count: 6·params + 12·n_layer·n_embd·seq_len per token,
 * position embeddings excluded) as a fraction of the backend's matmul, and forward-only
 * evaluation tokens/s (logits + per-token NLL). `measureLm` also serves bench/lm-candidates.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { ensureGradients } from '../src/core/gradients.js';
import { loadLmConfig, type LmConfig } from '../src/lm/config.js';
import { lmTokenizer } from '../src/lm/data.js';
import { tokenNll } from '../src/lm/loss.js';
import { AdamW } from '../src/lm/optim.js';
import { gpt2ConfigFor, initWeights, trainStep } from '../src/lm/train.js';
import { Gpt2Model } from '../src/model/gpt2.js';
import { packageRoot } from '../src/model/tokenizer.js';
import { makeRng } from '../src/rng.js';
import { target, type BenchContext, type Section } from './common.js';
import { matmulFigures } from './matmul.js';

export interface LmFigures {
  params: number;
  vocab: number;
  tokensPerStep: number;
  stepMs: number;
  trainTokensPerS: number;
  modelGflops: number;
  evalTokensPerS: number;
  tensorLeak: number;
}

/** Time `reps` AdamW updates and `reps` evaluation forwards of a fresh model built from `config`. */
export async function measureLm(config: LmConfig, reps = 4): Promise<LmFigures> {
  await ensureGradients();
  const { batch_size: B, seq_len: T } = config.training;
  const tok = lmTokenizer(config.model.merges);
  const g = gpt2ConfigFor(config, tok.vocabSize, tok.eotId);
  const model = Gpt2Model.fromWeights(initWeights(g, 0), { trainable: true });
  const opt = new AdamW(model.storedParams() as Map<string, tf.Variable>, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, gradClip: 1 });
  try {
    const rng = makeRng('bench-lm');
    const batch = () => {
      const x = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(tok.vocabSize)));
      return { x, y: Int32Array.from(x.flat().map((v) => (v * 7 + 1) % tok.vocabSize)) };
    };
    let params = 0;
    for (const [n, p] of model.storedParams()) if (n !== 'pos_embed.W_pos') params += p.size;
    const tokens = B * T;
    const flopsPerToken = 6 * params + 12 * config.model.n_layer * config.model.n_embd * T;
    // each step read back (its loss), as the trainer does at its read boundaries
    const step = () => {
      const r = trainStep(model, opt, batch(), 1e-3);
      r.loss.dataSync();
      tf.dispose([r.loss, r.gradNorm]);
    };
    step(); // warm-up: kernels, packed weights
    step();
    const n0 = tf.memory().numTensors;
    let t0 = performance.now();
    for (let i = 0; i < reps; i++) step();
    const stepS = (performance.now() - t0) / 1000 / reps;
    const tensorLeak = tf.memory().numTensors - n0;
    const b = batch();
    t0 = performance.now();
    for (let i = 0; i < reps; i++) tf.tidy(() => tokenNll(tf.reshape(model.forward(b.x), [-1, model.vocab]), tf.tensor1d(b.y, 'int32'))).dataSync();
    const evalS = (performance.now() - t0) / 1000 / reps;
    return {
      params,
      vocab: tok.vocabSize,
      tokensPerStep: tokens,
      stepMs: stepS * 1000,
      trainTokensPerS: tokens / stepS,
      modelGflops: (flopsPerToken * tokens) / stepS / 1e9,
      evalTokensPerS: tokens / evalS,
      tensorLeak,
    };
  } finally {
    opt.dispose();
    model.dispose();
  }
}

export const lmSection: Section = {
  name: 'lm',
  description: 'language-model training and evaluation throughput, embedded-model config (brown-small)',
  async run(ctx: BenchContext) {
    const config = loadLmConfig(join(packageRoot(), 'configs', 'lm', 'brown-small.json'));
    const f = await measureLm(config);
    const ref = (await matmulFigures(ctx)).reference;
    const frac = f.modelGflops / ref;
    return {
      rows: [
        {
          name: `training, ${(f.params / 1e6).toFixed(2)} M params, vocab ${f.vocab}, ${f.tokensPerStep} tokens/step`,
          value: f.trainTokensPerS,
          unit: 'tokens/s',
          note: `${f.stepMs.toFixed(0)} ms per AdamW update`,
        },
        {
          name: 'training model throughput',
          value: f.modelGflops,
          unit: 'GFLOP/s',
          note: `${(100 * frac).toFixed(0)}% of the backend matmul (${ref.toFixed(1)} GFLOP/s)`,
        },
        { name: 'evaluation (forward + NLL)', value: f.evalTokensPerS, unit: 'tokens/s' },
        { name: 'tensor leak over the timed updates', value: f.tensorLeak, unit: 'tensors' },
      ],
      targets: [target('no tensor growth during training', f.tensorLeak, 'tensors', 'max', 0)],
      data: { ...f },
    };
  },
};
