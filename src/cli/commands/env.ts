/** `spinbath env`: the engine and tensor backend in use, ONNX Runtime's version, threads and execution providers, package versions. */
import type { Argv } from 'yargs';
import { backendInfo } from '../../backend.js';
import type { EngineChoice } from '../../model/engine.js';
import { ortStatus, pickEngine, resolveEngineChoice, resolveThreads } from '../../model/load.js';
import { initBackend, printJson, type GlobalArgs, type Io } from '../io.js';
import { engineOptions, type EngineArgs } from './model-args.js';

export function envCommand(io: Io) {
  return {
    command: 'env',
    describe: 'print the engine (and whether ONNX Runtime loads: version, threads, execution providers), the tensor backend, SIMD/threads and package versions',
    builder: (y: Argv) => engineOptions(y),
    handler: async (args: GlobalArgs & EngineArgs) => {
      await initBackend(args);
      const choice = resolveEngineChoice(args.engine);
      const threads = resolveThreads(args.threads);
      const ort = await ortStatus();
      const engine = await pickEngine({ engine: choice as EngineChoice, probe: async () => ort });
      const info = await backendInfo();
      const engineInfo = {
        choice,
        inference: engine,
        training: 'tfjs',
        ort: ort.ok ? { available: true, version: ort.version, threads, providers: ort.providers } : { available: false, reason: ort.reason },
      };
      if (args.json) return printJson(io, { engine: engineInfo, ...info });
      io.out(`engine    ${engine} for inference (--engine ${choice}), tfjs for training\n`);
      if (ort.ok) io.out(`ort       onnxruntime-node ${ort.version}, ${threads} thread${threads === 1 ? '' : 's'}, execution providers: ${ort.providers.join(', ')}\n`);
      else io.out(`ort       not available: ${ort.reason}\n`);
      io.out(`backend   ${info.backend}\n`);
      if (info.simd !== null) io.out(`simd      ${info.simd ? 'on' : 'off'}\nthreads   ${info.threads ? 'on' : 'off (one thread in Node)'}\n`);
      for (const [k, v] of Object.entries(info.versions)) io.out(`${k.padEnd(32)} ${v ?? '(not installed)'}\n`);
    },
  };
}
