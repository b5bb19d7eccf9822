/**
 * On-disk cache of context fields N_proj (BL Eq. 14; source in
 * src/field/source.ts) for every (context, next-token) pair of a corpus split, so that score
 * training never re-runs the language model.
 *
 * Pairs: the token stream is cut into windows of `context` tokens starting every `stride`
 * tokens; one forward per window (contextFieldsAll) gives the field at every position p, paired
 * with the next token ids[p+1]. The first window keeps all its positions, later ones their last
 * `stride` (so each kept position has ≥ context − stride tokens of context). At most
 * `maxPairs` pairs, in stream order.
 *
 * Files, in the cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR):
 *   fields-<model12>-<split>-<key8>.fields.bin   fp16 little-endian, [count, d] raw N (not normalised)
 *   fields-<model12>-<split>-<key8>.tokens.bin   uint32 little-endian next-token ids [count]
 *   fields-<model12>-<split>-<key8>.json         manifest: model hash, field source, corpus hash,
 *                                                 windows, d, vocab, count, sha256 of both files
 * (key8 hashes the source and the window settings). The bins are written before the manifest,
 * all atomically. A manifest that disagrees with the request or with its files is stale: the
 * cache is rebuilt, or refused with one line when rebuilding is turned off.
 *
 * Shards (training/fieldCacheShards.ts, `spinbath train cache --shard i/n`): the windows run in forward
 * groups of `forwardPlan().perCall`; shard i builds the groups ≡ i (mod n) into
 * <base>.shards/<i>-of-<n>/, and the merge concatenates the groups in order, so the merged files
 * are byte-identical to an unsharded build. When no valid cache exists but a complete shard set
 * does, loadOrBuildFieldCache merges it instead of building.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readData } from '../src/backend.js';
import { UserError } from '../src/errors.js';
import { atomicWrite, atomicWriteJson } from '../src/io/atomic.js';
import { contextFieldsAll, fieldSourceId, type FieldSource } from '../src/field/source.js';
import type { LanguageModel } from '../src/model/engine.js';
import { f16ToF32, f32ArrayToF16 } from '../src/model/halfFloat.js';
import { shardIndices, type Shard } from '../src/io/shard.js';

export const FIELD_CACHE_FORMAT = 'spinbath-field-cache';
export const FIELD_CACHE_VERSION = 1;

/** (context, next-token) pairs: raw fields as fp16 bits [n·d] (or fp32, or none) and next-token ids [n]. */
export interface PairSet {
  n: number;
  d: number;
  tokens: Int32Array;
  fields: Uint16Array | Float32Array | null;
}

/** What a field cache holds: split, field source, context window, stride and maximum number of pairs. */
export interface FieldCacheSpec {
  split: string;
  source: FieldSource;
  context: number;
  stride: number;
  maxPairs: number | null;
}

export interface FieldCacheManifest {
  format: typeof FIELD_CACHE_FORMAT;
  version: number;
  modelHash: string;
  fieldSource: string;
  corpusHash: string;
  split: string;
  context: number;
  stride: number;
  maxPairs: number | null;
  d: number;
  vocab: number;
  count: number;
  dtype: 'F16';
  fieldsFile: string;
  tokensFile: string;
  fieldsSha256: string;
  tokensSha256: string;
}

/** A loaded or freshly built field cache: the pairs, hit / built / rebuilt (and why), and the build cost. */
export interface FieldCacheResult {
  pairs: PairSet;
  status: 'hit' | 'built' | 'rebuilt' | 'merged';
  /** Why an existing cache was stale (empty otherwise). */
  reason: string;
  manifestPath: string;
  /** Seconds spent building (0 for a hit) and tokens run through the model. */
  buildSeconds: number;
  tokensForwarded: number;
}

