/** The one prompt-file reader (src/io/promptFile.ts) and the --out checks (src/io/output.ts). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPromptRecords } from '../../src/io/promptFile.js';
import { checkOutDir, checkOutFile } from '../../src/io/output.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-prompts-'));
const w = (name: string, body: string) => {
  writeFileSync(join(dir, name), body);
  return join(dir, name);
};

describe('readPromptRecords', () => {
  const prompts = ['The cat, "quoted"', 'A dog'];
  it('reads the same prompts from .txt, .json (strings, objects, {prompts}), .jsonl and .csv', () => {
    const files = [
      w('p.txt', prompts.join('\n') + '\n\n'),
      w('a.json', JSON.stringify(prompts)),
      w('o.json', JSON.stringify(prompts.map((prompt) => ({ prompt, other: 1 })))),
      w('w.json', JSON.stringify({ prompts })),
      w('p.jsonl', prompts.map((p, i) => JSON.stringify(i === 0 ? p : { prompt: p })).join('\n') + '\n'),
      w('p.csv', 'id,prompt\n1,"The cat, ""quoted"""\n2,A dog\n'),
    ];
    for (const f of files)
      expect(
        readPromptRecords(f, { flag: '--prompts' }).map((r) => r.prompt),
        f,
      ).toEqual(prompts);
  });

  it('reads prompt, good, bad records and refuses a .txt for them', () => {
    const f = w('pairs.csv', 'prompt,good,bad\nThe sky is,blue,green\n');
    expect(readPromptRecords(f, { flag: '--prompts', extra: ['good', 'bad'] as const })).toEqual([{ prompt: 'The sky is', good: 'blue', bad: 'green' }]);
    expect(() => readPromptRecords(w('pairs.txt', 'x\n'), { flag: '--prompts', extra: ['good', 'bad'] as const })).toThrow(
      /need a \.json, \.jsonl or \.csv file/,
    );
  });

  it('numbers prompts from 1 in its errors and refuses empty prompts', () => {
    expect(() => readPromptRecords(w('e.json', JSON.stringify(['ok', ' '])), { flag: '--prompts' })).toThrow(/prompt 2: prompt 2 is empty/);
    expect(() => readPromptRecords(w('n.jsonl', '"ok"\n\n{"prompt": 3}\n'), { flag: '--prompt-file' })).toThrow(
      /--prompt-file .* line 3: "prompt" must be a string/,
    );
  });
});

describe('--out checks', () => {
  const file = w('exists.txt', 'x');
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  it('a DIR: an existing directory or a creatable path; never a file or a path under a file', () => {
    expect(() => checkOutDir(sub)).not.toThrow();
    expect(() => checkOutDir(join(dir, 'new', 'deeper'))).not.toThrow();
    expect(() => checkOutDir(file)).toThrow(/is a file/);
    expect(() => checkOutDir(join(file, 'x'))).toThrow(/is a file, not a directory/);
  });
  it('a FILE: an existing file or a creatable path; never a directory', () => {
    expect(() => checkOutFile(file)).not.toThrow();
    expect(() => checkOutFile(join(dir, 'new', 'out.json'))).not.toThrow();
    expect(() => checkOutFile(sub)).toThrow(/is a directory/);
    expect(() => checkOutFile(sub + '/')).toThrow(/names a directory/);
  });
});
