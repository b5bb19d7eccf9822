/**
 * Prompt sets for the head analysis: JSON ({prompts:[{prompt, good, bad}]} or a bare array) or CSV
 * with a header prompt,good,bad. Good/bad words are scored by their first token; a leading space is
 * added when the prompt does not end in whitespace (GPT-2 tokens carry their leading space).
 */
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { zodToUserError } from '../config/zodError.js';
import { UserError } from '../errors.js';
import type { Tokenizer } from '../model/tokenizer.js';

/** A prompt with the continuation expected (good) and a contrast (bad). */
export interface PromptPair {
  prompt: string;
  good: string;
  bad: string;
}

/** A prompt pair tokenized: prompt ids and the first token of good and bad. */
export interface EncodedPrompt extends PromptPair {
  ids: number[];
  goodId: number;
  badId: number;
  /** Human-readable notes, e.g. a good/bad word that is several tokens. */
  warnings: string[];
}

const pairSchema = z.object({ prompt: z.string(), good: z.string(), bad: z.string() }).passthrough();
const fileSchema = z.union([z.array(pairSchema), z.object({ prompts: z.array(pairSchema) }).passthrough()]);

/** Read prompt pairs from a JSON (array, or {prompts: [...]}) or CSV (prompt, good, bad) file; UserError on bad input. */
export function readPromptFile(path: string): PromptPair[] {
  if (!existsSync(path)) throw new UserError('E_FILE', `prompt file ${path} does not exist; give a JSON or CSV file with prompt, good, bad`);
  const text = readFileSync(path, 'utf8');
  let rows: unknown;
  if (path.toLowerCase().endsWith('.csv')) {
    try {
      rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: false });
    } catch (e) {
      throw new UserError('E_FILE', `prompt file ${path} is not valid CSV: ${(e as Error).message.split('\n')[0]}`);
    }
  } else {
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new UserError('E_FILE', `prompt file ${path} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const r = fileSchema.safeParse(rows);
  if (!r.success) throw zodToUserError(r.error, `prompt file ${path}`, 'E_INPUT');
  const list = Array.isArray(r.data) ? r.data : r.data.prompts;
  if (list.length === 0) throw new UserError('E_INPUT', `prompt file ${path} has no prompts`);
  return list.map((p) => ({ prompt: p.prompt, good: p.good, bad: p.bad }));
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
  if (ids[0] >= vocab) throw new UserError('E_TOKENIZER', `prompt ${index + 1}: the ${which} word '${word}' has token id ${ids[0]}, outside the model's vocabulary of ${vocab}`);
  if (ids.length > 1) {
    warnings.push(`prompt ${index + 1}: ${which} word '${word}' is ${ids.length} tokens; using its first token '${tok.tokenString(ids[0])}'`);
  }
  return ids[0];
}

/** Limits that `encodePrompts` checks prompts against. */
export interface EncodeOptions {
  /** Context limit of the model. */
  nPositions: number;
  /** Model vocabulary size. */
  vocab: number;
  /** Keep the last n_positions tokens of a too-long prompt instead of failing. */
  truncateLeft?: boolean;
}

/** Tokenize prompt pairs against the model's vocabulary and context (UserError naming the pair on failure). */
export function encodePrompts(tok: Tokenizer, pairs: PromptPair[], opts: EncodeOptions): EncodedPrompt[] {
  return pairs.map((p, i) => {
    if (p.prompt.trim() === '') throw new UserError('E_INPUT', `prompt ${i + 1} is empty; give some text`);
    const warnings: string[] = [];
    let ids = tok.encode(p.prompt);
    if (ids.length > opts.nPositions) {
      if (!opts.truncateLeft) {
        throw new UserError('E_INPUT', `prompt ${i + 1} is ${ids.length} tokens, longer than the model's context of ${opts.nPositions}; shorten it or pass --truncate left`);
      }
      warnings.push(`prompt ${i + 1}: truncated from ${ids.length} to its last ${opts.nPositions} tokens`);
      ids = ids.slice(ids.length - opts.nPositions);
    }
    const bad = ids.find((id) => id >= opts.vocab);
    if (bad !== undefined) throw new UserError('E_TOKENIZER', `prompt ${i + 1} has token id ${bad}, outside the model's vocabulary of ${opts.vocab}; use the model's own tokenizer`);
    const goodId = candidateId(tok, p.prompt, p.good, 'good', i, opts.vocab, warnings);
    const badId = candidateId(tok, p.prompt, p.bad, 'bad', i, opts.vocab, warnings);
    if (goodId === badId) warnings.push(`prompt ${i + 1}: good and bad words share their first token '${tok.tokenString(goodId)}'; their gap is 0`);
    return { ...p, ids, goodId, badId, warnings };
  });
}
