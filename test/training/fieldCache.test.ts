/**
 * Context fields for training (Eq. 14's N_proj): the all-positions variant equals the last-position
 * field of every prefix for each source, windows cover the corpus once, and the on-disk field cache
 * is reused, detected stale (corpus change, damaged file) and rebuilt, or refused.
 */
import { mkdtempSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { contextFields, contextFieldsAll, type FieldSource } from '../../src/field/source.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { buildPairs, gatherFields, loadOrBuildFieldCache, pairWindows, type FieldCacheSpec } from '../../training/fieldCache.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

let model: Gpt2Model;
beforeAll(async () => {
  await useBackend('wasm');
  model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 60, n_positions: 12, n_embd: 16, n_layer: 2, n_head: 4 }, 7));
});

const sources: FieldSource[] = [
  { kind: 'final' },
  { kind: 'layer', layer: 1 },
  { kind: 'head', layer: 0, head: 2 },
  {
    kind: 'heads',
    heads: [
      { layer: 0, head: 1 },
      { layer: 1, head: 3 },
    ],
  },
];

describe('contextFieldsAll', () => {
  for (const s of sources) {
    it(`row p equals contextFields of the prefix ..p (${s.kind})`, async () => {
      const ids = [
        [3, 14, 15, 9, 26, 5, 35],
        [8, 9, 7, 9, 3, 2, 38],
      ];
      const all = await contextFieldsAll(model, ids, s); // [2, 7, 16]
      expect(all.shape).toEqual([2, 7, 16]);
      const got = all.arraySync() as number[][][];
      for (let p = 0; p < 7; p++) {
        const oneT = await contextFields(
          model,
          ids.map((r) => r.slice(0, p + 1)),
          s,
        ); // [2, 16]
        const one = oneT.arraySync() as number[][];
        oneT.dispose();
        for (let b = 0; b < 2; b++) one[b].forEach((x, k) => expect(got[b][p][k]).toBeCloseTo(x, 4));
      }
      all.dispose();
    });
  }
});

describe('pairs and the field cache', () => {
  it('windows keep every position once, each with ≥ context − stride tokens of context after the first window', () => {
    for (const [n, W, S] of [
      [100, 10, 4],
      [100, 10, 10],
      [37, 8, 3],
      [5, 10, 5],
    ]) {
      const seen = new Set<number>();
      for (const w of pairWindows(n, W, S, null)) {
        for (let p = w.from; p < w.to; p++) {
          const pos = w.start + p;
          expect(seen.has(pos)).toBe(false);
          seen.add(pos);
          if (w.start > 0) expect(p + 1).toBeGreaterThanOrEqual(Math.min(W, n - 1) - S + 1);
        }
      }
      const maxPos = Math.max(...seen);
      for (let p = 0; p <= maxPos; p++) expect(seen.has(p)).toBe(true);
      expect(maxPos).toBeGreaterThan(n - 2 - S);
      expect(maxPos).toBeLessThan(n - 1);
    }
    expect(pairWindows(100, 10, 4, 25).reduce((a, w) => a + w.to - w.from, 0)).toBe(25);
  });

  for (const batchTokens of [16, 3]) {
    it(`pairs hold the field of their context (fp16) and the next token (${batchTokens} tokens per call${batchTokens < 8 ? ': KV-cached chunks' : ''})`, async () => {
      const ids = Uint16Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 60);
      const spec: FieldCacheSpec = {
        split: 'train',
        source: {
          kind: 'heads',
          heads: [
            { layer: 0, head: 1 },
            { layer: 1, head: 2 },
          ],
        },
        context: 8,
        stride: 4,
        maxPairs: null,
      };
      const { pairs } = await buildPairs(model, ids, spec, { batchTokens });
      let row = 0;
      for (const w of pairWindows(ids.length, 8, 4, null)) {
        for (let p = w.from; p < w.to; p++, row++) {
          expect(pairs.tokens[row]).toBe(ids[w.start + p + 1]);
          if (row % 3 !== 0) continue;
          const wantT = await contextFields(model, [Array.from(ids.subarray(w.start, w.start + p + 1))], spec.source);
          const want = wantT.dataSync();
          wantT.dispose();
          const got = gatherFields(pairs, [row]);
          want.forEach((x, k) => expect(Math.abs(got[k] - x)).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(x))));
        }
      }
      expect(row).toBe(pairs.n);
    });
  }

  it('is built once, reused, detected stale and rebuilt (corpus change, damaged file), or refused', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'sb-fields-'));
    const ids = Uint16Array.from({ length: 60 }, (_, i) => (i * 11 + 1) % 60);
    const spec: FieldCacheSpec = { split: 'validation', source: { kind: 'head', layer: 1, head: 0 }, context: 10, stride: 5, maxPairs: 30 };
    const a = await loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir });
    expect(a.status).toBe('built');
    expect(a.pairs.n).toBe(30);
    const b = await loadOrBuildFieldCache(model, 'hash-a', ids, spec, { cacheDir });
    expect(b.status).toBe('hit');
    expect(Array.from(b.pairs.fields!)).toEqual(Array.from(a.pairs.fields!));
    expect(Array.from(b.pairs.tokens)).toEqual(Array.from(a.pairs.tokens));
    const ids2 = ids.map((x) => (x + 1) % 60);
    await expect(loadOrBuildFieldCache(model, 'hash-a', ids2, spec, { cacheDir, rebuildStale: false })).rejects.toThrow(
      /^the field cache .*\.json is stale \(the corpus tokens changed\); delete it, or set data\.rebuild_stale_cache to true to rebuild it$/,
    );
    const c = await loadOrBuildFieldCache(model, 'hash-a', ids2, spec, { cacheDir });
    expect(c.status).toBe('rebuilt');
    expect(c.reason).toBe('the corpus tokens changed');
    truncateSync(c.manifestPath.replace(/\.json$/, '.fields.bin'), 10);
    const d = await loadOrBuildFieldCache(model, 'hash-a', ids2, spec, { cacheDir });
    expect([d.status, d.reason]).toEqual(['rebuilt', 'a data file has the wrong size']);
    // another model (hash) never reads this model's cache
    expect((await loadOrBuildFieldCache(model, 'hash-b', ids2, spec, { cacheDir })).status).toBe('built');
  });

  it('refuses corpus ids outside the vocabulary', async () => {
    const ids = Uint16Array.from([1, 2, 99, 3]);
    await expect(
      loadOrBuildFieldCache(
        model,
        'h',
        ids,
        { split: 'train', source: { kind: 'final' }, context: 4, stride: 4, maxPairs: null },
        { cacheDir: mkdtempSync(join(tmpdir(), 'sb-f-')) },
      ),
    ).rejects.toThrow(/corpus token id 99 .* outside the model's vocabulary of 60/);
  });
});
