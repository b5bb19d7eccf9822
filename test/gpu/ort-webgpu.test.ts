/**
 * Inference on ORT's WebGPU execution provider (issue 12, point 2), each EP in its own process
 * (test/gpu/ort-worker.ts: a crash inside the EP fails this file, it cannot end the runner):
 *   - a tiny random GPT-2 and the embedded brown-small: logits and every hook output on
 *     ['webgpu', 'cpu'] against ORT's CPU EP and against the tfjs engine on wasm;
 *   - KV-cached decoding (prefill into an empty cache, then one-token steps, hooks on the last)
 *     against the full forward on webgpu and against the CPU EP; a zero-head ablation; the
 *     per-token loss; greedy tokens equal to the CPU EP's;
 *   - the CLI: `logits --backend webgpu --engine ort` against `--backend wasm` to 1e-4, greedy
 *     `generate` the same tokens, `env --backend webgpu` names the execution providers.
 * "to ε": |webgpu − reference| ≤ ε · max(1, |reference|) element by element.
 *
 * Runs on any WebGPU adapter, the software one of scripts/setup-webgpu.sh included. Skipped when
 * Dawn finds no adapter, unless CI is set: in CI a missing adapter is a failure (as webgpu.test.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/model/safetensors.js';
import type { HostTensor } from '../../src/model/weights.js';
import { adapterPresent, ci, DECODE_STEPS, GREEDY_TOKENS } from './common.js';

const TSX = join('node_modules', '.bin', 'tsx');
const present = await adapterPresent();
if (!present && ci) {
  describe('ORT webgpu', () => {
    it('has an adapter in CI (run scripts/setup-webgpu.sh as root first)', () => {
      expect.fail('CI is set but Dawn finds no WebGPU adapter; .ci/run installs the software one with scripts/setup-webgpu.sh');
    });
  });
}

const run = promisify(execFile);

/** Largest |a − b| / max(1, |b|) over two tensors of the same shape. */
function relErr(a: HostTensor, b: HostTensor, name: string): number {
  expect(a.shape, name).toEqual(b.shape);
  let m = 0;
  for (let i = 0; i < b.data.length; i++) {
    if (a.data[i] === b.data[i]) continue; // equal infinities too
    const e = Math.abs(a.data[i] - b.data[i]) / Math.max(1, Math.abs(b.data[i]));
    m = Number.isNaN(e) ? Infinity : Math.max(m, e);
  }
  return m;
}

/** Rows [b, ·] of position `pos` of logits [b, p, V] (or of [b·p, V]). */
function position(t: HostTensor, pos: number, p: number): HostTensor {
  const V = t.shape[t.shape.length - 1];
  const b = t.data.length / (p * V);
  const data = new Float32Array(b * V);
  for (let r = 0; r < b; r++) data.set(t.data.subarray((r * p + pos) * V, (r * p + pos + 1) * V), r * V);
  return { shape: [b, V], data };
}

/** Worst error over every tensor of `b` whose name starts with `prefix` (compared with a's `swap(name)`). */
function worst(a: Map<string, HostTensor>, b: Map<string, HostTensor>, prefix: string, swap = (n: string) => n) {
  let err = 0;
  let name = '';
  let count = 0;
  for (const [k, want] of b) {
    if (!k.startsWith(prefix)) continue;
    const got = a.get(swap(k));
    if (!got) throw new Error(`missing ${swap(k)}`);
    count++;
    const e = relErr(got, want, k);
    if (e >= err) [err, name] = [e, k];
  }
  return { err, name, count };
}

