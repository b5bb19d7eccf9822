/** `spinbath env`: the backend in use, SIMD/threads, and package versions. */
import type { Argv } from 'yargs';
import { backendInfo } from '../../backend.js';
import { initBackend, printJson, type GlobalArgs, type Io } from '../io.js';

export function envCommand(io: Io) {
  return {
    command: 'env',
    describe: 'print the tensor backend in use, whether SIMD/threads are on, and package versions',
    builder: (y: Argv) => y,
    handler: async (args: GlobalArgs) => {
      await initBackend(args);
      const info = await backendInfo();
      if (args.json) return printJson(io, info);
      io.out(`backend   ${info.backend}\n`);
      if (info.simd !== null) io.out(`simd      ${info.simd ? 'on' : 'off'}\nthreads   ${info.threads ? 'on' : 'off (one thread in Node)'}\n`);
      for (const [k, v] of Object.entries(info.versions)) io.out(`${k.padEnd(32)} ${v ?? '(not installed)'}\n`);
    },
  };
}
