/**
 * docs/cluster.md, field cache: the Slurm array script of `spinbath train cache --shard`, run locally
 * for every array index (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT set), then `train cache merge`:
 * the merged cache files are byte-identical to an unsharded `train cache`, and `spinbath train`
 * reads them without running the model. Bad shard specs, a missing --config and a missing shard:
 * exit 2, one line on stderr, nothing on stdout.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTruncatedTokenizer } from '../../src/data/bpe.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import { runCli } from '../helpers/cli.js';
import { runSlurmArray } from '../helpers/slurm.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

const root = mkdtempSync(join(tmpdir(), 'sb-cache-cluster-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const model = join(root, 'lm');
const K = 256;
const CONFIG = 'configs/score/tiny.json';

beforeAll(() => {
  saveGpt2Checkpoint(model, randomGpt2Weights({ vocab_size: 257 + K, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2 }, 3), { dtype: 'F32' });
  writeTruncatedTokenizer(model, K);
});

/** The script between the slurm-cache markers of docs/cluster.md. */
function cacheScript(): string {
  const md = readFileSync('docs/cluster.md', 'utf8');
  const m = /<!-- slurm-cache:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- slurm-cache:end -->/.exec(md);
  if (!m) throw new Error('docs/cluster.md has no slurm-cache:begin/end block');
  return m[1];
}

const fieldFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('fields-') && !f.endsWith('.shards'))
    .sort();

describe('docs/cluster.md field-cache array script', () => {
  it('is a batch script with an array directive that runs `spinbath train cache --shard`', () => {
    const s = cacheScript();
    expect(s.startsWith('#!/bin/bash\n')).toBe(true);
    expect(s).toMatch(/^#SBATCH --array=0-\d+$/m);
    expect(s).toMatch(/train cache --config "\$CONFIG" --shard "\$SLURM_ARRAY_TASK_ID\/\$COUNT" --cache-dir "\$CACHE"/);
  });

  it('every array index of 3, then merge: byte-identical to the unsharded build; train reads it', async () => {
    const whole = join(root, 'whole');
    const w = await runCli([
      'train',
      'cache',
      '--config',
      CONFIG,
      '--model',
      model,
      '--cache-dir',
      whole,
      '--batch-tokens',
      '64',
      '--backend',
      'wasm',
      '--quiet',
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/built the train field cache: 2000 pairs/);
    const cache = join(root, 'cache');
    rmSync(cache, { recursive: true, force: true });
    // the token caches are not what is sharded: share them, as a cluster's shared --cache-dir would
    mkdirSync(cache, { recursive: true });
    for (const f of readdirSync(whole)) if (f.startsWith('tokens-')) copyFileSync(join(whole, f), join(cache, f));
    const file = join(root, 'cache.sbatch');
    writeFileSync(file, cacheScript());
    const n = 3;
    await runSlurmArray(file, n, {
      CONFIG,
      MODEL: model,
      SPINBATH_BACKEND: 'wasm',
      CACHE: cache,
      BATCH_TOKENS: '64',
    });
    expect(fieldFiles(cache)).toEqual([]); // nothing merged yet
    const m = await runCli(['train', 'cache', 'merge', '--cache-dir', cache]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout.trim().split('\n')).toHaveLength(2); // train and validation
    expect(fieldFiles(cache)).toEqual(fieldFiles(whole));
    expect(fieldFiles(cache)).toHaveLength(6);
    for (const f of fieldFiles(whole)) expect(readFileSync(join(cache, f)).equals(readFileSync(join(whole, f))), f).toBe(true);
    const t = await runCli([
      'train',
      '--config',
      CONFIG,
      '--model',
      model,
      '--cache-dir',
      cache,
      '--out',
      join(root, 'run'),
      '--stop-after',
      '10',
      '--backend',
      'wasm',
      '--json',
    ]);
    expect(t.code, t.stderr).toBe(0);
    const j = JSON.parse(t.stdout) as { field_cache: { train: { status: string; pairs: number } } };
    expect(j.field_cache.train).toMatchObject({ status: 'hit', pairs: 2000 });
  }, 600_000);

  it('bad input: one line on stderr, exit 2, nothing on stdout', async () => {
    const cache = join(root, 'bad');
    for (const [args, re] of [
      [['train', 'cache', '--config', CONFIG, '--shard', '3/3'], /--shard '3\/3' is not i\/n with 0 ≤ i < n/],
      [['train', 'cache', '--config', CONFIG, '--shard', 'x'], /--shard 'x' is not i\/n/],
      [['train', 'cache', '--shard', '0/2'], /train cache needs --config FILE/],
      [['train', 'cache', 'merge'], /holds no field-cache shards; run `spinbath train cache/],
    ] as const) {
      const r = await runCli([...args, '--cache-dir', cache, ...(args[2] === 'merge' ? [] : ['--model', model, '--backend', 'wasm'])]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });
});
