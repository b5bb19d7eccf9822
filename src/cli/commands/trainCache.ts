/**
 * `spinbath train cache`: build the field cache of a score config without training, whole or one
 * shard of it (training/fieldCacheShards.ts), and `spinbath train cache merge` to join the shards:
 *
 *   spinbath train cache --config configs/score/NAME.json [--model M] [--cache-dir DIR] [--shard i/n] [--batch-tokens N]
 *   spinbath train cache merge [--cache-dir DIR]
 *
 * `spinbath train --config … --cache-dir DIR` then finds the merged cache (or merges a complete shard
 * set itself). Progress lines on stderr; what was written on stdout.
 */
import { resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { parseShard } from '../../io/shard.js';
import { loadScoreConfig } from '../../../training/config.js';
import { fieldCacheJobs, runIdentity } from '../../../training/data.js';
import { loadOrBuildFieldCache } from '../../../training/fieldCache.js';
import { buildFieldCacheShard, mergeAllShardSets } from '../../../training/fieldCacheShards.js';
import type { TrainCacheArgs } from '../defs/training.js';
import { initBackend, type Io } from '../io.js';
import { openModel } from './model-args.js';

async function cacheDirOf(arg: string | undefined): Promise<string> {
  return resolve(arg ?? (await import('../../data/tokenCache.js')).defaultCacheDir());
}

/** `spinbath train cache [--shard i/n]`. */
export async function runTrainCache(io: Io, a: TrainCacheArgs): Promise<void> {
  if (a.config === undefined) throw new UserError('E_ARG', 'train cache needs --config FILE (a score config, e.g. configs/score/brown-small.json)');
  const shard = a.shard !== undefined ? parseShard(a.shard) : undefined; // bad input fails before any work
  const config = loadScoreConfig(a.config);
  const cacheDir = await cacheDirOf(a['cache-dir']);
  await initBackend(a);
  const say = (l: string) => (a.quiet ? undefined : io.err(`${l}\n`));
  const lm = await openModel(a, io);
  try {
    const { modelHash } = runIdentity(config, lm.model, lm.dir);
    for (const { split, ids, spec } of await fieldCacheJobs(config, lm.model, lm.dir, cacheDir)) {
      let last = 0;
      const onProgress = (done: number, total: number) => {
        if (Date.now() - last < 10_000 && done < total) return;
        last = Date.now();
        say(`field cache (${split}${shard ? `, shard ${shard.index}/${shard.count}` : ''}): ${done}/${total} windows`);
      };
      if (shard) {
        const r = await buildFieldCacheShard(lm.model, modelHash, ids, spec, shard, { cacheDir, batchTokens: a['batch-tokens'], onProgress });
        io.out(
          `${r.status === 'hit' ? 'found' : 'wrote'} shard ${shard.index}/${shard.count} of the ${split} field cache: ${r.pairs} pairs in ${r.groups} forward groups, ${r.dir}\n`,
        );
      } else {
        const r = await loadOrBuildFieldCache(lm.model, modelHash, ids, spec, {
          cacheDir,
          rebuildStale: config.data.rebuild_stale_cache,
          batchTokens: a['batch-tokens'],
          onProgress,
        });
        io.out(`${r.status === 'hit' ? 'found' : r.status} the ${split} field cache: ${r.pairs.n} pairs, ${r.manifestPath}\n`);
      }
    }
  } finally {
    lm.dispose();
  }
}

/** `spinbath train cache merge`. */
export async function runTrainCacheMerge(io: Io, a: { 'cache-dir'?: string }): Promise<void> {
  for (const r of mergeAllShardSets(await cacheDirOf(a['cache-dir']))) io.out(`merged ${r.pairs} pairs into ${r.manifest}\n`);
}
