/**
 * Shared helpers for the LM tests: the tiny config with overrides, a persistent token cache in the
 * OS temp directory (validated by its manifest, so reuse is safe), and an in-process CLI runner for
 * `spinbath lm` that mirrors src/cli/main.ts (exit 2 with one line for a UserError).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
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

/** Run `spinbath lm …` through the real CLI parser (src/cli/main.ts). */
export async function runLm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args);
}
