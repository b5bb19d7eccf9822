/** `spinbath lm train` / `lm eval` through the command module: JSON contracts and one-line errors (exit 2). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLm, TEST_CACHE, tinyRaw } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sb-lmcli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const C = ['--cache-dir', TEST_CACHE, '--backend', 'wasm'];

describe('spinbath lm', () => {
  it('train --json, then eval --json with the documented keys', async () => {
    const cfg = join(root, 'short.json');
    const raw = tinyRaw();
    writeFileSync(cfg, JSON.stringify({ ...raw, training: { ...raw.training, steps: 4, warmup_steps: 1, eval_every: 2, checkpoint_every: 2 } }));
    const out = join(root, 'run');
    const t = await runLm(['lm', 'train', '--config', cfg, '--out', out, '--json', '--quiet', ...C]);
    expect(t.stderr).toBe('');
    expect(t.code).toBe(0);
    const rep = JSON.parse(t.stdout);
    expect(rep.steps).toBe(4);
    expect(rep.files).toContain(join(out, 'model.safetensors'));

    const e = await runLm(['lm', 'eval', '--model', out, '--split', 'test', '--max-tokens', '600', '--json', ...C]);
    expect(e.code).toBe(0);
    const j = JSON.parse(e.stdout);
    expect(j).toMatchObject({ split: 'test', tokens: 600 });
    for (const k of ['perplexity', 'unigram_perplexity', 'bigram_perplexity']) {
      expect(Number.isFinite(j[k])).toBe(true);
      expect(j[k]).toBeGreaterThan(1);
    }
    expect(Object.keys(j).slice(0, 5)).toEqual(['split', 'tokens', 'perplexity', 'unigram_perplexity', 'bigram_perplexity']);
    // barely trained: worse than the bigram baseline, better than uniform over 513 tokens
    expect(j.perplexity).toBeLessThan(513);
    const strided = JSON.parse(
      (await runLm(['lm', 'eval', '--model', out, '--split', 'test', '--max-tokens', '600', '--stride', '16', '--json', ...C])).stdout,
    );
    expect(strided.tokens).toBe(600);
    expect(strided.unigram_perplexity).toBeCloseTo(j.unigram_perplexity, 10);
    expect(strided.bigram_perplexity).toBeCloseTo(j.bigram_perplexity, 10);
  });

  it('a bad config field is one line naming it, exit 2', async () => {
    const cfg = join(root, 'bad.json');
    const raw = tinyRaw();
    writeFileSync(cfg, JSON.stringify({ ...raw, training: { ...raw.training, momentum: 0.9 } }));
    const r = await runLm(['lm', 'train', '--config', cfg, '--out', join(root, 'bad'), ...C]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/field training: unknown field\(s\) 'momentum'/);
    const r2 = await runLm(['lm', 'eval', '--model', join(root, 'missing'), '--json', ...C]);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    const r3 = await runLm(['lm', 'train', '--config', cfg, ...C]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--out/);
    expect(readFileSync(cfg, 'utf8')).toContain('momentum');
  });
});
