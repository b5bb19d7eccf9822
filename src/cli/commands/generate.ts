/**
 * `spinbath generate`: autoregressive baselines (greedy, temperature, top-k, top-p, repetition
 * penalty; sampling/baselines.ts) on a GPT-2, with the same KV-cached forward as everything else.
 *
 *   spinbath generate --prompt TEXT [--prompt TEXT ...] [--prompt-file FILE] [--tokens 32]
 *       [--samples 1] [--method M] [--temperature T] [--top-k K] [--top-p P]
 *       [--repetition-penalty θ] [--no-stop-at-eos] [--seed S] [--json] [--out FILE.jsonl]
 *
 * Without --method the flags pick it: --top-p → top-p, else --top-k → top-k, else --temperature →
 * temperature, else greedy. Text streams to stdout as it is generated when there is one sample of
 * one prompt; otherwise each sample is printed when its batch finishes. --json prints one line
 * {"prompt", "text", "tokens"} per sample (text and tokens: the continuation only), ordered by
 * prompt then sample; --out writes the same JSON lines to a file, atomically.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { BASELINE_METHODS, generateBaseline, StreamDecoder, type BaselineMethod, type BaselineSpec } from '../../../sampling/baselines.js';
import { UserError } from '../../errors.js';
import { atomicWrite } from '../../io/atomic.js';
import { initBackend, type Io } from '../io.js';
import { progressBar } from '../progress.js';
import { modelOptions, openModel, type ModelArgs } from './model-args.js';

interface GenerateArgs extends ModelArgs {
  prompt?: string[];
  'prompt-file'?: string;
  tokens: number;
  samples: number;
  method?: BaselineMethod;
  temperature?: number;
  'top-k'?: number;
  'top-p'?: number;
  'repetition-penalty'?: number;
  'penalize-prompt': boolean;
  'stop-at-eos': boolean;
  'batch-size': number;
}

/** Prompts from --prompt and --prompt-file (one per line, or JSON lines with a "prompt" field). */
export function readPrompts(args: { prompt?: string[]; 'prompt-file'?: string }): string[] {
  const out = (args.prompt ?? []).map(String);
  const file = args['prompt-file'];
  if (file !== undefined) {
    if (!existsSync(file)) throw new UserError('E_FILE', `--prompt-file ${file} does not exist; give a text file with one prompt per line`);
    readFileSync(file, 'utf8').split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      if (line.trimStart().startsWith('{')) {
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch (e) {
          throw new UserError('E_FILE', `${file} line ${i + 1} is not valid JSON: ${(e as Error).message}`);
        }
        const p = (v as { prompt?: unknown }).prompt;
        if (typeof p !== 'string') throw new UserError('E_FILE', `${file} line ${i + 1}: a JSON line needs a string "prompt" field`);
        out.push(p);
      } else out.push(line);
    });
  }
  if (out.length === 0) throw new UserError('E_ARG', 'give a prompt: --prompt TEXT (repeatable) or --prompt-file FILE');
  return out;
}

