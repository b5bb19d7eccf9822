/** Options shared by every command that runs a model: --model, --truncate, --offline. */
import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import type { LoadedModel } from '../../model/load.js';
import type { GlobalArgs } from '../io.js';

export interface ModelArgs extends GlobalArgs {
  model?: string;
  truncate?: string;
  offline?: boolean;
}

export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', { type: 'string', describe: 'a Hugging Face GPT-2 directory or hub id (gpt2, gpt2-medium, distilgpt2, owner/name); default: the embedded Brown model' })
    .option('truncate', { type: 'string', choices: ['left'] as const, describe: 'keep the last n_positions tokens of a prompt that is too long' })
    .option('offline', { type: 'boolean', default: false, describe: 'never download; use the hub cache only' });
}

export async function openModel(args: ModelArgs): Promise<LoadedModel> {
  if (args.model !== undefined && args.model.trim() === '') throw new UserError('E_ARG', '--model is empty; give a model directory or hub id, or leave it out for the embedded model');
  const { loadModel } = await import('../../model/load.js'); // lazily: --help loads no model code
  return loadModel(args.model, { progress: !args.quiet && !args.json && process.stderr.isTTY, offline: args.offline });
}

/** Parse a head given as "L.H", "L3H5" or "3:5"; check it against the model. */
export function parseHead(s: string, nLayer: number, nHead: number, flag = 'head'): { layer: number; head: number } {
  const m = /^\s*L?(\d+)\s*[.:H]\s*(\d+)\s*$/i.exec(s);
  if (!m) throw new UserError('E_ARG', `--${flag}: '${s}' is not a head; write layer.head, e.g. 3.5 or L3H5`);
  const layer = Number(m[1]);
  const head = Number(m[2]);
  if (layer >= nLayer || head >= nHead) throw new UserError('E_ARG', `--${flag}: head ${layer}.${head} does not exist; the model has ${nLayer} layers × ${nHead} heads (0-based)`);
  return { layer, head };
}
