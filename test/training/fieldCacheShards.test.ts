/**
 * Sharded field-cache build (training/fieldCacheShards.ts): the merge of shards 0..n−1 is
 * byte-identical to the unsharded build (fields, tokens and manifest), `loadOrBuildFieldCache`
 * merges a complete shard set instead of building, a rebuilt shard is a hit, and missing, mixed,
 * mismatched, damaged, half-written (no manifest) or locked shards are refused with one line.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { LOCK_FILE } from '../../src/io/lock.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { fieldCachePaths, loadOrBuildFieldCache, type FieldCacheSpec } from '../../training/fieldCache.js';
import { buildFieldCacheShard, mergeAllShardSets, shardDir, SHARD_MANIFEST } from '../../training/fieldCacheShards.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

let model: Gpt2Model;
beforeAll(async () => {
  await useBackend('wasm');
  model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 60, n_positions: 12, n_embd: 16, n_layer: 2, n_head: 4 }, 7));
});

const ids = Uint16Array.from({ length: 200 }, (_, i) => (i * 13 + 5) % 60);
const spec: FieldCacheSpec = { split: 'train', source: { kind: 'layer', layer: 1 }, context: 8, stride: 4, maxPairs: 150 };
const batchTokens = 24; // 3 windows per forward group: 16 groups over 49 windows
const files = (dir: string) => {
  const p = fieldCachePaths(dir, 'hash-a', spec);
  return [p.fields, p.tokens, p.manifest].map((f) => readFileSync(f));
};

async function shards(dir: string, n: number, which = Array.from({ length: n }, (_, i) => i), corpus = ids) {
  for (const index of which) await buildFieldCacheShard(model, 'hash-a', corpus, spec, { index, count: n }, { cacheDir: dir, batchTokens });
}

describe('sharded field cache', () => {
  it('shards 0..n−1 merged (by loadOrBuildFieldCache, or `train cache merge`) are byte-identical to the unsharded build', async () => {
    const whole = mkdtempSync(join(tmpdir(), 'sb-fc-whole-'));
    const a = await loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir: whole, batchTokens });
    expect(a.status).toBe('built');
    expect(a.pairs.n).toBe(150);
    for (const n of [1, 3, 5]) {
      const dir = mkdtempSync(join(tmpdir(), `sb-fc-${n}-`));
      await shards(dir, n);
      const m = await loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir: dir, batchTokens });
      expect(m.status).toBe('merged');
      expect(Array.from(m.pairs.tokens)).toEqual(Array.from(a.pairs.tokens));
      expect(Array.from(m.pairs.fields!)).toEqual(Array.from(a.pairs.fields!));
      const [wf, wt, wm] = files(whole);
      const [sf, st, sm] = files(dir);
      expect(sf.equals(wf) && st.equals(wt)).toBe(true);
      expect(sm.toString()).toBe(wm.toString());
      expect((await loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir: dir })).status).toBe('hit');
      // the CLI's merge writes the same files again
      rmSync(fieldCachePaths(dir, 'hash-a', spec).manifest);
      expect(mergeAllShardSets(dir)).toEqual([{ manifest: fieldCachePaths(dir, 'hash-a', spec).manifest, pairs: 150 }]);
      expect(files(dir).every((b, k) => b.equals(files(whole)[k]))).toBe(true);
    }
  });

  it('a shard already built is found, not rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-fc-hit-'));
    const s = { index: 1, count: 3 };
    const first = await buildFieldCacheShard(model, 'hash-a', ids, spec, s, { cacheDir: dir, batchTokens });
    const again = await buildFieldCacheShard(model, 'hash-a', ids, spec, s, { cacheDir: dir, batchTokens });
    expect([first.status, again.status]).toEqual(['built', 'hit']);
    expect(again.pairs).toBe(first.pairs);
  });

  it('missing, half-written, damaged, mixed and mismatched shards are refused with one line', async () => {
    const run = (dir: string) => loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir: dir, batchTokens });
    const oneLine = async (dir: string, re: RegExp) => {
      const e = (await run(dir).then(
        () => null,
        (x: unknown) => x,
      )) as Error | null;
      expect(e?.message).toMatch(re);
      expect(e!.message.split('\n')).toHaveLength(1);
    };
    const missing = mkdtempSync(join(tmpdir(), 'sb-fc-miss-'));
    await shards(missing, 4, [0, 2]);
    await oneLine(missing, /missing shards 1\/4, 3\/4 in .*\.shards; run `spinbath train cache --config FILE --shard 1\/4` for each$/);
    // a crash after the bins but before the manifest leaves the shard missing, not half-read
    const half = mkdtempSync(join(tmpdir(), 'sb-fc-half-'));
    await shards(half, 2);
    rmSync(join(shardDir(fieldCachePaths(half, 'hash-a', spec), { index: 1, count: 2 }), SHARD_MANIFEST));
    await oneLine(half, /missing shard 1\/2 /);
    const damaged = mkdtempSync(join(tmpdir(), 'sb-fc-dmg-'));
    await shards(damaged, 2);
    truncateSync(join(shardDir(fieldCachePaths(damaged, 'hash-a', spec), { index: 0, count: 2 }), 'fields.bin'), 8);
    await oneLine(damaged, /shard 0-of-2 of .* is damaged \(a data file has the wrong size\); rebuild it/);
    const mixed = mkdtempSync(join(tmpdir(), 'sb-fc-mix-'));
    await shards(mixed, 2);
    await shards(mixed, 3, [0]);
    await oneLine(mixed, /mixes shard sets of 2 and 3; delete the directories/);
    const other = mkdtempSync(join(tmpdir(), 'sb-fc-other-'));
    await shards(other, 2, [0]);
    await shards(
      other,
      2,
      [1],
      ids.map((x) => (x + 1) % 60),
    );
    await oneLine(other, /shard 1-of-2 of .* was built for another configuration \(the corpus tokens changed\)/);
    expect(existsSync(fieldCachePaths(other, 'hash-a', spec).manifest)).toBe(false); // nothing half-written
  });

  it('a shard being built (locked by a live process) is not built twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-fc-lock-'));
    const sd = shardDir(fieldCachePaths(dir, 'hash-a', spec), { index: 0, count: 2 });
    mkdirSync(sd, { recursive: true });
    writeFileSync(join(sd, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), command: 'train cache --shard 0/2', since: 'now' }));
    await expect(buildFieldCacheShard(model, 'hash-a', ids, spec, { index: 0, count: 2 }, { cacheDir: dir, batchTokens })).rejects.toThrow(
      /is in use by train cache --shard 0\/2/,
    );
  });
});
