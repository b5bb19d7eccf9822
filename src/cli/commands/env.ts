/** `spinbath env`: the backend in use, SIMD/threads, the WebGPU adapter, the engine of each job, and package versions. */
import type { Argv } from 'yargs';
import { backendInfo } from '../../backend.js';
import { initBackend, printJson, type GlobalArgs, type Io } from '../io.js';

export function envCommand(io: Io) {
  return {
    command: 'env',
    describe: 'print the tensor backend in use, whether SIMD/threads are on, the GPU adapter (webgpu), the engine of each job, and package versions',
    builder: (y: Argv) => y,
    handler: async (args: GlobalArgs) => {
      await initBackend(args);
      const info = await backendInfo();
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
    },
  };
}
