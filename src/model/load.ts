/**
 * One call from a --model argument to a ready model: resolve the directory (local path, hub id
 * in the cache, or the embedded default), read the weights with a progress bar, build the
 * forward pass and the tokenizer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { UserError } from '../errors.js';
import { loadGpt2Weights } from './checkpoint.js';
import { Gpt2Model } from './gpt2.js';
import { resolveModelDir } from './hub.js';
import { loadTokenizer, packageRoot, type Tokenizer } from './tokenizer.js';

/** The embedded default model (trained by spinbath on the Brown corpus; see models/brown-small/README.md). */
export const EMBEDDED_MODEL = 'models/brown-small';

/** The directory of the embedded model inside the installed package. */
export function embeddedModelDir(): string {
  return join(packageRoot(), EMBEDDED_MODEL);
}

/** A loaded model: its directory, the forward pass and the tokenizer. */
export interface LoadedModel {
  dir: string;
  model: Gpt2Model;
  tokenizer: Tokenizer;
  /** Release the model's weights. */
  dispose(): void;
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Show a progress bar on stderr while reading weights. */
  progress?: boolean;
  offline?: boolean;
}

/** Resolve `modelArg` (or the embedded default when undefined) and load model + tokenizer. */
export async function loadModel(modelArg: string | undefined, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  let dir: string;
  if (modelArg === undefined || modelArg === '') {
    dir = embeddedModelDir();
    if (!existsSync(join(dir, 'config.json'))) {
      throw new UserError('E_FILE', `no --model given and the embedded model is missing at ${dir}; pass --model DIR (a Hugging Face GPT-2 directory) or a hub id`);
    }
  } else {
    dir = await resolveModelDir(modelArg, { offline: opts.offline, progress: opts.progress });
  }
  const bar = opts.progress ? new cliProgress.SingleBar({ format: 'loading weights [{bar}] {percentage}% {name}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  let started = false;
  const weights = await loadGpt2Weights(dir, {
    onProgress: bar
      ? ({ done, total, name }) => {
          if (!started) {
            bar.start(total, 0, { name: '' });
            started = true;
          }
          bar.update(done, { name });
        }
      : undefined,
  });
  bar?.stop();
  // A model directory is complete or refused: its own tokenizer, never a substitute (loadTokenizer names the missing file).
  const tokenizer = await loadTokenizer(dir);
  const model = Gpt2Model.fromWeights(weights);
  weights.tensors.clear();
  return { dir, model, tokenizer, dispose: () => model.dispose() };
}
