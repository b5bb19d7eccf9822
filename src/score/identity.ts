/**
 * Identity of a language model directory, recorded in a score model (ScoreModelMeta.modelHash)
 * and in the field cache, so that a score is not silently used with other weights.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkpointFiles } from '../model/checkpoint.js';

/** Identity of a language model directory: sha256 of config.json and the weight files' names and sizes. */
export function modelHash(dir: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(join(dir, 'config.json')));
  for (const f of checkpointFiles(dir)) h.update(`\0${basename(f)}:${statSync(f).size}`);
  return h.digest('hex');
}
