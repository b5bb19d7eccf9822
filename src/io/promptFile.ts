/**
 * The one prompt-file reader of every command (sample --prompts, generate --prompt-file, heads and
 * demo --prompts). Formats, by extension:
 *   .txt (or any other)  one prompt per line (blank lines skipped)
 *   .json                an array of strings or of objects, or {"prompts": [...]}
 *   .jsonl               one JSON string or object per line (blank lines skipped)
 *   .csv                 a header row naming the columns
 * Objects carry the fields asked for (`prompt`, and for the head analysis `good` and `bad`); other
 * keys are ignored. Every prompt must be non-empty (an empty prompt is refused everywhere). Errors
 * are one line naming the file and the prompt (numbered from 1, like every prompt number the CLI
 * prints).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { UserError } from '../errors.js';

export type PromptRecord<K extends string> = { prompt: string } & Record<K, string>;

function readText(path: string, flag: string): string {
  if (!existsSync(path)) throw new UserError('E_FILE', `${flag} ${path} does not exist; give a prompt file (.txt, .json, .jsonl or .csv)`);
  if (statSync(path).isDirectory()) throw new UserError('E_FILE', `${flag} ${path} is a directory; give a prompt file (.txt, .json, .jsonl or .csv)`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError('E_FILE', `cannot read ${flag} ${path}: ${(e as Error).message}`);
  }
}

/**
 * Read the prompts of `path` (see the file comment). `extra` names the string fields each record
 * needs besides `prompt` (a .txt file then cannot be used); `flag` names the option in errors.
 */
export function readPromptRecords<K extends string = never>(path: string, opts: { flag: string; extra?: readonly K[] }): PromptRecord<K>[] {
  const { flag } = opts;
  const extra = opts.extra ?? [];
  const text = readText(path, flag);
  const lower = path.toLowerCase();
  const fields = ['prompt', ...extra];
  let items: { value: unknown; where: string }[];
  if (lower.endsWith('.json')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new UserError('E_FILE', `${flag} ${path} is not valid JSON: ${(e as Error).message}`);
    }
    const arr = Array.isArray(data) ? data : (data as { prompts?: unknown } | null)?.prompts;
    if (!Array.isArray(arr)) throw new UserError('E_INPUT', `${flag} ${path}: expected a JSON array of prompts or {"prompts": [...]}`);
    items = arr.map((value, i) => ({ value, where: `prompt ${i + 1}` }));
  } else if (lower.endsWith('.jsonl')) {
    items = [];
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        items.push({ value: JSON.parse(line), where: `line ${i + 1}` });
      } catch (e) {
        throw new UserError('E_FILE', `${flag} ${path} line ${i + 1} is not valid JSON: ${(e as Error).message}`);
      }
    });
  } else if (lower.endsWith('.csv')) {
    let rows: Record<string, string>[];
    try {
      rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: false }) as Record<string, string>[];
    } catch (e) {
      throw new UserError('E_FILE', `${flag} ${path} is not valid CSV: ${(e as Error).message.split('\n')[0]}`);
    }
    const missing = rows.length > 0 ? fields.find((f) => !(f in rows[0])) : undefined;
    if (missing) throw new UserError('E_INPUT', `${flag} ${path}: the CSV needs a '${missing}' column (columns: ${fields.join(', ')})`);
    items = rows.map((value, i) => ({ value, where: `row ${i + 2}` }));
  } else {
    if (extra.length) throw new UserError('E_FILE', `${flag} ${path}: prompts with ${extra.join(', ')} need a .json, .jsonl or .csv file`);
    items = text.split(/\r?\n/).flatMap((line, i) => (line.trim() === '' ? [] : [{ value: line, where: `line ${i + 1}` }]));
  }
  if (items.length === 0) throw new UserError('E_INPUT', `${flag} ${path} has no prompts`);
  return items.map(({ value, where }, n) => {
    const rec: Record<string, unknown> = typeof value === 'string' && extra.length === 0 ? { prompt: value } : (value as Record<string, unknown>);
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
      throw new UserError(
        'E_INPUT',
        `${flag} ${path} ${where}: expected ${extra.length ? `an object with ${fields.join(', ')}` : 'a string or an object with "prompt"'}`,
      );
    for (const f of fields) {
      if (typeof rec[f] !== 'string') throw new UserError('E_INPUT', `${flag} ${path} ${where}: "${f}" must be a string`);
    }
    if ((rec.prompt as string).trim() === '') throw new UserError('E_INPUT', `${flag} ${path} ${where}: prompt ${n + 1} is empty; give some text`);
    const out: Record<string, string> = {};
    for (const f of fields) out[f] = rec[f] as string;
    return out as PromptRecord<K>;
  });
}
