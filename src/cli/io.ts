/**
 * Output streams and global options shared by every command. Commands write through `Io` so
 * the whole CLI runs in-process in tests.
 */
import { useBackend } from '../backend.js';

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
  seed: number;
  backend?: string;
  out?: string;
  debug: boolean;
  quiet: boolean;
}

export const globalOptions = {
  json: { type: 'boolean', default: false, describe: 'print machine-readable JSON on stdout' },
  seed: { type: 'number', default: 0, describe: 'seed for every random draw (same seed, same output)' },
  backend: { type: 'string', describe: 'tensor backend: wasm (default), cpu, tensorflow, webgpu; or SPINBATH_BACKEND' },
  out: { type: 'string', describe: 'directory for output files (JSON, SVG, CSV)' },
  debug: { type: 'boolean', default: false, describe: 'print stack traces for errors' },
  quiet: { type: 'boolean', default: false, describe: 'no progress bars or human-readable summaries on stderr' },
} as const;

/** Activate the backend chosen by --backend / SPINBATH_BACKEND. */
export async function initBackend(args: GlobalArgs): Promise<string> {
  return useBackend(args.backend);
}

/** Print a value as stable, pretty JSON. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}
