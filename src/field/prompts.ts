/**
 * Prompt sets for the head analysis: JSON ({prompts:[{prompt, good, bad}]} or a bare array), JSONL or
 * CSV with a header prompt,good,bad (read by src/io/promptFile.ts, the reader of every command). Good/bad words are scored by their first token; a leading space is
 * added when the prompt does not end in whitespace (GPT-2 tokens carry their leading space).
 */
import { UserError } from '../errors.js';
import { readPromptRecords } from '../io/promptFile.js';
import { join } from 'node:path';
import { packageRoot, type Tokenizer } from '../model/tokenizer.js';

/** A prompt with a good and a bad next word (BL's factual-recall pairs). */
export interface PromptPair {
  prompt: string;
  good: string;
  bad: string;
}

/** A prompt pair with its token ids and the single-token ids of the good and bad answers. */
export interface EncodedPrompt extends PromptPair {
  ids: number[];
  goodId: number;
  badId: number;
  /** Human-readable notes, e.g. a good/bad word that is several tokens. */
  warnings: string[];
}

/** The shipped prompt set: Brown pairs for the embedded model (no --model), factual recall for another model. */
export function defaultPromptFile(model?: string): string {
  return join(packageRoot(), 'configs', 'prompts', model ? 'factual-recall-20.json' : 'brown-pairs-200.json');
}

/** Prompt pairs from a JSON, JSONL or CSV file with prompt, good, bad (src/io/promptFile.ts). */
export function readPromptFile(path: string, flag = '--prompts'): PromptPair[] {
  return readPromptRecords(path, { flag, extra: ['good', 'bad'] as const });
}

/** First token of a candidate word as it would follow the prompt. */
function candidateId(tok: Tokenizer, prompt: string, word: string, which: string, index: number, vocab: number, warnings: string[]): number {
  if (word.trim() === '') throw new UserError('E_TOKENIZER', `prompt ${index + 1}: the ${which} word is empty; give a non-empty word`);
  const text = /\s$/.test(prompt) ? word : ` ${word}`;
  let ids: number[];
  try {
    ids = tok.encode(text);
  } catch (e) {
    throw new UserError('E_TOKENIZER', `prompt ${index + 1}: the tokenizer cannot encode the ${which} word '${word}': ${(e as Error).message}`);
  }
  if (ids.length === 0) throw new UserError('E_TOKENIZER', `prompt ${index + 1}: the tokenizer encodes the ${which} word '${word}' to no tokens`);
  if (ids[0] >= vocab)
    throw new UserError('E_TOKENIZER', `prompt ${index + 1}: the ${which} word '${word}' has token id ${ids[0]}, outside the model's vocabulary of ${vocab}`);
  if (ids.length > 1) {
    warnings.push(`prompt ${index + 1}: ${which} word '${word}' is ${ids.length} tokens; using its first token '${tok.tokenString(ids[0])}'`);
  }
  return ids[0];
}

/** Options of {@link encodePrompts}. */
export interface EncodeOptions {
  /** Context limit of the model. */
  nPositions: number;
  /** Model vocabulary size. */
  vocab: number;
  /** Keep the last n_positions tokens of a too-long prompt instead of failing. */
  truncateLeft?: boolean;
}

/** Tokenise prompt pairs; a good or bad word that is not one token is a one-line UserError. */
export function encodePrompts(tok: Tokenizer, pairs: PromptPair[], opts: EncodeOptions): EncodedPrompt[] {
  return pairs.map((p, i) => {
    if (p.prompt.trim() === '') throw new UserError('E_INPUT', `prompt ${i + 1} is empty; give some text`);
    const warnings: string[] = [];
    let ids = tok.encode(p.prompt);
    if (ids.length > opts.nPositions) {
      if (!opts.truncateLeft) {
        throw new UserError(
          'E_INPUT',
          `prompt ${i + 1} is ${ids.length} tokens, longer than the model's context of ${opts.nPositions}; shorten it or pass --truncate left`,
        );
      }
      warnings.push(`prompt ${i + 1}: truncated from ${ids.length} to its last ${opts.nPositions} tokens`);
      ids = ids.slice(ids.length - opts.nPositions);
    }
    const bad = ids.find((id) => id >= opts.vocab);
    if (bad !== undefined)
      throw new UserError('E_TOKENIZER', `prompt ${i + 1} has token id ${bad}, outside the model's vocabulary of ${opts.vocab}; use the model's own tokenizer`);
    const goodId = candidateId(tok, p.prompt, p.good, 'good', i, opts.vocab, warnings);
    const badId = candidateId(tok, p.prompt, p.bad, 'bad', i, opts.vocab, warnings);
    if (goodId === badId) warnings.push(`prompt ${i + 1}: good and bad words share their first token '${tok.tokenString(goodId)}'; their gap is 0`);
    return { ...p, ids, goodId, badId, warnings };
  });
}