/** Options of {@link loadOrBuildFieldCache}: directory, stale-cache policy, tokens per forward, progress. */
export interface FieldCacheOptions {
  cacheDir?: string;
  /** Rebuild a stale cache (default) or refuse with a UserError. */
  rebuildStale?: boolean;
  /** Tokens per forward call (windows batched, or chunked with a KV cache, up to this). Default: a 512 MB budget (forwardPlan). */
  batchTokens?: number;
  /** Called after each forward call while building. */
  onProgress?: (done: number, total: number) => void;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** sha256 of a token id stream (its little-endian bytes as stored). */
export function corpusHash(ids: Uint16Array | Uint32Array | Int32Array): string {
  return sha256(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)) + `:${ids.BYTES_PER_ELEMENT}`;
}

/** Window starts and the kept position range [from, to) of each window (see the file comment). */
export function pairWindows(
  nTokens: number,
  context: number,
  stride: number,
  maxPairs: number | null,
): { start: number; len: number; from: number; to: number }[] {
  const out: { start: number; len: number; from: number; to: number }[] = [];
  const usable = nTokens - 1; // the last token has no next token
  if (usable < 1) return out;
  const W = Math.min(context, usable);
  let kept = 0;
  const cap = maxPairs ?? Infinity;
  for (let start = 0; start + W <= usable && kept < cap; start += stride) {
    const from = start === 0 ? 0 : Math.max(0, W - stride);
    const to = Math.min(W, from + (cap - kept));
    out.push({ start, len: W, from, to });
    kept += to - from;
  }
  return out;
}

/** The files of the cache of `spec` under model hash `model` in `dir`, and the directory of its shards. */
export function fieldCachePaths(dir: string, model: string, spec: FieldCacheSpec) {
  const key = sha256(JSON.stringify([fieldSourceId(spec.source), spec.context, spec.stride, spec.maxPairs])).slice(0, 8);
  return fieldCachePathsOfBase(dir, `fields-${model.slice(0, 12)}-${spec.split}-${key}`);
}

/** The files of the cache named `base` in `dir`. */
export function fieldCachePathsOfBase(dir: string, base: string) {
  return {
    manifest: join(dir, `${base}.json`),
    fields: join(dir, `${base}.fields.bin`),
    tokens: join(dir, `${base}.tokens.bin`),
    shards: join(dir, `${base}.shards`),
    base,
  };
}
export type FieldCachePaths = ReturnType<typeof fieldCachePathsOfBase>;

/** What a manifest must say to serve a request (everything but the counts and checksums). */
export type FieldCacheWant = Omit<FieldCacheManifest, 'count' | 'fieldsSha256' | 'tokensSha256'>;

/** The manifest fields a cache of `spec` for this model, hash and corpus must carry. */
export function fieldCacheWant(
  model: Pick<LanguageModel, 'dModel' | 'vocab'>,
  hash: string,
  ids: Uint16Array | Uint32Array,
  spec: FieldCacheSpec,
  paths: FieldCachePaths,
): FieldCacheWant {
  return {
    format: FIELD_CACHE_FORMAT,
    version: FIELD_CACHE_VERSION,
    modelHash: hash,
    fieldSource: fieldSourceId(spec.source),
    corpusHash: corpusHash(ids),
    split: spec.split,
    context: spec.context,
    stride: spec.stride,
    maxPairs: spec.maxPairs,
    d: model.dModel,
    vocab: model.vocab,
    dtype: 'F16',
    fieldsFile: basename(paths.fields),
    tokensFile: basename(paths.tokens),
  };
}

/** Why manifest `m` does not match `want` (format, model, source, corpus, windows, shape), or ''. */
export function manifestMismatch(m: Partial<FieldCacheManifest>, want: FieldCacheWant): string {
  if (m?.format !== FIELD_CACHE_FORMAT || m.version !== FIELD_CACHE_VERSION) return 'cache format changed';
  if (m.modelHash !== want.modelHash) return 'the language model changed';
  if (m.fieldSource !== want.fieldSource) return `field source differs (${m.fieldSource} vs ${want.fieldSource})`;
  if (m.corpusHash !== want.corpusHash) return 'the corpus tokens changed';
  if (m.split !== want.split || m.context !== want.context || m.stride !== want.stride || m.maxPairs !== want.maxPairs) return 'window settings differ';
  if (m.d !== want.d || m.vocab !== want.vocab) return 'model shape differs';
  return '';
}

