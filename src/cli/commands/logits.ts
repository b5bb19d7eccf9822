/** `spinbath logits`: the model's next-token logits for a text or token ids (final position). */
import * as tf from '@tensorflow/tfjs-core';
import type { Argv } from 'yargs';
import { UserError } from '../../errors.js';
import { initBackend, printJson, type Io } from '../io.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

interface LogitsArgs extends ModelArgs {
  text?: string;
  ids?: string;
  full: boolean;
  k: number;
}

function parseIds(s: string, vocab: number): number[] {
  const ids = s.split(',').map((x) => x.trim());
  return ids.map((x) => {
    const n = Number(x);
    if (x === '' || !Number.isInteger(n) || n < 0 || n >= vocab) throw new UserError('E_ARG', `--ids: '${x}' is not a token id in [0, ${vocab}); give comma-separated integers`);
    return n;
  });
}

export function logitsCommand(io: Io) {
  return {
    command: 'logits',
    describe: 'next-token logits of the final position for --text or --ids',
    builder: (y: Argv) =>
      modelOptions(y)
        .option('text', { type: 'string', describe: 'input text' })
        .option('ids', { type: 'string', describe: 'comma-separated token ids' })
        .option('full', { type: 'boolean', default: false, describe: 'also print every logit of the final position' })
        .option('k', { type: 'number', default: 10, describe: 'how many top tokens' })
        .conflicts('text', 'ids'),
    handler: async (args: LogitsArgs) => {
      await initBackend(args);
      if (Array.isArray(args.text) || Array.isArray(args.ids)) throw new UserError('E_ARG', 'give --text or --ids once');
      if (args.text === undefined && args.ids === undefined) throw new UserError('E_ARG', 'give --text STR or --ids 1,2,3');
      if (args.text !== undefined && args.text === '') throw new UserError('E_INPUT', '--text is empty; give some text');
      const lm = await openModel(args, io);
      try {
        let ids = args.ids !== undefined ? parseIds(args.ids, lm.model.vocab) : lm.tokenizer.encode(args.text!);
        if (ids.length === 0) throw new UserError('E_INPUT', 'the input encodes to no tokens');
        if (ids.length > lm.model.nPositions) {
          if (args.truncate !== 'left') throw new UserError('E_INPUT', `the input is ${ids.length} tokens, longer than the model's context of ${lm.model.nPositions}; shorten it or pass --truncate left`);
          ids = ids.slice(ids.length - lm.model.nPositions);
        }
        const bad = ids.find((i) => i >= lm.model.vocab);
        if (bad !== undefined) throw new UserError('E_TOKENIZER', `token id ${bad} is outside the model's vocabulary of ${lm.model.vocab}`);
        const z = await lm.model.lastLogitsAsync([ids]); // [1, vocab]
        const logits = Float32Array.from(z.dataSync());
        z.dispose();
        const k = Math.max(1, Math.min(args.k, logits.length));
        const { values, indices } = tf.tidy(() => tf.topk(tf.tensor1d(logits), k));
        const top = Array.from(indices.dataSync()).map((id, i) => ({ id, token: lm.tokenizer.tokenString(id), logit: values.dataSync()[i] }));
        tf.dispose([values, indices]);
        const result: Record<string, unknown> = { ids, top, engine: lm.engine };
        if (args.full) result.logits = Array.from(logits);
        if (args.json) return printJson(io, result);
        io.out(`${ids.length} tokens; top ${k} next tokens:\n`);
        for (const t of top) io.out(`  ${JSON.stringify(t.token).padEnd(20)} id ${String(t.id).padEnd(6)} logit ${t.logit.toFixed(4)}\n`);
      } finally {
        lm.dispose();
      }
    },
  };
}
