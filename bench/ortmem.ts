/**
 * Section `ortmem`: peak process RSS of the ort engine on GPT-2 small (random weights, 124 M
 * parameters, 475 MiB in fp32): generate the host weights, build the engine (the weights are
 * handed to ONNX Runtime in place), run a 128-token forward and 32 steps of batch-8 KV decoding.
 * Target (issue 10): peak RSS ≤ 2× the fp32 weight bytes.
 *
 * Measured in a lean child process (this file as a script: Node, the tsx loader, tfjs-wasm, the
 * loader and ORT, nothing else), peak = the kernel's high-water mark (process.resourceUsage().maxRSS),
 * so the figure is the engine's own and not the bench's other imports (vega, the Brown corpus, …).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/backend.js';
import { createLanguageModel, ortStatus } from '../src/model/load.js';
import { randomGpt2Weights } from '../src/model/randomWeights.js';
import { GPT2_SMALL_SEED, gpt2SmallConfig, MB, target, type Section } from './common.js';
import { benchIds, decode } from './forward.js';

interface ChildResult {
  peak: number;
  base: number;
  weightBytes: number;
  firstMs: number;
}

/** The measurement itself (run in the child). */
async function measure(): Promise<ChildResult> {
  await useBackend('wasm');
  const base = process.memoryUsage.rss();
  const weights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
  let weightBytes = 0;
  for (const t of weights.tensors.values()) weightBytes += 4 * t.data.length;
  const t0 = performance.now();
  const m = await createLanguageModel(weights, { engine: 'ort' });
  let firstMs = 0;
  try {
    const z = await m.forwardAsync(benchIds(1, 128, m.vocab)); // [1, 128, vocab]
    z.dataSync();
    z.dispose();
    firstMs = performance.now() - t0;
    await decode(m, 8, 32, 32);
  } finally {
    m.dispose();
  }
  return { peak: process.resourceUsage().maxRSS * 1024, base, weightBytes, firstMs };
}

async function inChild(): Promise<ChildResult> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`ortmem child exited with code ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
}

export const ortMemSection: Section = {
  name: 'ortmem',
  description: 'ort engine on GPT-2 small: peak process RSS vs the fp32 weight bytes (lean child process)',
  async run(ctx) {
    const status = await ortStatus();
    if (!status.ok) return { rows: [{ name: 'ort engine', value: NaN, unit: '', note: `not available: ${status.reason}` }] };
    const r = await inChild();
    ctx.log(`ort GPT-2 small: peak RSS ${(r.peak / MB).toFixed(0)} MiB, weights ${(r.weightBytes / MB).toFixed(0)} MiB`);
    return {
      rows: [
        {
          name: 'peak process RSS (ort, GPT-2 small)',
          value: r.peak / MB,
          unit: 'MiB',
          note: `${(r.peak / r.weightBytes).toFixed(2)}× the fp32 weights (${(r.weightBytes / MB).toFixed(0)} MiB); ${(r.base / MB).toFixed(0)} MiB before the weights`,
        },
        { name: 'engine build + first 128-token forward', value: r.firstMs / 1000, unit: 's', note: 'graph, session compile, one forward' },
      ],
      targets: [target('ort peak RSS / fp32 weight bytes, GPT-2 small', r.peak / r.weightBytes, '×', 'max', 2)],
      data: { peak_rss_bytes: r.peak, base_rss_bytes: r.base, weight_bytes: r.weightBytes, first_forward_ms: r.firstMs },
    };
  },
};

if (process.argv.includes('--child') && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(JSON.stringify(await measure()) + '\n');
}
