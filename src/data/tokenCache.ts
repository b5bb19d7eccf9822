/**
 * On-disk cache of the token ids of one Brown split under one tokenizer.
 *
 * Two files per (split, tokenizer) in the cache directory (default `.spinbath-cache/` under the
 * current working directory; pass `cacheDir` or set SPINBATH_CACHE_DIR to change it):
 *   brown-<split>-<hash12>.bin   little-endian uint16 ids (uint32 when vocab > 65536)
 *   brown-<split>-<hash12>.json  manifest: tokenizer hash, split, corpus version, dtype, token
 *                                count, document ids and offsets, sha256 of the .bin
 * Each document's tokens are followed by `<|endoftext|>`; document i occupies
 * ids[docOffsets[i] .. docOffsets[i+1]) with its `<|endoftext|>` last. The .bin is written
 * before the manifest, both atomically, so a manifest always describes a complete file.
 * A manifest that is unreadable or disagrees with the request (tokenizer hash, split, corpus
 * version, format) or with its .bin (size, sha256) is stale: the cache is rebuilt.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { atomicWrite, atomicWriteJson } from '../io/atomic.js';
import { BROWN_SPLITS, brownCorpusVersion, brownSplit, type SplitName } from './brown.js';
import { encodeCorpus, sha256Hex, type BpeTokenizer } from './bpe.js';

export const TOKEN_CACHE_FORMAT = 'spinbath-token-cache';
export const TOKEN_CACHE_FORMAT_VERSION = 1;

export interface TokenCacheManifest {
  format: typeof TOKEN_CACHE_FORMAT;
  formatVersion: number;
  corpus: 'brown';
  corpusVersion: string;
  split: SplitName;
  /** sha256 of the tokenizer's tokenizer.json. */
  tokenizerHash: string;
  vocabSize: number;
  eotId: number;
  dtype: 'uint16' | 'uint32';
  tokenCount: number;
  docIds: string[];
  /** docIds.length + 1 entries; the last equals tokenCount. */
  docOffsets: number[];
  /** File name of the ids, relative to the manifest. */
  binFile: string;
  binSha256: string;
}

export interface TokenCache {
  manifest: TokenCacheManifest;
  ids: Uint16Array | Uint32Array;
  /** 'hit': read from disk; 'built': no cache existed; 'rebuilt': an existing one was stale. */
  status: 'hit' | 'built' | 'rebuilt';
  /** Why a cache was rebuilt (empty for hit/built). */
  reason: string;
  manifestPath: string;
}

export interface TokenCacheOptions {
  /** Cache directory; default SPINBATH_CACHE_DIR or `.spinbath-cache` under the working directory. */
  cacheDir?: string;
  /** Rebuild even if a valid cache exists. */
  force?: boolean;
  /** Progress while tokenising: documents done, total, tokens so far. */
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** The cache directory used when none is given. */
export function defaultCacheDir(): string {
  const env = process.env.SPINBATH_CACHE_DIR;
  return resolve(env && env.trim() !== '' ? env : join(process.cwd(), '.spinbath-cache'));
}

/** Paths of the cache files for a split and tokenizer. */
export function tokenCachePaths(split: SplitName, tokenizerHash: string, cacheDir = defaultCacheDir()): { manifest: string; bin: string; binFile: string } {
  const base = `brown-${split}-${tokenizerHash.slice(0, 12)}`;
  return { manifest: join(cacheDir, `${base}.json`), bin: join(cacheDir, `${base}.bin`), binFile: `${base}.bin` };
}

function checkSplit(split: SplitName): void {
  if (!BROWN_SPLITS.includes(split)) {
    throw new UserError('E_ARG', `unknown split "${String(split)}": use one of ${BROWN_SPLITS.join(', ')}`);
  }
}

/** Little-endian bytes of an id array (copies only on a big-endian machine). */
function toLittleEndianBytes(ids: Uint16Array | Uint32Array): Uint8Array {
  const bytes = new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return bytes;
  const out = new Uint8Array(ids.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < ids.length; i++) {
    if (ids instanceof Uint16Array) view.setUint16(2 * i, ids[i], true);
    else view.setUint32(4 * i, ids[i], true);
  }
  return out;
}

function fromLittleEndianBytes(bytes: Uint8Array, dtype: 'uint16' | 'uint32'): Uint16Array | Uint32Array {
  const width = dtype === 'uint16' ? 2 : 4;
  const n = bytes.byteLength / width;
  const out = dtype === 'uint16' ? new Uint16Array(n) : new Uint32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = width === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true);
  return out;
}

/**
 * Why the cache at `manifestPath` cannot serve (split, tokenizer), or null with its contents
 * when it can.
 */
