/**
 * The figures of scripts/gpu-check.sh as one JSON object on stdout: bench/gpu.ts compareGpu
 * (score training of configs/score/gpt2-small-gpu.json at widths 64/512/1024 and a GPT-2-small
 * forward, wasm then webgpu, same process). Progress on stderr.
 *
 *   npx tsx scripts/gpu-bench.ts [STEPS]     timed training steps per width (default 5)
 */
import { compareGpu } from '../bench/gpu.js';

const steps = Number(process.argv[2] ?? 5);
if (!Number.isInteger(steps) || steps < 1) {
  process.stderr.write(`gpu-bench: STEPS must be a positive integer, got '${process.argv[2]}'\n`);
  process.exit(2);
}
const c = await compareGpu(steps, (m) => process.stderr.write(`  · ${m}\n`));
process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), steps, ...c }, null, 2)}\n`);
