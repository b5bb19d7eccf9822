/** `spinbath logits`: the model's next-token logits for a text or token ids (final position); --out FILE: the JSON result. */
import { UserError } from '../../errors.js';
import { atomicWriteJson } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import type { LogitsArgs } from '../defs/analysis.js';
import { initBackend, printJson, type Io } from '../io.js';
import { openModel } from './model-args.js';

/** Comma-separated non-negative integer ids (range against the vocabulary is checked with the model). */
function parseIds(s: string): number[] {
  return s.split(',').map((x) => {
    const t = x.trim();
    const n = Number(t);
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(n))
      throw new UserError('E_ARG', `--ids: '${t}' is not a token id; give comma-separated non-negative integers such as 464,2068`);
    return n;
  });
}

/** Run `spinbath logits`. */
export async function runLogits(io: Io, args: LogitsArgs): Promise<void> {
  if (args.text === undefined && args.ids === undefined) throw new UserError('E_ARG', 'give --text STR or --ids 1,2,3');
  if (args.text !== undefined && args.text.trim() === '') throw new UserError('E_INPUT', '--text is empty; give some text');
  const given = args.ids !== undefined ? parseIds(args.ids) : null;
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const tf = await import('@tensorflow/tfjs-core');
  const { readData } = await import('../../backend.js');
  const lm = await openModel(args, io);
  try {
    let ids = given ?? lm.tokenizer.encode(args.text!);
    const bad = ids.find((i) => i >= lm.model.vocab);
    if (bad !== undefined)
      throw new UserError('E_ARG', `--ids: token id ${bad} is outside the model's vocabulary of ${lm.model.vocab} (ids 0 to ${lm.model.vocab - 1})`);
    if (ids.length === 0) throw new UserError('E_INPUT', 'the input encodes to no tokens');
    if (ids.length > lm.model.nPositions) {
      if (args.truncate !== 'left')
        throw new UserError(
          'E_INPUT',
          `the input is ${ids.length} tokens, longer than the model's context of ${lm.model.nPositions}; shorten it or pass --truncate left`,
        );
      ids = ids.slice(ids.length - lm.model.nPositions);
    }
    const z = await lm.model.lastLogitsAsync([ids]); // [1, vocab]
    const logits = Float32Array.from(await readData(z)); // async: webgpu has no synchronous reads
    z.dispose();
    const k = Math.min(args.top, logits.length);
    const { values, indices } = tf.tidy(() => tf.topk(tf.tensor1d(logits), k));
    const [vals, idx] = [await readData(values), await readData(indices)];
    const top = Array.from(idx).map((id, i) => ({ id, token: lm.tokenizer.tokenString(id), logit: vals[i] }));
    tf.dispose([values, indices]);
    const result: Record<string, unknown> = { ids, top, engine: lm.engine };
    if (args.full) result.logits = Array.from(logits);
    if (args.out !== undefined) atomicWriteJson(args.out, result);
    if (args.json) return printJson(io, result);
    io.out(`${ids.length} tokens; top ${k} next tokens:\n`);
    for (const t of top) io.out(`  ${JSON.stringify(t.token).padEnd(20)} id ${String(t.id).padEnd(6)} logit ${t.logit.toFixed(4)}\n`);
  } finally {
    lm.dispose();
  }
}
