/** `spinbath env`: the backend in use, SIMD/threads, the WebGPU adapter, the engine of each job, and package versions (--out FILE: the same as JSON). */
import { atomicWriteJson } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import type { EnvArgs } from '../defs/analysis.js';
import { initBackend, printJson, type Io } from '../io.js';

/** Run `spinbath env`. */
export async function runEnv(io: Io, args: EnvArgs): Promise<void> {
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const { backendInfo } = await import('../../backend.js');
  const info = await backendInfo();
  if (args.out !== undefined) atomicWriteJson(args.out, info);
  if (args.json) return printJson(io, info);
  io.out(`backend   ${info.backend}\n`);
  if (info.simd !== null) io.out(`simd      ${info.simd ? 'on' : 'off'}\nthreads   ${info.threads ? 'on' : 'off (one thread in Node)'}\n`);
  const a = info.webgpu;
  if (a) {
    const name = [a.vendor, a.architecture, a.device, a.description].filter((x) => x).join(' / ') || '(unnamed)';
    io.out(`adapter   ${name}${a.fallback ? ' (fallback: software, correct but slow)' : ''}\n`);
    for (const [k, v] of Object.entries(a.limits)) io.out(`  ${k.padEnd(36)} ${v}\n`);
  }
  for (const [job, engine] of Object.entries(info.jobs)) io.out(`job       ${job.padEnd(32)} ${engine}\n`);
  for (const [k, v] of Object.entries(info.versions)) io.out(`${k.padEnd(32)} ${v ?? '(not installed)'}\n`);
}
