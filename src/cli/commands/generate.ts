/**
 * `spinbath generate`: autoregressive baselines (greedy, temperature, top-k, top-p, repetition
 * penalty; sampling/baselines.ts) on a GPT-2, with the same KV-cached forward as everything else.
 * Flags: src/cli/defs/generation.ts; they map onto the baseline option family
 * (sampling/options.ts `baselineSpecSchema`), validated before anything is printed.
 *
 * Without --method the flags pick it: --top-p → top-p, else --top-k → top-k, else --temperature →
 * temperature, else greedy. Text streams to stdout as it is generated when there is one sample of
 * one prompt; otherwise each sample is printed when its batch finishes, headed `prompt i, sample j`
 * (numbered from 1). --json prints one line {"prompt", "text", "tokens"} per sample (text and
 * tokens: the continuation only), ordered by prompt then sample; --out FILE writes the same JSON
 * lines to a file, atomically.
 */
import { UserError } from '../../errors.js';
import { atomicWrite } from '../../io/atomic.js';
import { checkOutFile } from '../../io/output.js';
import { readPromptRecords } from '../../io/promptFile.js';
import { baselineSpecSchema, guidedFields, promptTextSchema, type BaselineSpec } from '../../../sampling/options.js';
import { parseFlags } from '../args.js';
import type { GenerateArgs } from '../defs/generation.js';
import { initBackend, seedOf, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { openModel } from './model-args.js';

/** Prompts from --prompt (repeatable) and --prompt-file (any format of src/io/promptFile.ts); none may be empty. */
export function readPrompts(args: { prompt?: string[]; 'prompt-file'?: string }): string[] {
  const out = (args.prompt ?? []).map(String);
  out.forEach((p, i) => {
    if (!promptTextSchema.safeParse(p).success) throw new UserError('E_INPUT', `--prompt ${out.length > 1 ? `${i + 1} ` : ''}is empty; give some text`);
  });
  const file = args['prompt-file'];
  if (file !== undefined) out.push(...readPromptRecords(file, { flag: '--prompt-file' }).map((r) => r.prompt));
  if (out.length === 0) throw new UserError('E_ARG', 'give a prompt: --prompt TEXT (repeatable) or --prompt-file FILE');
  return out;
}

const FLAG_OF: Record<string, string> = { method: 'method', temperature: 'temperature', topK: 'top-k', topP: 'top-p', repetitionPenalty: 'repetition-penalty' };

/** The sampler from the flags (see the file comment), validated by baselineSpecSchema with errors naming the flag. */
export function specFromArgs(a: { method?: string; temperature?: number; 'top-k'?: number; 'top-p'?: number; 'repetition-penalty'?: number }): BaselineSpec {
  const method = a.method ?? (a['top-p'] !== undefined ? 'top-p' : a['top-k'] !== undefined ? 'top-k' : a.temperature !== undefined ? 'temperature' : 'greedy');
  const spec: Record<string, unknown> = { method };
  if (a.temperature !== undefined) spec.temperature = a.temperature;
  if (a['top-k'] !== undefined) spec.topK = a['top-k'];
  if (a['top-p'] !== undefined) spec.topP = a['top-p'];
  if (a['repetition-penalty'] !== undefined) spec.repetitionPenalty = a['repetition-penalty'];
  return parseFlags(baselineSpecSchema, spec, FLAG_OF);
}

export async function runGenerate(io: Io, args: GenerateArgs): Promise<void> {
  const prompts = readPrompts(args);
  const spec = specFromArgs(args);
  for (const [flag, schema] of [
    ['tokens', guidedFields.tokens],
    ['samples', guidedFields.samples],
  ] as const) {
    const r = schema.safeParse(args[flag]);
    if (!r.success) throw new UserError('E_ARG', `--${flag} ${r.error.issues[0].message} (got ${args[flag]})`);
  }
  if (args.out !== undefined) checkOutFile(args.out);
  await initBackend(args);
  const { generateBaseline, StreamDecoder } = await import('../../../sampling/baselines.js');
  const lm = await openModel(args, io);
  try {
    const single = prompts.length === 1 && args.samples === 1;
    const stream = single && !args.json ? new StreamDecoder(lm.tokenizer) : null;
    const live: number[] = [];
    let started = false; // the prompt is echoed with the first token, after input checks passed
    const start = () => {
      if (stream && !started) io.out(prompts[0]);
      started = true;
    };
    const bar = single ? null : progressBar('generate', prompts.length * args.samples * args.tokens, args);
    let done = 0;
    const results = await generateBaseline(lm, {
      ...spec,
      prompts,
      samples: args.samples,
      tokens: args.tokens,
      seed: seedOf(args),
      batchSize: args['batch-size'],
      stopAtEos: args['stop-at-eos'],
      penalizePrompt: args['penalize-prompt'],
      truncate: args.truncate === 'left' ? 'left' : undefined,
      onToken: (e) => {
        if (stream) {
          start();
          live.push(e.token);
          io.out(stream.push(live));
        }
        bar?.update(++done);
      },
    });
    bar?.stop();
    if (stream) {
      start();
      io.out(stream.push(live, true) + '\n');
    }
    const jsonl = results.map((r) => JSON.stringify({ prompt: r.prompt, text: r.text, tokens: r.tokens }) + '\n').join('');
    if (args.out !== undefined) atomicWrite(args.out, jsonl);
    if (args.json) return io.out(jsonl);
    if (!stream) {
      for (const r of results)
        io.out(`── prompt ${r.promptIndex + 1}, sample ${r.sample + 1}${r.stop === 'eos' ? ' (<|endoftext|>)' : ''} ──\n${r.prompt}${r.text}\n`);
    }
    if (args.out !== undefined && !args.quiet) io.err(`wrote ${results.length} samples to ${args.out}\n`);
  } finally {
    lm.dispose();
  }
}
