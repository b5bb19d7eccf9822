/**
 * Sharded build of the field cache (training/fieldCache.ts) the sweep way: `spinbath train cache
 * --config FILE --shard i/n` builds the forward groups ≡ i (mod n) of every split (src/io/shard.ts,
 * the sweep's convention) into
 *
 *   <cache>/<base>.shards/<i>-of-<n>/fields.bin, tokens.bin, shard.json
 *
 * (bins first, then the manifest, each atomically; the shard directory is locked while it is built,
 * and a shard whose manifest and files agree is not built again, so a pre-empted array task is just
 * rerun). `spinbath train cache merge` — or `spinbath train` itself, when it finds no cache but a
 * shard set — checks that all n shards are there and were built for the same model, corpus, field
 * source and windows, and concatenates their groups in order into the ordinary cache files: byte for
 * byte the unsharded build, because every shard runs exactly the unsharded build's forward batches.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../src/errors.js';
import { acquireRunLock } from '../src/io/lock.js';
import type { Shard } from '../src/io/shard.js';
import type { LanguageModel } from '../src/model/engine.js';
import {
  buildPairs,
  bytesOf,
  fieldCachePaths,
  fieldCachePathsOfBase,
  fieldCacheWant,
  manifestMismatch,
  readPairFiles,
  writePairFiles,
  type FieldCacheManifest,
  type FieldCachePaths,
  type FieldCacheSpec,
  type FieldCacheWant,
  type PairSet,
} from './fieldCache.js';

export const SHARD_MANIFEST = 'shard.json';

/** A shard's manifest: the whole cache's identity, which shard, and the forward groups it holds. */
export interface FieldCacheShardManifest extends FieldCacheWant {
  shard: Shard;
  totalGroups: number;
  perCall: number;
  groups: number[];
  groupPairs: number[];
  count: number;
  fieldsSha256: string;
  tokensSha256: string;
}

/** The directory of shard i of n. */
export function shardDir(paths: FieldCachePaths, shard: Shard): string {
  return join(paths.shards, `${shard.index}-of-${shard.count}`);
}

function readShard(dir: string): FieldCacheShardManifest | null {
  const file = join(dir, SHARD_MANIFEST);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FieldCacheShardManifest;
  } catch {
    return null;
  }
}

/** What {@link buildFieldCacheShard} did. */
export interface ShardBuildResult {
  dir: string;
  status: 'hit' | 'built';
  pairs: number;
  groups: number;
  buildSeconds: number;
}

/** Build shard `shard` of the cache of `spec` (or find it already built) under `cacheDir`. */
export async function buildFieldCacheShard(
  model: LanguageModel,
  hash: string,
  ids: Uint16Array | Uint32Array,
  spec: FieldCacheSpec,
  shard: Shard,
  opts: { cacheDir: string; batchTokens?: number; onProgress?: (done: number, total: number) => void },
): Promise<ShardBuildResult> {
  const paths = fieldCachePaths(opts.cacheDir, hash, spec);
  const want = fieldCacheWant(model, hash, ids, spec, paths);
  const dir = shardDir(paths, shard);
  const lock = acquireRunLock(dir, `train cache --shard ${shard.index}/${shard.count}`);
  try {
    const old = readShard(dir);
    if (
      old &&
      !manifestMismatch(old, want) &&
      old.shard?.count === shard.count &&
      'pairs' in readPairFiles(join(dir, 'fields.bin'), join(dir, 'tokens.bin'), old)
    )
      return { dir, status: 'hit', pairs: old.count, groups: old.groups.length, buildSeconds: 0 };
    for (let i = 0; i < ids.length; i++)
      if (ids[i] >= model.vocab)
        throw new UserError(
          'E_INPUT',
          `corpus token id ${ids[i]} (position ${i}) is outside the model's vocabulary of ${model.vocab}; the tokenizer does not match the model`,
        );
    const t0 = performance.now();
    const built = await buildPairs(model, ids, spec, { shard, batchTokens: opts.batchTokens, onProgress: opts.onProgress });
    const manifest: Omit<FieldCacheShardManifest, 'fieldsSha256' | 'tokensSha256'> = {
      ...want,
      shard,
      totalGroups: built.totalGroups,
      perCall: built.perCall,
      groups: built.groups,
      groupPairs: built.groupPairs,
      count: built.pairs.n,
    };
    writePairFiles(
      join(dir, 'fields.bin'),
      join(dir, 'tokens.bin'),
      join(dir, SHARD_MANIFEST),
      bytesOf(built.pairs.fields as Uint16Array),
      bytesOf(Uint32Array.from(built.pairs.tokens)),
      manifest,
    );
    return { dir, status: 'built', pairs: built.pairs.n, groups: built.groups.length, buildSeconds: (performance.now() - t0) / 1000 };
  } finally {
    lock.release();
  }
}

/**
 * Merge the shard set of `paths` into the cache files (see the file comment). `want`: what the
 * shards must have been built for (null: whatever they agree on — `train cache merge`).
 * One-line UserErrors: no shards, shards of different counts, missing shards, a damaged shard, or
 * shards built for another model / corpus / config.
 */
