/**
 * Export a training run's published checkpoint as a Hugging Face GPT-2 directory in fp16, with the
 * run's tokenizer files (how models/brown-small was made from a snapshot of a longer run):
 *
 *   npx tsx scripts/export-checkpoint.ts RUN_DIR OUT_DIR
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { latestCheckpoint } from '../src/io/checkpointDir.js';
import { loadGpt2Weights, saveGpt2Checkpoint } from '../src/model/checkpoint.js';
import { TOKENIZER_FILES } from '../src/model/tokenizer.js';

const [runDir, out] = process.argv.slice(2);
if (!runDir || !out) {
  console.error('usage: npx tsx scripts/export-checkpoint.ts RUN_DIR OUT_DIR');
  process.exit(2);
}
const latest = latestCheckpoint(runDir);
if (!latest) {
  console.error(`${runDir} has no published checkpoint (checkpoints/latest.json)`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
saveGpt2Checkpoint(out, await loadGpt2Weights(latest.dir), { dtype: 'F16' });
for (const f of TOKENIZER_FILES) copyFileSync(join(runDir, f), join(out, f));
console.log(`exported step ${latest.step} of ${runDir} to ${out}`);
