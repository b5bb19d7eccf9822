/** `spinbath env`: the engine and tensor backend in use, ONNX Runtime's version, threads and execution providers, SIMD/threads, the WebGPU adapter, the engine of each job, and package versions (--out FILE: the same as JSON). */
import { atomicWriteJson } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import type { EngineChoice } from '../../model/engine.js';
import type { EnvArgs } from '../defs/analysis.js';
import { initBackend, printJson, type Io } from '../io.js';

/** Run `spinbath env`. */
export async function runEnv(io: Io, args: EnvArgs): Promise<void> {
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const { backendInfo } = await import('../../backend.js');
  const { ortStatus, planEngine, resolveEngineChoice, resolveThreads } = await import('../../model/load.js');
  const choice = resolveEngineChoice(args.engine);
  const threads = resolveThreads(args.threads);
  const ort = await ortStatus();
  const info = await backendInfo();
  const notes: string[] = [];
  const plan = await planEngine({ engine: choice as EngineChoice, backend: info.backend, probe: async () => ort, onNote: (l) => notes.push(l) });
  const engine = plan.engine;
  const eps = plan.executionProviders;
  const engineInfo = {
    choice,
    inference: engine,
    training: 'tfjs',
    executionProviders: eps,
    ort: ort.ok ? { available: true, version: ort.version, threads, providers: ort.providers } : { available: false, reason: ort.reason },
    ...(notes.length > 0 ? { notes } : {}),
  };
  const jobs: Record<string, string> = { ...info.jobs };
  if (engine === 'ort' && eps) {
    const on = `ort on execution providers [${eps.join(', ')}]${eps[0] === 'webgpu' ? ' (ORT WebGPU EP, validation full)' : ''}`;
    jobs['forward (logits, heads, fields)'] = `${on} (onnxruntime-node ${ort.ok ? ort.version : ''}, ${threads} threads); tfjs-${info.backend} for JS hooks`;
    jobs['sample / generate'] = `${on} forward + host score kernel (WASM SIMD)`;
    jobs['lm eval'] = on;
  }
  const report = { engine: engineInfo, ...info, jobs };
  if (args.out !== undefined) atomicWriteJson(args.out, report);
  if (args.json) return printJson(io, report);
  io.out(`engine    ${engine} for inference (--engine ${choice})${eps ? ` on execution providers ${eps.join(', ')}` : ''}, tfjs for training\n`);
  for (const n of notes) io.out(`          ${n}\n`);
  if (ort.ok)
    io.out(`ort       onnxruntime-node ${ort.version}, ${threads} thread${threads === 1 ? '' : 's'}, execution providers: ${ort.providers.join(', ')}\n`);
  else io.out(`ort       not available: ${ort.reason}\n`);
  io.out(`backend   ${info.backend}\n`);
  if (info.simd !== null) io.out(`simd      ${info.simd ? 'on' : 'off'}\nthreads   ${info.threads ? 'on' : 'off (one thread in Node)'}\n`);
  const a = info.webgpu;
  if (a) {
    const name = [a.vendor, a.architecture, a.device, a.description].filter((x) => x).join(' / ') || '(unnamed)';
    io.out(`adapter   ${name}${a.fallback ? ' (fallback: software, correct but slow)' : ''}\n`);
    for (const [k, v] of Object.entries(a.limits)) io.out(`  ${k.padEnd(36)} ${v}\n`);
  }
  for (const [job, e] of Object.entries(jobs)) io.out(`job       ${job.padEnd(32)} ${e}\n`);
  for (const [k, v] of Object.entries(info.versions)) io.out(`${k.padEnd(32)} ${v ?? '(not installed)'}\n`);
}
