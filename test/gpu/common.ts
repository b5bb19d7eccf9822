/**
 * What the GPU test files share: whether a WebGPU adapter exists (probed in a child process) and
 * whether CI is set (then a missing adapter is a failure, not a skip), and the sizes the ORT
 * worker (test/gpu/ort-worker.ts) and its test agree on.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** CI is set (and not 'false' / '0'). */
export const ci = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * Whether Dawn (the `webgpu` package) offers an adapter here; probed in a child process, awaited
 * (a synchronous probe blocks the vitest worker, which then misses its RPC deadlines under load).
 */
export async function adapterPresent(): Promise<boolean> {
  const probe = `
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const a = await create([]).requestAdapter();
    process.exit(a ? 0 : 1);`;
  return promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], { timeout: 60_000 }).then(
    () => true,
    () => false,
  );
}

/** One-token decoding steps after the prefill, and greedy tokens generated, in test/gpu/ort-worker.ts. */
export const DECODE_STEPS = 3;
export const GREEDY_TOKENS = 8;
