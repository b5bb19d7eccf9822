/**
 * Training-speed comparison of candidate LM sizes on the active backend (default wasm), with the
 * measurement of bench/lm.ts (`npm run bench -- --only lm` measures the embedded config).
 *
 *   npx tsx bench/lm-candidates.ts [--backend wasm] [L,H,d,ctx,K,batch ...]     (K = merges or 'full')
 */
import { useBackend } from '../src/backend.js';
import { parseLmConfig } from '../src/lm/config.js';
import { measureLm } from './lm.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
const backend = bi >= 0 ? args.splice(bi, 2)[1] : 'wasm';
await useBackend(backend);

const candidates = args.length ? args : ['4,4,128,128,8000,16', '4,4,128,128,2000,16', '4,4,128,128,full,16'];
for (const c of candidates) {
  const [L, H, d, ctx, K, B] = c.split(',');
  const config = parseLmConfig(
    {
      model: { n_layer: +L, n_head: +H, n_embd: +d, n_positions: +ctx, merges: K === 'full' ? null : +K },
      training: {
        batch_size: +B,
        seq_len: +ctx,
        steps: 100,
        lr: 1e-3,
        warmup_steps: 1,
        min_lr: 1e-4,
        weight_decay: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        grad_clip: 1,
        eval_every: 10,
        eval_batches: 1,
        checkpoint_every: 10,
        seed: 0,
      },
    },
    c,
  );
  const f = await measureLm(config);
  console.log(
    `L${L} H${H} d${d} ctx${ctx} K=${K} (vocab ${f.vocab}) batch ${B}: ${(f.params / 1e6).toFixed(2)}M params; ` +
      `update ${f.stepMs.toFixed(0)} ms = ${f.trainTokensPerS.toFixed(0)} tok/s, ${f.modelGflops.toFixed(2)} model GFLOP/s; ` +
      `forward-only ${f.evalTokensPerS.toFixed(0)} tok/s; tensor leak ${f.tensorLeak}`,
  );
}