export function mergeShardSet(paths: FieldCachePaths, want: FieldCacheWant | null): PairSet {
  const lock = acquireRunLock(paths.shards, 'train cache merge');
  try {
    const names = readdirSync(paths.shards).filter((n) => /^\d+-of-\d+$/.test(n));
    const counts = [...new Set(names.map((n) => Number(n.split('-of-')[1])))].sort((a, b) => a - b);
    if (counts.length === 0) throw new UserError('E_FILE', `${paths.shards} holds no shard; run \`spinbath train cache --config FILE --shard i/n\` first`);
    if (counts.length > 1)
      throw new UserError(
        'E_CONFIG',
        `${paths.shards} mixes shard sets of ${counts.join(' and ')}; delete the directories of the set you do not want (e.g. *-of-${counts[0]})`,
      );
    const n = counts[0];
    const shards: { dir: string; m: FieldCacheShardManifest }[] = [];
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      const dir = shardDir(paths, { index: i, count: n });
      const m = existsSync(dir) ? readShard(dir) : null;
      if (m) shards.push({ dir, m });
      else missing.push(i);
    }
    if (missing.length)
      throw new UserError(
        'E_FILE',
        `the field cache ${paths.base} is missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${n}`).join(', ')} in ${paths.shards}; run \`spinbath train cache --config FILE --shard ${missing[0]}/${n}\` for each`,
      );
    const ref = want ?? shards[0].m;
    const W = shards[0].m.totalGroups;
    for (const { dir, m } of shards) {
      const why =
        manifestMismatch(m, ref) ||
        (m.fieldsFile !== ref.fieldsFile ? 'cache name differs' : '') ||
        (m.totalGroups !== W || m.perCall !== shards[0].m.perCall ? 'forward groups differ (another --batch-tokens)' : '');
      if (why)
        throw new UserError(
          'E_CONFIG',
          `shard ${basename(dir)} of ${paths.base} was built for another configuration (${why}); rebuild it with the same --config and --model, or delete ${paths.shards}`,
        );
    }
    // groups in order: group g lives in shard g mod n, at its position among that shard's groups
    const parts = shards.map(({ dir, m }) => {
      const read = readPairFiles(join(dir, 'fields.bin'), join(dir, 'tokens.bin'), m);
      if ('reason' in read)
        throw new UserError(
          'E_FILE',
          `shard ${basename(dir)} of ${paths.base} is damaged (${read.reason}); rebuild it with \`spinbath train cache --shard ${m.shard.index}/${n}\``,
        );
      const offsets = [0];
      for (const c of m.groupPairs) offsets.push(offsets[offsets.length - 1] + c);
      return { m, pairs: read.pairs, offsets };
    });
    const d = ref.d;
    const count = parts.reduce((a, p) => a + p.m.count, 0);
    const fields = new Uint16Array(count * d);
    const tokens = new Uint32Array(count);
    let row = 0;
    for (let g = 0; g < W; g++) {
      const p = parts[g % n];
      const k = p.m.groups.indexOf(g);
      if (k < 0) throw new UserError('E_FILE', `shard ${g % n}/${n} of ${paths.base} lacks forward group ${g}; rebuild it`);
      const [a, b] = [p.offsets[k], p.offsets[k + 1]];
      fields.set((p.pairs.fields as Uint16Array).subarray(a * d, b * d), row * d);
      tokens.set(p.pairs.tokens.subarray(a, b), row);
      row += b - a;
    }
    const manifest: Omit<FieldCacheManifest, 'fieldsSha256' | 'tokensSha256'> = { ...stripShard(ref), count };
    writePairFiles(paths.fields, paths.tokens, paths.manifest, bytesOf(fields), bytesOf(tokens), manifest);
    return { n: count, d, tokens: Int32Array.from(tokens), fields };
  } finally {
    lock.release();
  }
}

function stripShard(m: FieldCacheWant | FieldCacheShardManifest): FieldCacheWant {
  return {
    format: m.format,
    version: m.version,
    modelHash: m.modelHash,
    fieldSource: m.fieldSource,
    corpusHash: m.corpusHash,
    split: m.split,
    context: m.context,
    stride: m.stride,
    maxPairs: m.maxPairs,
    d: m.d,
    vocab: m.vocab,
    dtype: m.dtype,
    fieldsFile: m.fieldsFile,
    tokensFile: m.tokensFile,
  };
}

/** Merge every shard set in `cacheDir` (`spinbath train cache merge`): the caches written. */
export function mergeAllShardSets(cacheDir: string): { manifest: string; pairs: number }[] {
  const sets = existsSync(cacheDir) ? readdirSync(cacheDir).filter((n) => n.endsWith('.shards')) : [];
  if (sets.length === 0)
    throw new UserError(
      'E_FILE',
      `${cacheDir} holds no field-cache shards; run \`spinbath train cache --config FILE --shard i/n --cache-dir ${cacheDir}\` first`,
    );
  return sets.map((s) => {
    const base = s.slice(0, -'.shards'.length);
    const paths = fieldCachePathsOfBase(cacheDir, base);
    return { manifest: paths.manifest, pairs: mergeShardSet(paths, null).n };
  });
}