/** The sampler from the flags (see the file comment), with conflicts reported in one line. */
export function specFromArgs(a: { method?: string; temperature?: number; 'top-k'?: number; 'top-p'?: number; 'repetition-penalty'?: number }): BaselineSpec {
  const method = (a.method ?? (a['top-p'] !== undefined ? 'top-p' : a['top-k'] !== undefined ? 'top-k' : a.temperature !== undefined ? 'temperature' : 'greedy')) as BaselineMethod;
  if (a['top-p'] !== undefined && method !== 'top-p') throw new UserError('E_ARG', `--top-p applies to --method top-p, not ${method}; drop one of them`);
  if (a['top-k'] !== undefined && method !== 'top-k') throw new UserError('E_ARG', `--top-k applies to --method top-k, not ${method}; drop one of them`);
  if (a.temperature !== undefined && method === 'greedy') throw new UserError('E_ARG', '--temperature does not apply to greedy decoding; choose --method temperature (or top-k/top-p)');
  if (method === 'top-p' && a['top-p'] === undefined) throw new UserError('E_ARG', '--method top-p needs --top-p P in (0, 1], e.g. 0.9');
  if (method === 'top-k' && a['top-k'] === undefined) throw new UserError('E_ARG', '--method top-k needs --top-k K, e.g. 40');
  const spec: BaselineSpec = { method };
  if (a.temperature !== undefined) spec.temperature = a.temperature;
  if (a['top-k'] !== undefined) spec.topK = a['top-k'];
  if (a['top-p'] !== undefined) spec.topP = a['top-p'];
  if (a['repetition-penalty'] !== undefined) spec.repetitionPenalty = a['repetition-penalty'];
  const bad = (flag: string, v: unknown, want: string) => new UserError('E_ARG', `--${flag} must be ${want} (got ${v})`);
  if (spec.temperature !== undefined && !(Number.isFinite(spec.temperature) && spec.temperature > 0)) throw bad('temperature', spec.temperature, 'a finite number > 0');
  if (spec.topK !== undefined && !(Number.isInteger(spec.topK) && spec.topK >= 1)) throw bad('top-k', spec.topK, 'an integer ≥ 1');
  if (spec.topP !== undefined && !(spec.topP > 0 && spec.topP <= 1)) throw bad('top-p', spec.topP, 'in (0, 1]');
  if (spec.repetitionPenalty !== undefined && !(Number.isFinite(spec.repetitionPenalty) && spec.repetitionPenalty > 0)) throw bad('repetition-penalty', spec.repetitionPenalty, 'a finite number > 0 (1 = off)');
  return spec;
}

async function handler(io: Io, args: GenerateArgs): Promise<void> {
  const prompts = readPrompts(args);
  const spec = specFromArgs(args);
  for (const [flag, v] of [['tokens', args.tokens], ['samples', args.samples], ['batch-size', args['batch-size']]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UserError('E_ARG', `--${flag} must be a positive integer (got ${v})`);
  }
  await initBackend(args);
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
      seed: args.seed,
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
    if (args.out) atomicWrite(args.out, jsonl);
    if (args.json) return io.out(jsonl);
    if (!stream) {
      for (const r of results) io.out(`── prompt ${r.promptIndex + 1}, sample ${r.sample + 1}${r.stop === 'eos' ? ' (<|endoftext|>)' : ''} ──\n${r.prompt}${r.text}\n`);
    }
    if (args.out && !args.quiet) io.err(`wrote ${results.length} samples to ${args.out}\n`);
  } finally {
    lm.dispose();
  }
}

export function generateCommand(io: Io) {
  return {
    command: 'generate',
    describe: 'generate text with an autoregressive baseline: greedy, temperature, top-k, top-p, repetition penalty',
    builder: (y: Argv) =>
      modelOptions(y)
        .option('prompt', { type: 'string', array: true, describe: 'prompt text (repeat for several prompts)' })
        .option('prompt-file', { type: 'string', describe: 'file with one prompt per line (or JSON lines with a "prompt" field)' })
        .option('tokens', { type: 'number', default: 32, describe: 'new tokens per sample (at most)' })
        .option('samples', { type: 'number', default: 1, describe: 'samples per prompt' })
        .option('method', { type: 'string', choices: BASELINE_METHODS as unknown as string[], describe: 'decoding method (default: from the flags below, else greedy)' })
        .option('temperature', { type: 'number', describe: 'softmax temperature T > 0 (default 1)' })
        .option('top-k', { type: 'number', describe: 'sample among the K largest logits' })
        .option('top-p', { type: 'number', describe: 'nucleus: sample among the smallest top set with probability ≥ P' })
        .option('repetition-penalty', { type: 'number', describe: 'CTRL penalty θ for tokens already in the context (1 = off, 1.2 typical)' })
        .option('penalize-prompt', { type: 'boolean', default: true, describe: 'the repetition penalty also counts prompt tokens (--no-penalize-prompt: generated only)' })
        .option('stop-at-eos', { type: 'boolean', default: true, describe: '<|endoftext|> ends a sample (--no-stop-at-eos to keep going)' })
        .option('batch-size', { type: 'number', default: 16, describe: 'rows (prompt × sample) per forward batch' })
        .option('out', { type: 'string', describe: 'also write the samples as JSON lines to this FILE.jsonl (atomically)' }),
    handler: (a: GenerateArgs) => handler(io, a),
  };
}
