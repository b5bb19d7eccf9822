/**
 * The child process of test/gpu/ort-webgpu.test.ts: the ORT engine on one set of execution
 * providers, in its own process (a crash inside ORT's WebGPU EP ends this process, never the test
 * runner):
 *
 *   tsx test/gpu/ort-worker.ts EP OUT     EP = cpu (['cpu']) or webgpu (['webgpu', 'cpu'])
 *   tsx test/gpu/ort-worker.ts probe OUT  the WebGPU EP's probe and a forward on ['webgpu', 'cpu'] → OUT/probe.json
 *
 * For a tiny random GPT-2 ('tiny.') and the embedded brown-small ('brown.'), on the same seeded
 * ids [2, P]: the logits and every hook output of a full forward; KV-cached decoding (a prefill of
 * P − 3 positions into an empty cache, then 3 one-token steps, the last with hooks); a zero-head
 * ablation; the per-token loss; and 8 greedy tokens from a cached decode. With EP cpu, the tfjs
 * engine's logits and hooks on wasm too ('tfjs.' prefix). Writes OUT/tensors.safetensors and
 * OUT/run.json (greedy tokens, timings).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readData, useBackend } from '../../src/backend.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { hookNames } from '../../src/model/hooks.js';
import { zeroAblateHeads } from '../../src/model/interventions.js';
import { createOrtGpt2, ortWebgpuAvailable } from '../../src/model/ort/index.js';
import { randomGpt2Weights } from '../../src/model/randomWeights.js';
import { writeSafetensors } from '../../src/model/safetensors.js';
import type { Gpt2Weights, HostTensor } from '../../src/model/weights.js';
import { makeRng } from '../../src/rng.js';
import { DECODE_STEPS, GREEDY_TOKENS } from './common.js';

const [ep, out] = process.argv.slice(2);
if (!['cpu', 'webgpu', 'probe'].includes(ep) || !out) {
  console.error('usage: tsx test/gpu/ort-worker.ts cpu|webgpu|probe OUT');
  process.exit(2);
}
if (ep === 'probe') {
  // What the WebGPU EP's probe answers here, and what a session on ['webgpu', 'cpu'] does (run with no adapter: VK_ICD_FILENAMES=/nonexistent)
  const probe = await ortWebgpuAvailable();
  const m = await createOrtGpt2(randomGpt2Weights(undefined, 7), { executionProviders: ['webgpu', 'cpu'], threads: 1 });
  const forward = await m.forwardAsync([[1, 2, 3]]).then(
    () => null,
    (e: unknown) => ({ code: (e as { code?: string }).code, message: (e as Error).message }),
  );
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'probe.json'), JSON.stringify({ probe, forward }));
  process.exit(0);
}
await useBackend('wasm');
mkdirSync(out, { recursive: true });
const tensors = new Map<string, HostTensor>();
const put = async (name: string, t: tf.Tensor) => tensors.set(name, { shape: [...t.shape], data: Float32Array.from(await readData(t)) });
const run: Record<string, unknown> = { ep };

async function one(key: string, weights: Gpt2Weights, P: number): Promise<void> {
  const m = await createOrtGpt2(weights, { executionProviders: ep === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'], threads: 1 });
  const rng = makeRng(`ort-gpu-${key}`);
  const ids = Array.from({ length: 2 }, () => Array.from({ length: P }, () => rng.int(m.vocab)));
  const names = hookNames(m.nLayer);
  // full forward, every hook (the first call compiles: timed apart)
  let t0 = performance.now();
  const r = await m.runWithCacheAsync(ids, { names });
  const firstMs = performance.now() - t0;
  await put(`${key}.logits`, r.logits);
  for (const [n, t] of r.activations) await put(`${key}.hook.${n}`, t);
  tf.dispose([r.logits, ...r.activations.values()]);
  (await m.forwardAsync(ids)).dispose();
  t0 = performance.now();
  (await m.forwardAsync(ids)).dispose();
  const forwardMs = performance.now() - t0;
  // KV-cached decoding: prefill P − 3 positions into an empty cache (the graph without past inputs), then one token at a time
  const cache = m.newCache();
  const pre = P - DECODE_STEPS;
  await put(
    `${key}.decode.0`,
    await m.lastLogitsAsync(
      ids.map((row) => row.slice(0, pre)),
      { cache },
    ),
  );
  for (let s = 1; s < DECODE_STEPS; s++)
    await put(
      `${key}.decode.${s}`,
      await m.lastLogitsAsync(
        ids.map((row) => [row[pre + s - 1]]),
        { cache },
      ),
    );
  const hooked = ['blocks.0.attn.hook_pattern', 'blocks.0.attn.hook_k', `blocks.${m.nLayer - 1}.attn.hook_z`];
  const last = await m.runWithCacheAsync(
    ids.map((row) => [row[P - 1]]),
    { cache, names: hooked },
  );
  await put(`${key}.decode.${DECODE_STEPS}`, last.logits);
  for (const [n, t] of last.activations) await put(`${key}.decodeHook.${n}`, t);
  // a zero-head ablation (a graph with intervention inputs) and the per-token loss
  const ablated = await m.runWithHooksAsync(ids, { hooks: zeroAblateHeads([{ layer: 0, head: 1 }]) });
  await put(`${key}.ablated`, ablated);
  const targets = ids.flatMap((row) => row.slice(1).concat([0]));
  tensors.set(`${key}.nll`, { shape: [targets.length], data: await m.tokenNllAsync(ids, targets) });
  // greedy decoding from the first row's first half
  const greedyCache = m.newCache();
  let next = [ids[0].slice(0, Math.floor(P / 2))];
  const greedy: number[] = [];
  for (let i = 0; i < GREEDY_TOKENS; i++) {
    const logits = await m.lastLogitsAsync(next, { cache: greedyCache }); // [1, V]
    const v = await readData(logits);
    logits.dispose();
    let best = 0;
    for (let j = 1; j < v.length; j++) if (v[j] > v[best]) best = j;
    greedy.push(best);
    next = [[best]];
  }
  run[key] = { greedy, firstMs, forwardMs, shape: [ids.length, P] };
  m.dispose();
  if (ep === 'cpu') {
    const tfjs = Gpt2Model.fromWeights(weights);
    const ref = tfjs.runWithCache(ids, { names });
    await put(`tfjs.${key}.logits`, ref.logits);
    for (const [n, t] of ref.activations) await put(`tfjs.${key}.hook.${n}`, t);
    tf.dispose([ref.logits, ...ref.activations.values()]);
    tfjs.dispose();
  }
}

await one('tiny', randomGpt2Weights(undefined, 7), 12);
await one('brown', await loadGpt2Weights('models/brown-small'), 24);
writeSafetensors(join(out, 'tensors.safetensors'), tensors, { dtype: 'F32' });
writeFileSync(join(out, 'run.json'), JSON.stringify(run));
process.exit(0);
