/**
 * The engine choice (--engine auto|ort|tfjs, SPINBATH_ENGINE, --threads) and the same commands on
 * both engines: `logits --full --json` against each other (1e-4 relative) and against an
 * independent float64 forward (1e-3) on plain, `transformer.`-prefixed and fp16 checkpoints; greedy
 * `generate` gives the same tokens; `lm eval` the same perplexity (1e-4 relative) and reports its
 * engine and tokens/s; `heads --json` the same theory/actual values (1e-5).
 * The ORT half runs where onnxruntime-node loads (it ships its binary in the npm package).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { isUserError } from '../../src/errors.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Hook } from '../../src/model/hooks.js';
import { zeroAblateHeads } from '../../src/model/interventions.js';
import {
  embeddedModelDir,
  loadModel,
  modelForHooks,
  ortStatus,
  pickEngine,
  planEngine,
  resolveEngineChoice,
  resolveThreads,
  type OrtStatus,
  type OrtWebgpuStatus,
} from '../../src/model/load.js';
import { runCli } from '../helpers/cli.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';
import { naiveForward } from '../model/gpt2-fixtures.js';
import { TEST_CACHE } from '../lm/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sb-engines-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const B = ['--backend', 'wasm', '--quiet'];
const ort: OrtStatus = await ortStatus();

/** max |a − b| / max(1, |b|) over the entries. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

describe('engine choice', () => {
  const ok = async (): Promise<OrtStatus> => ({ ok: true, version: '1.x', providers: ['cpu'] });
  const broken = async (): Promise<OrtStatus> => ({ ok: false, reason: 'libonnxruntime.so: cannot open shared object file' });
  const saved = { engine: process.env.SPINBATH_ENGINE, threads: process.env.SPINBATH_THREADS };
  afterEach(() => {
    for (const [k, v] of [
      ['SPINBATH_ENGINE', saved.engine],
      ['SPINBATH_THREADS', saved.threads],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('auto = ort for inference, tfjs for training; tfjs never probes ORT', async () => {
    let probes = 0;
    const counting = async () => (probes++, ok());
    expect(await pickEngine({ engine: 'auto', probe: counting })).toBe('ort');
    expect(await pickEngine({ engine: 'auto', purpose: 'training', probe: counting })).toBe('tfjs');
    expect(await pickEngine({ engine: 'tfjs', probe: counting })).toBe('tfjs');
    expect(await pickEngine({ engine: 'ort', probe: counting })).toBe('ort');
    expect(probes).toBe(2);
  });

  it('ORT failing to load: --engine ort is a one-line UserError; auto falls back to tfjs with one note naming the reason', async () => {
    const e = await pickEngine({ engine: 'ort', probe: broken }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isUserError(e)).toBe(true);
    expect((e as Error).message).toMatch(
      /^--engine ort: ONNX Runtime cannot load here \(libonnxruntime\.so: cannot open shared object file\); use --engine tfjs$/,
    );
    const notes: string[] = [];
    expect(await pickEngine({ engine: 'auto', probe: broken, onNote: (l) => notes.push(l) })).toBe('tfjs');
    expect(notes).toEqual(['note: ONNX Runtime cannot load (libonnxruntime.so: cannot open shared object file); using the tfjs engine']);
  });

  it('the webgpu backend puts ort on [webgpu, cpu]; without the WebGPU EP: --engine ort is one line, auto keeps ort on the CPU with a note', async () => {
    let gpuProbes = 0;
    const gpuOk = async () => (gpuProbes++, { ok: true as const });
    const reason = "ORT's WebGPU execution provider cannot start: Failed to get a WebGPU adapter: No supported adapters";
    const gpuBroken = async () => (gpuProbes++, { ok: false as const, reason });
    const plan = (engine: 'auto' | 'ort' | 'tfjs', backend: string, webgpuProbe: () => Promise<OrtWebgpuStatus> = gpuOk, onNote?: (l: string) => void) =>
      planEngine({ engine, backend, probe: ok, webgpuProbe, onNote });
    expect(await plan('auto', 'webgpu')).toEqual({ engine: 'ort', executionProviders: ['webgpu', 'cpu'] });
    expect(await plan('ort', 'webgpu')).toEqual({ engine: 'ort', executionProviders: ['webgpu', 'cpu'] });
    expect(await plan('tfjs', 'webgpu')).toEqual({ engine: 'tfjs', executionProviders: null });
    for (const b of ['wasm', 'cpu', 'tensorflow']) expect(await plan('auto', b)).toEqual({ engine: 'ort', executionProviders: ['cpu'] });
    expect(await planEngine({ engine: 'auto', backend: 'webgpu', purpose: 'training', probe: ok, webgpuProbe: gpuOk })).toEqual({
      engine: 'tfjs',
      executionProviders: null,
    });
    expect(gpuProbes).toBe(2); // only ort on webgpu probes the EP
    const e = await plan('ort', 'webgpu', gpuBroken).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isUserError(e) && (e as { code: string }).code).toBe('E_BACKEND');
    expect((e as Error).message).toBe(
      `--engine ort --backend webgpu: ${reason}; use --backend wasm (ORT on the CPU) or --engine tfjs (the tfjs-webgpu forward)`,
    );
    const notes: string[] = [];
    expect(await plan('auto', 'webgpu', gpuBroken, (l) => notes.push(l))).toEqual({ engine: 'ort', executionProviders: ['cpu'] });
    expect(notes).toEqual([`note: ${reason}; the ort engine runs on the CPU`]);
  });

  it('SPINBATH_ENGINE and SPINBATH_THREADS are the defaults; bad values are one-line errors', async () => {
    delete process.env.SPINBATH_ENGINE;
    expect(resolveEngineChoice()).toBe('auto');
    process.env.SPINBATH_ENGINE = 'tfjs';
    expect(resolveEngineChoice()).toBe('tfjs');
    expect(resolveEngineChoice('ort')).toBe('ort');
    expect(await pickEngine({ probe: ok })).toBe('tfjs');
    process.env.SPINBATH_ENGINE = 'onnx';
    expect(() => resolveEngineChoice()).toThrow(/^unknown engine 'onnx'; choose one of auto, ort, tfjs \(--engine or SPINBATH_ENGINE\)$/);
    process.env.SPINBATH_THREADS = '3';
    expect(resolveThreads()).toBe(3);
    expect(resolveThreads(5)).toBe(5);
    process.env.SPINBATH_THREADS = 'many';
    expect(() => resolveThreads()).toThrow(/--threads must be a positive integer/);
    expect(() => resolveThreads(0)).toThrow(/--threads must be a positive integer/);
  });

  it('the CLI rejects a bad --engine / --threads in one line, exit 2, nothing on stdout', async () => {
    for (const bad of [
      ['--engine', 'onnx'],
      ['--threads', '0'],
      ['--threads', '1.5'],
    ]) {
      const r = await runCli(['logits', '--ids', '1,2', ...bad, ...B]);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('spinbath env reports the engine, ONNX Runtime version, threads and execution providers', async () => {
    const r = await runCli(['env', '--json', '--threads', '2', ...B]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.engine.choice).toBe(process.env.SPINBATH_ENGINE ?? 'auto');
    expect(j.engine.training).toBe('tfjs');
    expect(j.engine.executionProviders).toEqual(j.engine.inference === 'ort' ? ['cpu'] : null); // wasm: ORT on its CPU provider
    if (ort.ok) {
      expect(j.engine.ort).toEqual({ available: true, version: ort.version, threads: 2, providers: ort.providers });
      expect(ort.providers).toContain('cpu');
    } else expect(j.engine.ort.available).toBe(false);
    const t = await runCli(['env', '--engine', 'tfjs', ...B]);
    expect(t.stdout).toMatch(/^engine {4}tfjs for inference \(--engine tfjs\), tfjs for training$/m);
  });
});

describe.skipIf(!ort.ok)('the same commands on both engines', () => {
  const dirs: Record<string, string> = {};
  beforeAll(async () => {
    await useBackend('wasm');
    const cfg = { vocab_size: 50257, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4 };
    dirs.plain = join(root, 'plain');
    dirs.prefixed = join(root, 'prefixed');
    dirs.fp16 = join(root, 'fp16');
    writeTinyGpt2(dirs.plain, { seed: 21, config: cfg });
    writeTinyGpt2(dirs.prefixed, { seed: 22, config: cfg, prefix: true });
    writeTinyGpt2(dirs.fp16, { seed: 23, config: cfg, dtype: 'F16' });
  });

  for (const kind of ['plain', 'prefixed', 'fp16']) {
    it(`logits --full --json: ort = tfjs to 1e-4 and both = a float64 forward to 1e-3 (${kind} checkpoint)`, async () => {
      const ids = [464, 3290, 318, 257, 1332, 286, 11, 290, 262, 50256, 7, 13];
      const run = async (engine: string) => {
        const r = await runCli(['logits', '--model', dirs[kind], '--ids', ids.join(','), '--full', '--json', '--engine', engine, ...B]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as { logits: number[]; engine: string; top: { id: number }[] };
      };
      const [o, t] = [await run('ort'), await run('tfjs')];
      expect([o.engine, t.engine]).toEqual(['ort', 'tfjs']);
      expect(o.logits).toHaveLength(50257);
      expect(maxRel(o.logits, t.logits)).toBeLessThan(1e-4);
      const ref = naiveForward(await loadGpt2Weights(dirs[kind]), ids).at(-1)!; // weights as stored (fp16-rounded for fp16)
      expect(maxRel(o.logits, ref)).toBeLessThan(1e-3);
      expect(maxRel(t.logits, ref)).toBeLessThan(1e-3);
      expect(o.top.map((x) => x.id)).toEqual(t.top.map((x) => x.id));
    });
  }

  it('an arbitrary JS hook runs on a tfjs twin of an ort model (one note); declarative interventions stay on ort', async () => {
    const notes: string[] = [];
    const lm = await loadModel(dirs.plain, { engine: 'ort', onNote: (l) => notes.push(l) });
    try {
      expect(lm.engine).toBe('ort');
      const ablate = zeroAblateHeads([{ layer: 1, head: 2 }]);
      expect(modelForHooks(lm.model, ablate)).toBe(lm.model);
      let seen: number[] = [];
      const spy: Hook = { name: 'blocks.0.hook_resid_post', fn: (x) => ((seen = [...x.shape]), x) };
      const twin = modelForHooks(lm.model, [spy]);
      expect(twin.engine).toBe('tfjs');
      expect(modelForHooks(lm.model, [spy])).toBe(twin); // built once
      expect(notes).toEqual(['note: hooks not expressible on the ort engine; those forward passes run on tfjs']);
      const ids = [[464, 3290, 318, 257]];
      const a = await twin.runWithHooksAsync(ids, { hooks: [spy] }); // [1, 4, vocab]
      expect(seen).toEqual([1, 4, 32]);
      const b = await lm.model.forwardAsync(ids); // [1, 4, vocab]
      expect(maxRel(a.dataSync(), b.dataSync())).toBeLessThan(1e-4); // the spy changes nothing
      tf.dispose([a, b]);
    } finally {
      lm.dispose();
    }
  });

  it('greedy generate gives the same tokens on both engines (batched rows, KV cache)', async () => {
    const run = async (engine: string) => {
      const r = await runCli([
        'generate',
        '--model',
        dirs.plain,
        '--prompt',
        'The cat sat on the',
        '--prompt',
        'Hello world',
        '--samples',
        '2',
        '--tokens',
        '12',
        '--no-stop-at-eos',
        '--json',
        '--engine',
        engine,
        ...B,
      ]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { tokens: number[] });
    };
    const [o, t] = [await run('ort'), await run('tfjs')];
    expect(o).toHaveLength(4);
    expect(o.map((x) => x.tokens)).toEqual(t.map((x) => x.tokens));
    expect(o[0].tokens).toHaveLength(12);
  });

  it('heads --json: the same theory and actual values on both engines (1e-5)', async () => {
    const prompts = join(root, 'p.json');
    writeFileSync(
      prompts,
      JSON.stringify([
        { prompt: 'The capital of France is Paris. The capital of Germany is', good: 'Berlin', bad: 'Rome' },
        { prompt: 'The opposite of hot is', good: 'cold', bad: 'warm' },
        { prompt: 'A triangle has three sides. A square has', good: 'four', bad: 'five' },
      ]),
    );
    for (const mode of ['residual', 'embedding']) {
      const run = async (engine: string) => {
        const r = await runCli([
          'heads',
          '--model',
          dirs.plain,
          '--prompts',
          prompts,
          '--mode',
          mode,
          '--json',
          '--out',
          join(root, `heads-${engine}-${mode}`),
          '--engine',
          engine,
          ...B,
        ]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as { prompts: { actual: number }[]; heads: { layer: number; head: number; theory: number[] }[] };
      };
      const [o, t] = [await run('ort'), await run('tfjs')];
      expect(
        maxRel(
          o.prompts.map((p) => p.actual),
          t.prompts.map((p) => p.actual),
        ),
        mode,
      ).toBeLessThan(1e-5);
      const key = (h: { layer: number; head: number }) => h.layer * 100 + h.head;
      const th = (a: typeof o) => [...a.heads].sort((x, y) => key(x) - key(y)).flatMap((h) => h.theory);
      expect(maxRel(th(o), th(t)), mode).toBeLessThan(1e-5);
    }
  });

  it('lm eval: the same perplexity on both engines (1e-4 relative); the JSON names the engine and tokens/s', async () => {
    const run = async (engine: string) => {
      const r = await runCli([
        'lm',
        'eval',
        '--model',
        embeddedModelDir(),
        '--split',
        'test',
        '--max-tokens',
        '1500',
        '--json',
        '--engine',
        engine,
        '--cache-dir',
        TEST_CACHE,
        ...B,
      ]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { perplexity: number; tokens: number; engine: string; tokens_per_s: number };
    };
    const [o, t] = [await run('ort'), await run('tfjs')];
    expect([o.engine, t.engine]).toEqual(['ort', 'tfjs']);
    expect(o.tokens).toBe(1500);
    expect(Math.abs(o.perplexity - t.perplexity) / t.perplexity).toBeLessThan(1e-4);
    for (const x of [o, t]) expect(x.tokens_per_s).toBeGreaterThan(0);
  });
});
