/**
 * Training-speed benchmark for candidate LM sizes on the active backend (default wasm):
 * ms per update, tokens/s, model FLOP/s (nanoGPT's count: 6·params + 12·n_layer·n_embd·seq_len
 * per token, position embeddings excluded), and the backend's own matmul GFLOP/s for reference.
 *
 *   npx tsx training/lm/bench.ts [--backend wasm] [L,H,d,ctx,K,batch ...]     (K = merges or 'full')
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../../src/backend.js';
import { ensureGradients } from '../../src/core/gradients.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { parseLmConfig } from '../../src/lm/config.js';
import { lmTokenizer } from '../../src/lm/data.js';
import { tokenNll } from '../../src/lm/loss.js';
import { AdamW } from '../../src/lm/optim.js';
import { gpt2ConfigFor, initWeights, trainStep } from '../../src/lm/train.js';
import { makeRng } from '../../src/rng.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
const backend = bi >= 0 ? args.splice(bi, 2)[1] : 'wasm';
await useBackend(backend);
await ensureGradients();

function matmulGflops(n: number, k: number, m: number): number {
  const a = tf.randomNormal([n, k]);
  const b = tf.randomNormal([k, m]);
  tf.matMul(a, b).dispose();
  const reps = 5;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) tf.matMul(a, b).dispose();
  const s = (performance.now() - t0) / 1000 / reps;
  tf.dispose([a, b]);
  return (2 * n * k * m) / s / 1e9;
}

const candidates = args.length ? args : ['4,4,128,128,8000,16', '4,4,128,128,2000,16', '4,4,128,128,full,16'];
console.log(`backend ${tf.getBackend()}; matmul GFLOP/s: 1024³ ${matmulGflops(1024, 1024, 1024).toFixed(1)}, [2048,128]x[128,512] ${matmulGflops(2048, 128, 512).toFixed(1)}, [2048,128]x[128,8257] ${matmulGflops(2048, 128, 8257).toFixed(1)}`);
for (const c of candidates) {
  const [L, H, d, ctx, K, B] = c.split(',');
  const config = parseLmConfig({
    model: { n_layer: +L, n_head: +H, n_embd: +d, n_positions: +ctx, merges: K === 'full' ? null : +K },
    training: { batch_size: +B, seq_len: +ctx, steps: 100, lr: 1e-3, warmup_steps: 1, min_lr: 1e-4, weight_decay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, grad_clip: 1, eval_every: 10, eval_batches: 1, checkpoint_every: 10, seed: 0 },
  }, c);
  const tok = lmTokenizer(config.model.merges);
  const g = gpt2ConfigFor(config, tok.vocabSize, tok.eotId);
  const model = Gpt2Model.fromWeights(initWeights(g, 0), { trainable: true });
  const opt = new AdamW(model.params() as Map<string, tf.Variable>, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, gradClip: 1 });
  const rng = makeRng(1);
  const batch = () => {
    const x = Array.from({ length: +B }, () => Array.from({ length: +ctx }, () => rng.int(tok.vocabSize)));
    return { x, y: Int32Array.from(x.flat().map((v) => (v * 7 + 1) % tok.vocabSize)) };
  };
  let params = 0;
  for (const [n, p] of model.params()) if (n !== 'pos_embed.W_pos') params += p.size;
  const tokens = +B * +ctx;
  const flopsPerToken = 6 * params + 12 * +L * +d * +ctx;
  trainStep(model, opt, batch(), 1e-3);
  trainStep(model, opt, batch(), 1e-3);
  const n0 = tf.memory().numTensors;
  const reps = 4;
  let t0 = performance.now();
  for (let i = 0; i < reps; i++) trainStep(model, opt, batch(), 1e-3);
  const stepS = (performance.now() - t0) / 1000 / reps;
  const leak = tf.memory().numTensors - n0;
  const b = batch();
  t0 = performance.now();
  for (let i = 0; i < reps; i++) tf.tidy(() => tokenNll(tf.reshape(model.forward(b.x), [-1, model.vocab]), tf.tensor1d(b.y, 'int32'))).dataSync();
  const fwdS = (performance.now() - t0) / 1000 / reps;
  console.log(
    `L${L} H${H} d${d} ctx${ctx} K=${K} (vocab ${tok.vocabSize}) batch ${B}: ${(params / 1e6).toFixed(2)}M params; ` +
      `update ${(stepS * 1000).toFixed(0)} ms = ${(tokens / stepS).toFixed(0)} tok/s, ${((flopsPerToken * tokens) / stepS / 1e9).toFixed(2)} model GFLOP/s; ` +
      `forward-only ${(tokens / fwdS).toFixed(0)} tok/s; tensor leak ${leak}`,
  );
  opt.dispose();
  model.dispose();
}
