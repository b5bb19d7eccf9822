/**
 * The bundled GPT-2 tokenizer (assets/gpt2): known ids, no added BOS/EOS, lossless round trips,
 * and the vocab.json + merges.txt fallback giving identical encodings.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { bundledGpt2Dir, loadTokenizer, type Tokenizer } from '../../src/model/tokenizer.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-tok-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const texts = [
  'Hello',
  'The quick brown fox, jumped over the lazy dog!',
  '  leading and  double  spaces\tand tabs\nnew lines',
  'Ünïcödé: naïve café — “quotes” 日本語 🎉👍🏽',
  "It's 3.14159 o'clock; isn't it?",
];

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer();
});

describe('bundled GPT-2 tokenizer', () => {
  it('encodes known ids without adding special tokens', () => {
    expect(tok.encode('Hello')).toEqual([15496]);
    expect(tok.encode(' Hello')).toEqual([18435]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.eosId).toBe(50256);
    expect(tok.vocabSize).toBe(50257);
    expect(tok.encode('<|endoftext|>')).toEqual([50256]);
  });

  it('round-trips text with spaces, punctuation and unicode', () => {
    for (const t of texts) expect(tok.decode(tok.encode(t))).toBe(t);
  });

  it('gives the text of single tokens', () => {
    expect(tok.tokenString(15496)).toBe('Hello');
    expect(tok.tokenString(220)).toBe(' ');
    expect(tok.tokenString(50256)).toBe('<|endoftext|>');
    expect(tok.encode('Hello world').map((id) => tok.tokenString(id))).toEqual(['Hello', ' world']);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([50257])).toThrow(UserError);
    expect(() => tok.tokenString(-1)).toThrow(/outside the tokenizer's vocabulary/);
  });

  it('builds the same tokenizer from vocab.json + merges.txt alone', async () => {
    const d = join(tmp, 'legacy');
    mkdirSync(d);
    for (const f of ['vocab.json', 'merges.txt']) copyFileSync(join(bundledGpt2Dir(), f), join(d, f));
    const legacy = await loadTokenizer(d);
    expect(legacy.eosId).toBe(50256);
    expect(legacy.vocabSize).toBe(50257);
    for (const t of texts) {
      expect(legacy.encode(t)).toEqual(tok.encode(t));
      expect(legacy.decode(legacy.encode(t))).toBe(t);
    }
  });

  it('loads a directory with tokenizer.json but no tokenizer_config.json', async () => {
    const d = join(tmp, 'jsononly');
    mkdirSync(d);
    copyFileSync(join(bundledGpt2Dir(), 'tokenizer.json'), join(d, 'tokenizer.json'));
    expect((await loadTokenizer(d)).encode(texts[1])).toEqual(tok.encode(texts[1]));
  });

  it('reports a directory without tokenizer files', async () => {
    const d = join(tmp, 'empty');
    mkdirSync(d);
    const e = await loadTokenizer(d).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toContain('has no tokenizer.json');
    await expect(loadTokenizer(join(tmp, 'missing'))).rejects.toThrow(/does not exist/);
  });
});
