/**
 * Training data of the residual score (Bhattacharjee & Lee, Sec. V D): token spins
 * S = W_E[t]/|W_E[t]| ∈ S^{d−1} (d = n_embd) and (context field N_proj, next token) pairs from the
 * Brown train / validation splits, run once through the language model into the field cache
 * (training/fieldCache.ts). The tokens come from the model directory's own tokenizer through the
 * token cache (src/data/tokenCache.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { normalizeSpins } from '../src/core/sphere.js';
import { loadTokenizerDir } from '../src/data/bpe.js';
import { loadOrBuildTokenCache } from '../src/data/tokenCache.js';
import { UserError } from '../src/errors.js';
import { checkFieldSource, fieldSourceId } from '../src/field/source.js';
import type { LanguageModel } from '../src/model/engine.js';
import { checkTokenizerFitsModel } from '../src/model/tokenizer.js';
import type { RunIdentity } from './checkpoint.js';
import { configFieldSource, type ScoreConfig } from './config.js';
import { modelHash } from '../src/score/identity.js';
import { loadOrBuildFieldCache, type FieldCacheResult, type FieldCacheSpec } from './fieldCache.js';
import type { TrainData } from './train.js';

/** Token spins: the unit-normalised rows of the token-embedding matrix, [vocab, d] (kept). */
export function tokenSpins(model: LanguageModel): tf.Tensor {
  return tf.keep(normalizeSpins(model.params().get('embed.W_E')!));
}

/** What a run trained against this model and config would record (cheap: no data). */
export function runIdentity(config: ScoreConfig, model: LanguageModel, dir: string): RunIdentity {
  const source = configFieldSource(config);
  const bad = checkFieldSource(source, model.nLayer, model.nHead);
  if (bad) throw new UserError('E_CONFIG', `field.source: ${bad}; choose a source inside the model`);
  if (config.field.context > model.nPositions) {
    throw new UserError('E_CONFIG', `field.context ${config.field.context} exceeds the model's context of ${model.nPositions} positions; lower it`);
  }
  return { modelHash: modelHash(dir), d: model.dModel, vocab: model.vocab, fieldSource: fieldSourceId(source) };
}

/** Training and validation pairs with token spins and run identity, from cached fields. */
export interface PreparedData extends TrainData {
  caches: { train: FieldCacheResult; validation: FieldCacheResult };
  /** Release the tensors (token spins). */
  dispose(): void;
}

/** Options of {@link prepareScoreData}. */
export interface PrepareOptions {
  /** Token and field cache directory (default SPINBATH_CACHE_DIR or ./.spinbath-cache). */
  cacheDir?: string;
  /** Receives one line per cache hit, build or rebuild. */
  log?: (line: string) => void;
  /** Called while a split's field cache is built. */
  onProgress?: (split: string, done: number, total: number) => void;
}

/** The field caches a score config needs (train and validation), with their corpus tokens: what `train` and `train cache` build. */
export async function fieldCacheJobs(
  config: ScoreConfig,
  model: LanguageModel,
  dir: string,
  cacheDir?: string,
  onNote?: (line: string) => void,
): Promise<{ split: 'train' | 'validation'; ids: Uint16Array | Uint32Array; spec: FieldCacheSpec }[]> {
  if (!existsSync(join(dir, 'tokenizer.json'))) {
    throw new UserError(
      'E_FILE',
      `model directory ${dir} has no tokenizer.json; score training tokenises Brown with the model's own tokenizer (export the model with \`spinbath lm train\` or copy its tokenizer files there)`,
    );
  }
  const tok = await loadTokenizerDir(dir);
  checkTokenizerFitsModel({ vocabSize: tok.vocabSize, eosId: tok.eotId }, model.vocab, dir, onNote);
  const source = configFieldSource(config);
  const stride = config.field.stride ?? config.field.context;
  return (['train', 'validation'] as const).map((split) => ({
    split,
    ids: loadOrBuildTokenCache(split, tok, { cacheDir }).ids,
    spec: { split, source, context: config.field.context, stride, maxPairs: split === 'train' ? config.data.train_tokens : config.data.val_tokens },
  }));
}

/** Token caches → field caches (built once, or merged from shards) → pairs, spins and identity for trainScore. */
export async function prepareScoreData(config: ScoreConfig, model: LanguageModel, dir: string, opts: PrepareOptions = {}): Promise<PreparedData> {
  const identity = runIdentity(config, model, dir);
  const log = opts.log ?? (() => {});
  const caches = {} as PreparedData['caches'];
  for (const { split, ids, spec } of await fieldCacheJobs(config, model, dir, opts.cacheDir, log)) {
    const r = await loadOrBuildFieldCache(model, identity.modelHash, ids, spec, {
      cacheDir: opts.cacheDir,
      rebuildStale: config.data.rebuild_stale_cache,
      onProgress: (a, b) => opts.onProgress?.(split, a, b),
    });
    if (r.status === 'hit') log(`field cache (${split}): ${r.pairs.n} pairs from ${r.manifestPath}`);
    else if (r.status === 'merged') log(`field cache (${split}) merged from its shards: ${r.pairs.n} pairs into ${r.manifestPath}`);
    else {
      const why = r.status === 'rebuilt' ? ` (stale: ${r.reason})` : '';
      log(
        `field cache (${split}) ${r.status}${why}: ${r.pairs.n} pairs, ${r.tokensForwarded} tokens through the model in ${r.buildSeconds.toFixed(1)} s (${((1000 * r.buildSeconds) / Math.max(1, r.tokensForwarded)).toFixed(3)} s per 1000 tokens)`,
      );
    }
    caches[split] = r;
  }
  const spins = tokenSpins(model);
  return { train: caches.train.pairs, validation: caches.validation.pairs, spins, identity, caches, dispose: () => spins.dispose() };
}
