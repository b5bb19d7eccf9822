/**
 * Options shared by every command that runs a model: --model, --truncate, --offline, and the
 * engine group --engine auto|ort|tfjs (or SPINBATH_ENGINE) and --threads N (or SPINBATH_THREADS).
 * The loader reports progress through callbacks; this file draws them as cli-progress bars.
 */
import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import { intOpt, strOpt } from '../args.js';
import { ENGINE_CHOICES, type EngineChoice } from '../../model/engine.js';
import type { LoadedModel, LoadModelOptions, ModelLoadProgress } from '../../model/load.js';
import type { GlobalArgs, Io } from '../io.js';

/** --engine and --threads. */
export interface EngineArgs {
  engine?: string;
  threads?: number;
}

/** Arguments of the shared model option group. */
export interface ModelArgs extends GlobalArgs, EngineArgs {
  model?: string;
  truncate?: string;
  offline?: boolean;
}

/** The engine option group (every command that runs a language model). */
export function engineOptions<T>(y: Argv<T>) {
  return y
    .option('engine', {
      type: 'string',
      coerce: strOpt('engine'),
      choices: ENGINE_CHOICES as unknown as string[],
      describe: 'inference engine: ort (ONNX Runtime, native), tfjs, or auto (ort when it loads; default, or SPINBATH_ENGINE)',
    })
    .option('threads', {
      type: 'number',
      coerce: intOpt('threads', 1, 1024),
      describe:
        "threads of the ort engine (default: the machine's cores, or SPINBATH_THREADS); given explicitly, also the guided sampler's reverse-SDE threads",
    });
}

/** The shared model option group: the engine group, --model, --truncate, --offline. */
export function modelOptions<T>(y: Argv<T>) {
  return engineOptions(y)
    .option('model', {
      type: 'string',
      describe: 'a Hugging Face GPT-2 directory or hub id (gpt2, gpt2-medium, distilgpt2, owner/name); default: the embedded Brown model',
    })
    .option('truncate', { type: 'string', choices: ['left'] as const, describe: 'keep the last n_positions tokens of a prompt that is too long' })
    .option('offline', { type: 'boolean', default: false, describe: 'never download; use the hub cache only' });
}

/**
 * Progress bars on stderr for model loading (one per downloaded file over 1 MB, one for reading
 * the weights), drawn from the loader's callbacks; undefined (nothing drawn) when `show` is false.
 */
export function loadProgressBars(show: boolean): ((e: ModelLoadProgress) => void) | undefined {
  if (!show) return undefined;
  let bar: cliProgress.SingleBar | null = null;
  let current = '';
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  return (e) => {
    if (e.stage === 'download') {
      if (e.total <= 1_000_000) return;
      if (current !== `d:${e.file}` || !bar) {
        stop();
        current = `d:${e.file}`;
        bar = new cliProgress.SingleBar(
          { format: `  ${e.file} [{bar}] {percentage}% {mb}/{totalMb} MB`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.total, 0, { mb: mb(0), totalMb: mb(e.total) });
      }
      bar.update(e.done, { mb: mb(e.done), totalMb: mb(e.total) });
      if (e.finished) stop();
      return;
    }
    if (current !== 'weights' || !bar) {
      stop();
      current = 'weights';
      bar = new cliProgress.SingleBar(
        { format: 'loading weights [{bar}] {percentage}% {name}', hideCursor: true, clearOnComplete: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      bar.start(e.total, 0, { name: '' });
    }
    bar.update(e.done, { name: e.name });
    if (e.done >= e.total) stop();
  };
}

/** Loader options from the command's arguments: engine, threads, progress bars and the fallback note on stderr. */
export function loadOptions(
  args: GlobalArgs & EngineArgs & { offline?: boolean },
  io: Io | null,
  purpose: 'inference' | 'training' = 'inference',
): LoadModelOptions {
  return {
    engine: args.engine as EngineChoice | undefined,
    threads: args.threads,
    backend: args.backend,
    purpose,
    offline: args.offline,
    onProgress: loadProgressBars(!args.quiet && !args.json && process.stderr.isTTY),
    onNote: (line) => (args.quiet ? undefined : io ? io.err(`${line}\n`) : process.stderr.write(`${line}\n`)),
  };
}

/** Load the model the arguments name (lazily importing the loader: --help loads no model code). */
export async function openModel(args: ModelArgs, io: Io | null = null): Promise<LoadedModel> {
  if (args.model !== undefined && args.model.trim() === '')
    throw new UserError('E_ARG', '--model is empty; give a model directory or hub id, or leave it out for the embedded model');
  const { loadModel } = await import('../../model/load.js');
  return loadModel(args.model, loadOptions(args, io));
}

/** Parse a head given as "L.H", "L3H5" or "3:5"; check it against the model. */
export function parseHead(s: string, nLayer: number, nHead: number, flag = 'head'): { layer: number; head: number } {
  const m = /^\s*L?(\d+)\s*[.:H]\s*(\d+)\s*$/i.exec(s);
  if (!m) throw new UserError('E_ARG', `--${flag}: '${s}' is not a head; write layer.head, e.g. 3.5 or L3H5`);
  const layer = Number(m[1]);
  const head = Number(m[2]);
  if (layer >= nLayer || head >= nHead)
    throw new UserError('E_ARG', `--${flag}: head ${layer}.${head} does not exist; the model has ${nLayer} layers × ${nHead} heads (0-based)`);
  return { layer, head };
}