export function bytesOf(a: Uint16Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Read `count` pairs of dimension d from the two bins, checking sizes and sha256: the pairs, or why not. */
export function readPairFiles(
  fieldsPath: string,
  tokensPath: string,
  m: Pick<FieldCacheManifest, 'count' | 'd' | 'fieldsSha256' | 'tokensSha256'>,
): { reason: string } | { pairs: PairSet } {
  if (!existsSync(fieldsPath) || !existsSync(tokensPath)) return { reason: 'a data file is missing' };
  const fb = readFileSync(fieldsPath);
  const tb = readFileSync(tokensPath);
  if (fb.byteLength !== m.count * m.d * 2 || tb.byteLength !== m.count * 4) return { reason: 'a data file has the wrong size' };
  if (sha256(fb) !== m.fieldsSha256 || sha256(tb) !== m.tokensSha256) return { reason: 'a data file checksum differs' };
  const fields = new Uint16Array(m.count * m.d);
  new Uint8Array(fields.buffer).set(fb);
  const tok = new Uint32Array(m.count);
  new Uint8Array(tok.buffer).set(tb);
  return { pairs: { n: m.count, d: m.d, tokens: Int32Array.from(tok), fields } };
}

/** Write the two bins, then the manifest (each atomically): a crash leaves no manifest over missing data. */
export function writePairFiles(
  fieldsPath: string,
  tokensPath: string,
  manifestPath: string,
  fields: Uint8Array | Uint8Array[],
  tokens: Uint8Array | Uint8Array[],
  manifest: object,
): void {
  const digest = (b: Uint8Array | Uint8Array[]) => {
    const h = createHash('sha256');
    for (const p of Array.isArray(b) ? b : [b]) h.update(p);
    return h.digest('hex');
  };
  atomicWrite(fieldsPath, fields);
  atomicWrite(tokensPath, tokens);
  atomicWriteJson(manifestPath, { ...manifest, fieldsSha256: digest(fields), tokensSha256: digest(tokens) });
}

/** Why a cache cannot serve the request, or its pairs. */
function validate(paths: FieldCachePaths, want: FieldCacheWant): { reason: string } | { pairs: PairSet } {
  if (!existsSync(paths.manifest)) return { reason: 'no manifest' };
  let m: FieldCacheManifest;
  try {
    m = JSON.parse(readFileSync(paths.manifest, 'utf8')) as FieldCacheManifest;
  } catch {
    return { reason: 'manifest is not valid JSON' };
  }
  const why = manifestMismatch(m, want);
  if (why) return { reason: why };
  return readPairFiles(paths.fields, paths.tokens, m);
}

/**
 * Fields of every pair of `ids` under `model` and `spec`, from the cache when valid, else built
 * (one forward per window) and written. `hash` is modelHash(dir) of the model.
 */
export async function loadOrBuildFieldCache(
  model: LanguageModel,
  hash: string,
  ids: Uint16Array | Uint32Array,
  spec: FieldCacheSpec,
  opts: FieldCacheOptions = {},
): Promise<FieldCacheResult> {
  // imported here, not at the top: the token cache pulls in the BPE trainer (@huggingface/transformers, ~130 MB)
  const dir = resolve(opts.cacheDir ?? (await import('../src/data/tokenCache.js')).defaultCacheDir());
  const paths = fieldCachePaths(dir, hash, spec);
  const want = fieldCacheWant(model, hash, ids, spec, paths);
  const found = validate(paths, want);
  if ('pairs' in found) return { pairs: found.pairs, status: 'hit', reason: '', manifestPath: paths.manifest, buildSeconds: 0, tokensForwarded: 0 };
  if (existsSync(paths.shards)) {
    // shards built by `spinbath train cache --shard i/n`: merge them (a one-line error when incomplete or mismatched)
    const { mergeShardSet } = await import('./fieldCacheShards.js');
    const t0 = performance.now();
    const pairs = mergeShardSet(paths, want);
    return { pairs, status: 'merged', reason: '', manifestPath: paths.manifest, buildSeconds: (performance.now() - t0) / 1000, tokensForwarded: 0 };
  }
  const stale = existsSync(paths.manifest);
  if (stale && opts.rebuildStale === false) {
    throw new UserError(
      'E_FILE',
      `the field cache ${paths.manifest} is stale (${found.reason}); delete it, or set data.rebuild_stale_cache to true to rebuild it`,
    );
  }
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= model.vocab)
      throw new UserError(
        'E_INPUT',
        `corpus token id ${ids[i]} (position ${i}) is outside the model's vocabulary of ${model.vocab}; the tokenizer does not match the model`,
      );
  }
  const t0 = performance.now();
  const { pairs, forwarded } = await buildPairs(model, ids, spec, opts);
  const buildSeconds = (performance.now() - t0) / 1000;
  try {
    writePairFiles(paths.fields, paths.tokens, paths.manifest, bytesOf(pairs.fields as Uint16Array), bytesOf(Uint32Array.from(pairs.tokens)), {
      ...want,
      count: pairs.n,
    } satisfies Omit<FieldCacheManifest, 'fieldsSha256' | 'tokensSha256'>);
  } catch (e) {
    throw new UserError('E_FILE', `cannot write the field cache in ${dir} (${(e as Error).message}); give a writable --cache-dir or set SPINBATH_CACHE_DIR`);
  }
  return {
    pairs,
    status: stale ? 'rebuilt' : 'built',
    reason: stale ? found.reason : '',
    manifestPath: paths.manifest,
    buildSeconds,
    tokensForwarded: forwarded,
  };
}

