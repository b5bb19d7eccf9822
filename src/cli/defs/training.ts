/**
 * The yargs definitions of `lm train`, `lm eval` and `train` (see defs/analysis.ts for the pattern).
 * Training runs write into a run directory (--out DIR) that is locked while they run.
 */
import type { Argv } from 'yargs';
import { intOpt, strOpt } from '../args.js';
import { SPACES } from '../../../sampling/choices.js';
import type { GlobalArgs, Io } from '../io.js';
import { engineOptions, modelOptions, type EngineArgs, type ModelArgs } from '../commands/model-args.js';

export const BROWN_SPLIT_CHOICES = ['train', 'validation', 'test'] as const;

/** The arguments of trainRunOptions. */
export interface TrainRunArgs {
  config?: string;
  resume: boolean;
  'stop-after'?: number;
  'cache-dir'?: string;
  out?: string;
}

export interface LmTrainArgs extends GlobalArgs, TrainRunArgs {}
export interface ScoreTrainArgs extends ModelArgs, TrainRunArgs {
  space: string;
}

export interface TrainCacheArgs extends ModelArgs {
  config?: string;
  shard?: string;
  'batch-tokens'?: number;
  'cache-dir'?: string;
}

export interface LmEvalArgs extends GlobalArgs, EngineArgs {
  model?: string;
  split: string;
  stride?: number;
  'batch-size': number;
  'max-tokens'?: number;
  'cache-dir'?: string;
  out?: string;
}

/** --config, --out, --resume, --stop-after and --cache-dir (described by `text`). */
export function trainRunOptions<T>(y: Argv<T>, text: { config: string; cacheDir: string; out: string }) {
  return y
    .option('config', { type: 'string', coerce: strOpt('config'), describe: text.config })
    .option('out', { type: 'string', coerce: strOpt('out'), describe: text.out })
    .option('resume', { type: 'boolean', default: false, describe: 'continue from the last checkpoint in --out' })
    .option('stop-after', {
      type: 'number',
      coerce: intOpt('stop-after', 1),
      describe: 'stop (after a checkpoint) once this many steps are done; continue later with --resume',
    })
    .option('cache-dir', { type: 'string', coerce: strOpt('cache-dir'), describe: text.cacheDir });
}

export function lmDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command('lm', 'train a GPT-2 language model on the Brown corpus, and measure its perplexity', (yy) =>
      yy
        .command(
          'train',
          'train (or --resume) a GPT-2 on Brown from configs/lm/NAME.json; checkpoints and the exported model go to --out',
          (c) =>
            trainRunOptions(c, {
              config: 'LM config JSON (configs/lm/tiny.json, configs/lm/brown-small.json)',
              cacheDir: 'token cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
              out: 'run DIR (required): checkpoints/, the exported model/, report.json, loss curve; locked while training',
            }),
          async (a) => (await import('../commands/lm.js')).runLmTrain(io, a),
        )
        .command(
          'eval',
          'token-level perplexity on a Brown split, with unigram and Kneser-Ney bigram baselines',
          (c) =>
            engineOptions(c)
              .option('model', { type: 'string', coerce: strOpt('model'), describe: 'model directory (config.json, model.safetensors, tokenizer.json)' })
              .option('split', { type: 'string', choices: BROWN_SPLIT_CHOICES, default: 'test', describe: 'Brown split' })
              .option('stride', { type: 'number', coerce: intOpt('stride', 1), describe: 'window stride (default: the context, non-overlapping windows)' })
              .option('batch-size', { type: 'number', default: 8, coerce: intOpt('batch-size', 1, 4096), describe: 'windows per forward pass' })
              .option('max-tokens', { type: 'number', coerce: intOpt('max-tokens', 1), describe: 'score only the first N tokens of the split' })
              .option('cache-dir', {
                type: 'string',
                coerce: strOpt('cache-dir'),
                describe: 'token cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
              })
              .option('out', { type: 'string', coerce: strOpt('out'), describe: 'also write the JSON report to this FILE' }),
          async (a) => (await import('../commands/lm.js')).runLmEval(io, a),
        )
        .demandCommand(1, 'give a subcommand: lm train or lm eval'),
    );
}

export function trainDef(io: Io) {
  return <T extends GlobalArgs>(y: Argv<T>) =>
    y.command(
      'train',
      'train the residual tangent score of attention-guided spin diffusion (BL Eq. 14) against a language model',
      (yy) =>
        trainRunOptions(modelOptions(yy), {
          config: 'score config JSON (configs/score/brown-small.json, configs/score/tiny.json)',
          cacheDir: 'token and field cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
          out: 'run DIR (required): checkpoints/, report.json, loss curve; locked while training; `sample --score DIR` uses its latest checkpoint',
        })
          .option('space', {
            type: 'string',
            choices: SPACES,
            default: 'sphere',
            describe: 'sphere (the residual tangent score) | euclidean (the Brownian VP-DDPM baseline on the token embeddings)',
          })
          .command(
            'cache',
            'build the field cache of --config (or shard i/n of it) without training; `train cache merge` joins the shards',
            (c) =>
              c // the model and engine options are train's (inherited)
                .option('config', { type: 'string', coerce: strOpt('config'), describe: 'score config JSON (its field and data sections)' })
                .option('shard', {
                  type: 'string',
                  coerce: strOpt('shard'),
                  describe: 'build only shard i of n (0-based i/n): the forward groups with index mod n = i',
                })
                .option('cache-dir', {
                  type: 'string',
                  coerce: strOpt('cache-dir'),
                  describe: 'token and field cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
                })
                .option('batch-tokens', {
                  type: 'number',
                  coerce: intOpt('batch-tokens', 1),
                  describe:
                    'tokens per forward call, the unit of sharding (default: a 512 MB budget, as `train` uses); every shard of a set must use the same value',
                })
                .command(
                  'merge',
                  'join every complete shard set in --cache-dir into its field cache (byte-identical to an unsharded build)',
                  (m) =>
                    m.option('cache-dir', {
                      type: 'string',
                      coerce: strOpt('cache-dir'),
                      describe: 'token and field cache directory (default .spinbath-cache or SPINBATH_CACHE_DIR)',
                    }),
                  async (a) => (await import('../commands/trainCache.js')).runTrainCacheMerge(io, a),
                ),
            async (a) => (await import('../commands/trainCache.js')).runTrainCache(io, a),
          ),
      async (a) => (await import('../commands/train.js')).runScoreTrain(io, a),
    );
}
