/**
 * Output streams and global options shared by every command. Commands write through `Io` so
 * the whole CLI runs in-process in tests. Light: the tensor backend is imported when a command runs.
 */
import { parseSeed } from './args.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export interface GlobalArgs {
  json: boolean;
  /** --seed: an integer in [0, 2^31 − 1]; undefined when not given (each command's default is 0, or the config's seed). */
  seed?: number;
  backend?: string;
  debug: boolean;
  quiet: boolean;
}

export const globalOptions = {
  json: { type: 'boolean', default: false, describe: 'print machine-readable JSON on stdout' },
  seed: { type: 'string', coerce: parseSeed, describe: "seed of every random draw, an integer in [0, 2^31−1] (default 0; training: the config's seed)" },
  backend: { type: 'string', describe: 'tensor backend: wasm (default), cpu, tensorflow, webgpu; or SPINBATH_BACKEND' },
  debug: { type: 'boolean', default: false, describe: 'print stack traces for errors' },
  quiet: { type: 'boolean', default: false, describe: 'no progress bars or human-readable summaries on stderr' },
} as const;

/** The seed of a run: --seed, else 0. */
export const seedOf = (a: GlobalArgs): number => a.seed ?? 0;

/** Activate the backend chosen by --backend / SPINBATH_BACKEND. */
export async function initBackend(args: GlobalArgs): Promise<string> {
  const { useBackend } = await import('../backend.js');
  return useBackend(args.backend);
}

/** Print a value as stable, pretty JSON. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}
