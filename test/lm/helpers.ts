/**
 * Shared helpers for the LM tests: the tiny config with overrides, a persistent token cache in the
 * OS temp directory (validated by its manifest, so reuse is safe), and an in-process CLI runner for
 * `spinbath lm` that mirrors src/cli/main.ts (exit 2 with one line for a UserError).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { lmCommand } from '../../src/cli/commands/lm.js';
import { globalOptions } from '../../src/cli/io.js';
import { isUserError } from '../../src/errors.js';
import { parseLmConfig, type LmConfig } from '../../src/lm/config.js';

export const TEST_CACHE = join(tmpdir(), 'spinbath-lm-test-cache');

type Raw = { model: Record<string, unknown>; training: Record<string, unknown>; [k: string]: unknown };

export function tinyRaw(): Raw {
  return JSON.parse(readFileSync('configs/lm/tiny.json', 'utf8')) as Raw;
}

export function tinyConfig(training: Record<string, unknown> = {}, extra: Partial<Raw> = {}): LmConfig {
  const raw = tinyRaw();
  return parseLmConfig({ ...raw, ...extra, training: { ...raw.training, ...training } }, 'tiny');
}

export async function runLm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
  try {
    await yargs(args).options(globalOptions).command(lmCommand(io) as never).strict().exitProcess(false)
      .fail((msg, err) => { throw err ?? new Error(msg); }).parseAsync();
    return { code: 0, stdout, stderr };
  } catch (e) {
    stderr += `spinbath: ${(e as Error).message}\n`;
    return { code: isUserError(e) ? 2 : 1, stdout, stderr };
  }
}
