/**
 * GPT-2 checkpoint loading/saving: the same weights stored with and without the `transformer.`
 * prefix, in fp16/bf16, and sharded load to the same tensors; tied/untied heads; mask buffers
 * ignored; every mismatch with config.json is a UserError naming the tensor and the file.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { loadGpt2Weights, saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import { loadSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import type { Gpt2Weights, HostTensor } from '../../src/model/weights.js';
import { randomGpt2Weights, writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(tmp, `m${n++}`);

function expectSame(a: Gpt2Weights, b: Gpt2Weights, tol = 0): void {
  expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    let worst = 0;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]) / Math.max(1, Math.abs(t.data[i])));
    expect(worst, name).toBeLessThanOrEqual(tol);
  }
}

async function loadError(dir: string): Promise<UserError> {
  const e = await loadGpt2Weights(dir).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  expect((e as Error).message).not.toContain('\n');
  return e as UserError;
}

function patchConfig(dir: string, patch: Record<string, unknown>): void {
  const p = join(dir, 'config.json');
  writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), ...patch }));
}

describe('loadGpt2Weights', () => {
  const reference = randomGpt2Weights({}, 1);

  it('loads prefixed, unprefixed and sharded copies identically', async () => {
    for (const opts of [{ prefix: false }, { prefix: true }, { prefix: true, shards: 3 }, { shards: 2 }]) {
      const d = fresh();
      writeTinyGpt2(d, { seed: 1, ...opts });
      if (opts.shards) {
        expect(existsSync(join(d, 'model.safetensors.index.json'))).toBe(true);
        expect(readdirSync(d).filter((f) => /^model-\d{5}-of-\d{5}/.test(f)).length).toBeGreaterThan(1);
      }
      const w = await loadGpt2Weights(d);
      expectSame(reference, w);
      expect(w.config).toMatchObject({ n_layer: 2, n_embd: 16, vocab_size: 300, tie_word_embeddings: true });
    }
  });

  it('converts fp16 and bf16 checkpoints to fp32 within their precision', async () => {
    for (const [dtype, tol] of [
      ['F16', 2 ** -11],
      ['BF16', 2 ** -8],
    ] as const) {
      const d = fresh();
      writeTinyGpt2(d, { seed: 1, dtype, prefix: true });
      const w = await loadGpt2Weights(d);
      expectSame(reference, w, tol);
      for (const t of w.tensors.values()) expect(t.data).toBeInstanceOf(Float32Array);
    }
  });

  it('ignores attention mask buffers and reports progress', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 1, prefix: true });
    const st = join(d, 'model.safetensors');
    const tensors = loadSafetensors(st);
    tensors.set('transformer.h.0.attn.bias', { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(1) });
    tensors.set('transformer.h.1.attn.masked_bias', { shape: [], data: new Float32Array([-1e4]) });
    writeSafetensors(st, tensors, { dtype: 'F32', metadata: { format: 'pt' } });
    const seen: number[] = [];
    const w = await loadGpt2Weights(d, { onProgress: (p) => seen.push(p.done / p.total) });
    expectSame(reference, w);
    expect(seen.at(-1)).toBe(1);
    expect(seen.length).toBe(w.tensors.size);
  });

  it('drops an lm_head equal to wte and keeps a different one', async () => {
    const tied = fresh();
    writeTinyGpt2(tied, { seed: 2, explicitTiedHead: true });
    expect(loadSafetensors(join(tied, 'model.safetensors')).has('lm_head.weight')).toBe(true);
    const a = await loadGpt2Weights(tied);
    expect(a.tensors.has('lm_head.weight')).toBe(false);

    const untied = fresh();
    const written = writeTinyGpt2(untied, { seed: 2, tiedHead: false, prefix: true });
    const b = await loadGpt2Weights(untied);
    expect(b.tensors.has('lm_head.weight')).toBe(true);
    expect(b.config.tie_word_embeddings).toBe(false);
    expectSame(written, b);
  });

  it('requires lm_head when config says the head is untied', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3 });
    patchConfig(d, { tie_word_embeddings: false });
    expect((await loadError(d)).message).toContain("'lm_head.weight'");
  });

  it('names tensor, file and both shapes when a shape disagrees with config.json', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3 });
    patchConfig(d, { vocab_size: 301 });
    const e = await loadError(d);
    expect(e.code).toBe('E_CHECKPOINT');
    for (const s of ["'wte.weight'", 'model.safetensors', '[300, 16]', '[301, 16]']) expect(e.message).toContain(s);
  });

  it('names the first missing tensor and rejects unknown ones', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3, prefix: true });
    patchConfig(d, { n_layer: 3 });
    expect((await loadError(d)).message).toContain("missing tensor 'h.2.ln_1.weight'");
    patchConfig(d, { n_layer: 1 });
    expect((await loadError(d)).message).toMatch(/unexpected tensor 'transformer\.h\.1\..*model\.safetensors/);

    const st = join(d, 'model.safetensors');
    patchConfig(d, { n_layer: 2 });
    const tensors = loadSafetensors(st);
    tensors.set('wte.weight', tensors.get('transformer.wte.weight')!);
    writeSafetensors(st, tensors, { dtype: 'F32' });
    expect((await loadError(d)).message).toContain("'wte.weight' appears twice");
  });

  it('reports config problems with the field and file', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3 });
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg.n_embd;
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    const e = await loadError(d);
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toContain("'n_embd'");
    expect(e.message).toContain('config.json');
  });

  it('explains that pytorch_model.bin is not supported', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3 });
    rmSync(join(d, 'model.safetensors'));
    writeFileSync(join(d, 'pytorch_model.bin'), 'x');
    const e = await loadError(d);
    expect(e.message).toContain('.bin');
    expect(e.message).toContain('save_pretrained');
    expect(e.message).toContain('safe_serialization=True');
    rmSync(join(d, 'pytorch_model.bin'));
    expect((await loadError(d)).message).toContain('has no model.safetensors');
  });

  it('validates the shard index', async () => {
    const d = fresh();
    writeTinyGpt2(d, { seed: 3, shards: 2 });
    const shards = readdirSync(d)
      .filter((f) => f.startsWith('model-'))
      .sort();
    rmSync(join(d, shards[1]));
    const e = await loadError(d);
    expect(e.message).toContain(shards[1]);
    expect(e.message).toContain('missing');
    writeFileSync(join(d, 'model.safetensors.index.json'), '{"metadata": {}}');
    expect((await loadError(d)).message).toContain('weight_map');
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'wte.weight': shards[0], 'ln_f.bias': shards[0] } }));
    expect((await loadError(d)).message).toMatch(/'ln_f\.bias' is in model-00001/);
  });

  it('reports a missing directory', async () => {
    expect((await loadError(join(tmp, 'nowhere'))).message).toContain('does not exist');
  });
});

describe('saveGpt2Checkpoint', () => {
  it('replaces stale shards when re-saving as a single file and vice versa', async () => {
    const d = fresh();
    const w = writeTinyGpt2(d, { seed: 4, shards: 3 });
    saveGpt2Checkpoint(d, w, { dtype: 'F32' });
    expect(readdirSync(d).filter((f) => f.includes('safetensors'))).toEqual(['model.safetensors']);
    saveGpt2Checkpoint(d, w, { dtype: 'F32', shardSizeBytes: 4096 });
    expect(existsSync(join(d, 'model.safetensors'))).toBe(false);
    const index = JSON.parse(readFileSync(join(d, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number } };
    let total = 0;
    for (const t of w.tensors.values()) total += t.data.length * 4;
    expect(index.metadata.total_size).toBe(total);
    expectSame(w, await loadGpt2Weights(d));
  });

  it('refuses weights that do not match their config', () => {
    const w = randomGpt2Weights({}, 5);
    const bad = new Map<string, HostTensor>(w.tensors);
    bad.set('ln_f.bias', { shape: [3], data: new Float32Array(3) });
    expect(() => saveGpt2Checkpoint(fresh(), { config: w.config, tensors: bad }, { dtype: 'F32' })).toThrow(/'ln_f\.bias'/);
    bad.delete('ln_f.bias');
    expect(() => saveGpt2Checkpoint(fresh(), { config: w.config, tensors: bad }, { dtype: 'F32' })).toThrow(/lack tensor 'ln_f\.bias'/);
  });
});