/**
 * How to run windows of W tokens within a memory budget: `perCall` windows per forward, each in
 * chunks of `chunk` positions (chunk < W continues a KV cache). The hooked forward keeps every
 * block's intermediates until it returns, ~4·n_layer·(40·d + 3·H·W) bytes per token.
 */
export function forwardPlan(model: LanguageModel, W: number, budgetBytes = 512 * 2 ** 20): { perCall: number; chunk: number } {
  const perToken = 4 * model.nLayer * (40 * model.dModel + 3 * model.nHead * W);
  const tokens = Math.max(1, Math.floor(budgetBytes / perToken));
  return tokens >= W ? { perCall: Math.floor(tokens / W), chunk: W } : { perCall: 1, chunk: tokens };
}

/** What {@link buildPairs} built: the pairs, tokens forwarded, and its forward groups (all, or one shard's) with their pair counts. */
export interface BuiltPairs {
  pairs: PairSet;
  forwarded: number;
  /** Forward groups of the whole build, of `perCall` windows each. */
  totalGroups: number;
  perCall: number;
  /** The groups built here, ascending, and the pairs of each. */
  groups: number[];
  groupPairs: number[];
}

/**
 * Run the windows through the model (batched, chunked: forwardPlan) and collect fp16 fields and next
 * tokens; with `shard`, only the forward groups ≡ shard.index (mod shard.count), in order.
 */
