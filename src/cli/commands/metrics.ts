/**
 * `spinbath metrics --input FILE.jsonl [--evaluator M] [--json] [--out FILE.json]`: quality and
 * diversity of a set of generations (sampling/metrics.ts), always reported together: evaluator
 * perplexity and mean next-token entropy of the continuations given their prompts, distinct-1/2/3,
 * 4-gram repetition, loop rate and the Zipf coefficient (n-gram statistics on token ids).
 *
 * Input: JSON lines with "text" (the continuation) and optionally "prompt" (default '') and
 * "tokens" (generated ids), as written by `spinbath generate --out` or `spinbath sample`.
 * The evaluator defaults to the embedded model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import type { GenerationRecord } from '../../../sampling/metrics.js';
import { zodToUserError } from '../../config/zodError.js';
import { UserError } from '../../errors.js';
import { atomicWriteJson } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import type { MetricsArgs } from '../defs/generation.js';
import { initBackend, printJson, type Io } from '../io.js';
import { openModel } from './model-args.js';

const recordSchema = z.object({
  prompt: z.string().default(''),
  text: z.string(),
  tokens: z.array(z.number().int().min(0)).optional(),
  promptTokens: z.array(z.number().int().min(0)).optional(),
});

/** Generation records from a JSONL file (blank lines skipped; other keys ignored). */
export function readGenerations(path: string): GenerationRecord[] {
  if (!existsSync(path)) throw new UserError('E_FILE', `--input ${path} does not exist; give a JSONL file of generations (spinbath generate --out FILE.jsonl)`);
  if (statSync(path).isDirectory()) throw new UserError('E_FILE', `--input ${path} is a directory; give a JSONL file of generations`);
  const out: GenerationRecord[] = [];
  readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new UserError(
          'E_FILE',
          `${path} line ${i + 1} is not valid JSON (${(e as Error).message}); each line must be one {"prompt", "text", "tokens"} object`,
        );
      }
      const r = recordSchema.safeParse(v);
      if (!r.success) throw zodToUserError(r.error, `${path} line ${i + 1}`, 'E_FILE');
      out.push(r.data);
    });
  if (out.length === 0) throw new UserError('E_FILE', `${path} has no generations; each line must be one {"prompt", "text", "tokens"} object`);
  return out;
}

const fmt = (x: number | null, d = 3) => (x === null ? 'n/a' : x.toFixed(d));

export async function runMetrics(io: Io, args: MetricsArgs): Promise<void> {
  if (!args.input) throw new UserError('E_ARG', 'give --input FILE.jsonl (generations with "prompt", "text", "tokens")');
  const records = readGenerations(args.input);
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const { computeMetrics, metricsJson } = await import('../../../sampling/metrics.js');
  const ev = await openModel({ ...args, model: args.evaluator }, io);
  let m: Record<string, number | null>;
  try {
    m = metricsJson(await computeMetrics(records, ev));
  } finally {
    ev.dispose();
  }
  const result = { input: args.input, evaluator: ev.dir, engine: ev.engine, ngram_unit: 'token ids', ...m };
  if (args.out !== undefined) atomicWriteJson(args.out, result);
  if (args.json) return printJson(io, result);
  io.out(`${m.outputs} outputs, ${m.tokens} tokens (evaluator ${ev.dir}; n-gram statistics on token ids)\n`);
  io.out(`  perplexity    ${fmt(m.perplexity, 2)}   (${m.scored_tokens} scored tokens)\n`);
  io.out(`  entropy       ${fmt(m.entropy_bits)} bits/token\n`);
  io.out(`  distinct-1/2/3 ${fmt(m.distinct_1)} / ${fmt(m.distinct_2)} / ${fmt(m.distinct_3)}\n`);
  io.out(`  repetition-4  ${fmt(m.repetition_4)}   loops ${fmt(m.loop_rate)}   zipf ${fmt(m.zipf)}\n`);
  if (args.out !== undefined) io.out(`wrote ${args.out}\n`);
}
