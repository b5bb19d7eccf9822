/**
 * The figures of scripts/gpu-check.sh as one JSON object on stdout: bench/gpu.ts compareGpu
 * (score training of configs/score/gpt2-small-gpu.json at widths 64/512/1024 and a GPT-2-small
 * forward, wasm then webgpu, same process) and `ortForward`: the ORT engine's last-position
 * logits of the same GPT-2-small shape on its WebGPU EP vs its CPU EP (bench/gpu-ort.ts).
 * Progress on stderr.
 *
 *   npx tsx bench/gpu-bench.ts [STEPS [BATCH [LENGTHS]]]
 *     STEPS    timed training steps per width (default 5)
 *     BATCH    training batch (default: the config's, 1024)
 *     LENGTHS  forward lengths, comma-separated (default 128,1024)
 *   GPU_BENCH_OUT=FILE also writes the JSON to FILE (Dawn prints validation messages on stdout).
 */
import { compareGpu, FORWARD_LENGTHS } from './gpu.js';
import { compareOrtGpu } from './gpu-ort.js';
import { gpt2SmallConfig, GPT2_SMALL_SEED } from './common.js';
import { useBackend } from '../src/backend.js';
import { atomicWrite } from '../src/io/atomic.js';
import { randomGpt2Weights } from '../src/model/randomWeights.js';

const [a, b, c] = process.argv.slice(2);
const positive = (v: string | undefined, what: string, dflt: number | undefined): number | undefined => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`gpu-bench: ${what} must be a positive integer, got '${v}'\n`);
    process.exit(2);
  }
  return n;
};
const steps = positive(a, 'STEPS', 5)!;
const batch = positive(b, 'BATCH', undefined);
const lengths = c === undefined ? undefined : c.split(',').map((x) => positive(x, 'each of LENGTHS', 1)!);
const log = (m: string) => process.stderr.write(`  · ${m}\n`);
const r = await compareGpu({ steps, batch, lengths }, log);
// The ORT engine, webgpu EP vs CPU EP, on the same GPT-2-small shape (tfjs back on wasm: ORT's outputs land there).
await useBackend('wasm');
const ortWeights = randomGpt2Weights(gpt2SmallConfig(), GPT2_SMALL_SEED);
const ortForward = await compareOrtGpu(
  'gpt2-small shape (random weights)',
  ortWeights,
  lengths ?? FORWARD_LENGTHS,
  { reps: 2, fallback: r.adapter?.fallback ?? null },
  log,
);
const json = `${JSON.stringify({ at: new Date().toISOString(), steps, batch: batch ?? 'config', ...r, ortForward }, null, 2)}\n`;
if (process.env.GPU_BENCH_OUT) atomicWrite(process.env.GPU_BENCH_OUT, json);
process.stdout.write(json);