export async function buildPairs(
  model: LanguageModel,
  ids: ArrayLike<number>,
  spec: FieldCacheSpec,
  opts: Pick<FieldCacheOptions, 'batchTokens' | 'onProgress'> & { shard?: Shard } = {},
): Promise<BuiltPairs> {
  if (spec.context > model.nPositions) {
    throw new UserError('E_CONFIG', `field.context ${spec.context} exceeds the model's context of ${model.nPositions} positions; lower it`);
  }
  const windows = pairWindows(ids.length, spec.context, spec.stride, spec.maxPairs);
  const d = model.dModel;
  const W = windows[0]?.len ?? 0;
  const plan = forwardPlan(model, W, opts.batchTokens ? opts.batchTokens * 4 * model.nLayer * (40 * d + 3 * model.nHead * W) : undefined);
  const totalGroups = Math.ceil(windows.length / plan.perCall);
  const groups = opts.shard ? shardIndices(totalGroups, opts.shard) : Array.from({ length: totalGroups }, (_, g) => g);
  const groupWindows = (g: number) => windows.slice(g * plan.perCall, (g + 1) * plan.perCall);
  const groupPairs = groups.map((g) => groupWindows(g).reduce((a, w) => a + (w.to - w.from), 0));
  const count = groupPairs.reduce((a, b) => a + b, 0);
  const totalWindows = groups.reduce((a, g) => a + groupWindows(g).length, 0);
  const fields = new Uint16Array(count * d);
  const tokens = new Int32Array(count);
  let row = 0;
  let forwarded = 0;
  let doneWindows = 0;
  for (const g of groups) {
    const group = groupWindows(g);
    const batch = group.map((w) => Array.from({ length: w.len }, (_, k) => ids[w.start + k]));
    const host = new Float32Array(group.length * W * d); // [group, W, d]
    const cache = plan.chunk < W ? model.newCache() : undefined;
    try {
      for (let c0 = 0; c0 < W; c0 += plan.chunk) {
        const c1 = Math.min(W, c0 + plan.chunk);
        const part = await contextFieldsAll(
          model,
          batch.map((r) => r.slice(c0, c1)),
          spec.source,
          cache,
        ); // [group, c1 − c0, d]
        let vals: Float32Array;
        try {
          vals = (await readData(part)) as Float32Array;
        } finally {
          part.dispose();
        }
        for (let b = 0; b < group.length; b++) host.set(vals.subarray(b * (c1 - c0) * d, (b + 1) * (c1 - c0) * d), (b * W + c0) * d);
      }
    } finally {
      cache?.dispose();
    }
    forwarded += group.length * W;
    group.forEach((w, b) => {
      const slice = host.subarray((b * W + w.from) * d, (b * W + w.to) * d);
      const half = f32ArrayToF16(slice);
      for (let k = 0; k < half.length; k++) {
        if ((half[k] & 0x7c00) === 0x7c00)
          throw new UserError(
            'E_NUMERIC',
            `a context field value (${slice[k]}) is not finite in fp16 (window at token ${w.start}); the field source is out of fp16 range`,
          );
      }
      fields.set(half, row * d);
      for (let p = w.from; p < w.to; p++) tokens[row + p - w.from] = ids[w.start + p + 1];
      row += w.to - w.from;
    });
    doneWindows += group.length;
    opts.onProgress?.(doneWindows, totalWindows);
  }
  return { pairs: { n: count, d, tokens, fields }, forwarded, totalGroups, perCall: plan.perCall, groups, groupPairs };
}

/** Raw fields of rows `idx` as fp32 [idx.length·d]. */
export function gatherFields(p: PairSet, idx: ArrayLike<number>): Float32Array {
  const d = p.d;
  const out = new Float32Array(idx.length * d);
  if (!p.fields) return out;
  const f = p.fields;
  for (let i = 0; i < idx.length; i++) {
    const o = idx[i] * d;
    if (f instanceof Float32Array) out.set(f.subarray(o, o + d), i * d);
    else for (let k = 0; k < d; k++) out[i * d + k] = HALF_TABLE[f[o + k]];
  }
  return out;
}

/** All 65536 fp16 values as fp32 (fast decoding of batches). */
const HALF_TABLE: Float32Array = Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h));

/** A device tensor of rows `idx` of the fields [idx.length, d] (tf.tensor2d). */
export function fieldTensor(p: PairSet, idx: ArrayLike<number>): tf.Tensor {
  return tf.tensor2d(gatherFields(p, idx), [idx.length, p.d]);
}