describe.skipIf(!present)('ORT on its WebGPU execution provider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-ortgpu-'));
  let gpu: Map<string, HostTensor>;
  let cpu: Map<string, HostTensor>;
  let runs: Record<'cpu' | 'webgpu', Record<string, { greedy: number[]; shape: number[] }>>;
  beforeAll(async () => {
    for (const ep of ['cpu', 'webgpu']) await run(TSX, [join('test', 'gpu', 'ort-worker.ts'), ep, join(dir, ep)], { timeout: 600_000, maxBuffer: 64 << 20 });
    gpu = loadSafetensors(join(dir, 'webgpu', 'tensors.safetensors'));
    cpu = loadSafetensors(join(dir, 'cpu', 'tensors.safetensors'));
    const json = (ep: string) => JSON.parse(readFileSync(join(dir, ep, 'run.json'), 'utf8')) as Record<string, { greedy: number[]; shape: number[] }>;
    runs = { cpu: json('cpu'), webgpu: json('webgpu') };
  }, 1_200_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const key of ['tiny', 'brown']) {
    it(`${key}: logits and every hook output agree with the CPU EP and with tfjs on wasm to 1e-5`, () => {
      const vsCpu = worst(gpu, cpu, `${key}.`);
      expect(vsCpu.count).toBeGreaterThan(40);
      expect(vsCpu.err, `worst: ${vsCpu.name}`).toBeLessThanOrEqual(1e-5);
      const vsTfjs = worst(gpu, cpu, `tfjs.${key}.`, (n) => n.slice('tfjs.'.length));
      expect(vsTfjs.count).toBeGreaterThan(40); // logits + every hook point
      expect(vsTfjs.err, `worst: ${vsTfjs.name}`).toBeLessThanOrEqual(1e-5);
    });

    it(`${key}: KV-cached decoding on webgpu equals its full forward position by position (1e-5)`, () => {
      const P = runs.webgpu[key].shape[1];
      const full = gpu.get(`${key}.logits`)!;
      for (let s = 0; s <= DECODE_STEPS; s++) {
        const step = gpu.get(`${key}.decode.${s}`)!;
        const want = position(full, P - DECODE_STEPS - 1 + s, P);
        expect(relErr({ shape: want.shape, data: step.data }, want, `decode ${s}`), `step ${s}`).toBeLessThanOrEqual(1e-5);
      }
      // the last step's hooks: its query row of the full forward's pattern, and z at that position
      const pattern = gpu.get(`${key}.decodeHook.blocks.0.attn.hook_pattern`)!; // [b, h, 1, P]
      const fullPattern = gpu.get(`${key}.hook.blocks.0.attn.hook_pattern`)!; // [b, h, P, P]
      const [b, h] = fullPattern.shape;
      for (let r = 0; r < b * h; r++) {
        const got = pattern.data.subarray(r * P, (r + 1) * P);
        const want = fullPattern.data.subarray((r * P + P - 1) * P, (r * P + P) * P);
        expect(relErr({ shape: [P], data: got }, { shape: [P], data: want }, 'pattern row')).toBeLessThanOrEqual(1e-5);
      }
    });

    it(`${key}: the cached steps, their hooks, an ablation and the per-token loss agree with the CPU EP (1e-5); greedy tokens are equal`, () => {
      for (const p of ['decode.', 'decodeHook.', 'ablated', 'nll']) {
        const w = worst(gpu, cpu, `${key}.${p}`);
        expect(w.count, p).toBeGreaterThan(0);
        expect(w.err, `worst: ${w.name}`).toBeLessThanOrEqual(1e-5);
      }
      expect(runs.webgpu[key].greedy).toHaveLength(GREEDY_TOKENS);
      expect(runs.webgpu[key].greedy).toEqual(runs.cpu[key].greedy);
    });
  }
});

describe.skipIf(process.platform !== 'linux')('ORT webgpu without an adapter (VK_ICD_FILENAMES pointing nowhere)', () => {
  it('the probe answers one line and a session on [webgpu, cpu] fails with one E_BACKEND line, no crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-ortprobe-'));
    try {
      const env = { ...process.env, VK_ICD_FILENAMES: join(dir, 'no-such-icd.json') };
      await run(TSX, [join('test', 'gpu', 'ort-worker.ts'), 'probe', dir], { timeout: 300_000, env });
      const r = JSON.parse(readFileSync(join(dir, 'probe.json'), 'utf8')) as {
        probe: { ok: boolean; reason?: string };
        forward: { code: string; message: string } | null;
      };
      expect(r.probe.ok).toBe(false);
      expect(r.probe.reason).toMatch(/^ORT's WebGPU execution provider cannot start: (Failed to get a WebGPU adapter|this onnxruntime-node .* has no webgpu)/);
      expect(r.forward?.code).toBe('E_BACKEND');
      expect(r.forward?.message).toMatch(/^onnxruntime could not build a session on execution providers \[webgpu,cpu\]: [^\n]+$/);
      expect(r.forward?.message).not.toContain('.cc:'); // ORT's source location is dropped
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!present)('the CLI with --backend webgpu --engine ort', () => {
  const cli = (args: string[]) => run('node', ['bin/spinbath.js', ...args, '--quiet'], { timeout: 300_000, maxBuffer: 64 << 20 });
  beforeAll(async () => {
    if (!existsSync('dist/src/cli/main.js')) await run('npx', ['tsc', '-p', 'tsconfig.build.json']);
  }, 300_000);

  it('env names ORT on the execution providers [webgpu, cpu] for the forward', async () => {
    const env = JSON.parse((await cli(['env', '--backend', 'webgpu', '--json'])).stdout) as {
      engine: { inference: string; executionProviders: string[] };
      jobs: Record<string, string>;
    };
    expect(env.engine.inference).toBe('ort');
    expect(env.engine.executionProviders).toEqual(['webgpu', 'cpu']);
    expect(env.jobs['forward (logits, heads, fields)']).toMatch(/^ort on execution providers \[webgpu, cpu\]/);
  });

  it('logits --full agree with --backend wasm to 1e-4; greedy generate gives the same tokens', async () => {
    const text = 'The jury said that the city';
    const logits = async (backend: string) =>
      (JSON.parse((await cli(['logits', '--text', text, '--full', '--json', '--engine', 'ort', '--backend', backend])).stdout) as { logits: number[] }).logits;
    const [g, w] = [await logits('webgpu'), await logits('wasm')];
    expect(g.length).toBeGreaterThan(8000);
    expect(relErr({ shape: [g.length], data: Float32Array.from(g) }, { shape: [w.length], data: Float32Array.from(w) }, 'logits')).toBeLessThanOrEqual(1e-4);
    const gen = async (backend: string) =>
      (
        JSON.parse((await cli(['generate', '--prompt', text, '--tokens', '12', '--json', '--engine', 'ort', '--backend', backend])).stdout) as {
          tokens: number[];
        }
      ).tokens;
    const [tg, tw] = [await gen('webgpu'), await gen('wasm')];
    expect(tg.length).toBeGreaterThan(0);
    expect(tg).toEqual(tw);
  });
});