export function validateTokenCache(
  manifestPath: string,
  split: SplitName,
  tok: Pick<BpeTokenizer, 'hash' | 'vocabSize' | 'eotId'>,
  corpusVersion = brownCorpusVersion(),
): { reason: string } | { manifest: TokenCacheManifest; ids: Uint16Array | Uint32Array } {
  if (!existsSync(manifestPath)) return { reason: 'no manifest' };
  let m: TokenCacheManifest;
  try {
    m = JSON.parse(readFileSync(manifestPath, 'utf8')) as TokenCacheManifest;
  } catch {
    return { reason: 'manifest is not valid JSON' };
  }
  if (m === null || typeof m !== 'object') return { reason: 'manifest is not an object' };
  if (m.format !== TOKEN_CACHE_FORMAT || m.formatVersion !== TOKEN_CACHE_FORMAT_VERSION) return { reason: 'cache format changed' };
  if (m.tokenizerHash !== tok.hash) return { reason: 'tokenizer changed' };
  if (m.split !== split) return { reason: 'split differs' };
  if (m.corpusVersion !== corpusVersion) return { reason: `corpus version changed (${m.corpusVersion} -> ${corpusVersion})` };
  if (m.vocabSize !== tok.vocabSize || m.eotId !== tok.eotId) return { reason: 'vocabulary size differs' };
  const dtype = tok.vocabSize <= 65536 ? 'uint16' : 'uint32';
  if (m.dtype !== dtype) return { reason: 'id width differs' };
  if (!Array.isArray(m.docIds) || !Array.isArray(m.docOffsets) || m.docOffsets.length !== m.docIds.length + 1) return { reason: 'document table is malformed' };
  if (m.docOffsets[m.docOffsets.length - 1] !== m.tokenCount) return { reason: 'document offsets do not end at the token count' };
  if (typeof m.binFile !== 'string' || m.binFile.includes('/') || m.binFile.includes('\\')) return { reason: 'bin file name is malformed' };
  const binPath = join(manifestPath, '..', m.binFile);
  if (!existsSync(binPath)) return { reason: 'token file is missing' };
  const bytes = readFileSync(binPath);
  if (bytes.byteLength !== m.tokenCount * (dtype === 'uint16' ? 2 : 4)) return { reason: 'token file has the wrong size' };
  if (sha256Hex(bytes) !== m.binSha256) return { reason: 'token file checksum differs' };
  return { manifest: m, ids: fromLittleEndianBytes(bytes, dtype) };
}

/**
 * Token ids of a Brown split under `tok`, from the cache when it is valid, otherwise
 * tokenised (paragraph by paragraph) and written to the cache.
 */
export function loadOrBuildTokenCache(split: SplitName, tok: BpeTokenizer, opts: TokenCacheOptions = {}): TokenCache {
  checkSplit(split);
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const paths = tokenCachePaths(split, tok.hash, cacheDir);
  const corpusVersion = brownCorpusVersion();
  const existing = validateTokenCache(paths.manifest, split, tok, corpusVersion);
  if ('manifest' in existing && !opts.force) {
    return { manifest: existing.manifest, ids: existing.ids, status: 'hit', reason: '', manifestPath: paths.manifest };
  }
  const hadManifest = existsSync(paths.manifest);
  const reason = 'manifest' in existing ? 'forced' : existing.reason;

  const docs = brownSplit(split);
  const { ids, docOffsets } = encodeCorpus(tok, docs, opts.onProgress);
  const bytes = toLittleEndianBytes(ids);
  const manifest: TokenCacheManifest = {
    format: TOKEN_CACHE_FORMAT,
    formatVersion: TOKEN_CACHE_FORMAT_VERSION,
    corpus: 'brown',
    corpusVersion,
    split,
    tokenizerHash: tok.hash,
    vocabSize: tok.vocabSize,
    eotId: tok.eotId,
    dtype: ids instanceof Uint16Array ? 'uint16' : 'uint32',
    tokenCount: ids.length,
    docIds: docs.map((d) => d.id),
    docOffsets,
    binFile: paths.binFile,
    binSha256: sha256Hex(bytes),
  };
  try {
    atomicWrite(paths.bin, bytes);
    atomicWriteJson(paths.manifest, manifest);
  } catch (e) {
    throw new UserError(
      'E_FILE',
      `cannot write the token cache in ${cacheDir} (${(e as Error).message}): give a writable --cache-dir or set SPINBATH_CACHE_DIR`,
    );
  }
  return { manifest, ids, status: hadManifest ? 'rebuilt' : 'built', reason: hadManifest ? reason : '', manifestPath: paths.manifest };
}

/** Token ids of document `i` of a cache, without its trailing `<|endoftext|>`. */
export function cachedDocumentIds(cache: Pick<TokenCache, 'manifest' | 'ids'>, i: number): Uint16Array | Uint32Array {
  const off = cache.manifest.docOffsets;
  if (!Number.isInteger(i) || i < 0 || i >= off.length - 1) {
    throw new UserError('E_ARG', `document index ${i} is out of range: the cache holds ${off.length - 1} documents (0..${off.length - 2})`);
  }
  return cache.ids.subarray(off[i], off[i + 1] - 1);
}
