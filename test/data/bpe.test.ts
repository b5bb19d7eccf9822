/**
 * GPT-2 BPE and its truncation to K merges: known ids, id layout, lossless round trips,
 * files loadable by transformers' AutoTokenizer, and corpus encoding.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoTokenizer } from '@huggingface/transformers';
import { brownDocuments } from '../../src/data/brown.js';
import {
  EOT_TOKEN,
  GPT2_MERGES,
  bytesToUnicode,
  encodeCorpus,
  gpt2AssetDir,
  gpt2ByteTokenOrder,
  gpt2Tokenizer,
  loadTokenizerDir,
  truncatedTokenizer,
  truncatedTokenizerJson,
  writeTruncatedTokenizer,
} from '../../src/data/bpe.js';
import { UserError } from '../../src/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-bpe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const full = gpt2Tokenizer();
const k1000 = truncatedTokenizer(1000);
const paragraph = brownDocuments()[0].text.split('\n').slice(0, 4).join('\n');
const weird = 'naïve café 東京 — “quotes” \u{1F600}\ttabs\n\n  spaces  <|endoftext|> end';

describe('GPT-2 tokenizer', () => {
  it('reads assets/gpt2 inside the repository', () => {
    expect(gpt2AssetDir()).toMatch(/assets[\\/]gpt2$/);
    expect(gpt2AssetDir()).not.toContain('shared');
  });

  it('gives the known ids', () => {
    expect(full.encode('Hello')).toEqual([15496]);
    expect(full.encode(' world')).toEqual([995]);
    expect(full.encode(EOT_TOKEN)).toEqual([50256]);
    expect(full.eotId).toBe(50256);
    expect(full.vocabSize).toBe(50257);
    expect(full.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('has byte tokens at ids 0..255 in byte-to-unicode order', () => {
    const map = bytesToUnicode();
    expect(new Set(map).size).toBe(256);
    expect(map[0x41]).toBe('A');
    expect(map[0x20]).toBe('Ġ');
    expect(map[0x0a]).toBe('Ċ');
    const order = gpt2ByteTokenOrder();
    expect(full.hf.convert_tokens_to_ids(order)).toEqual(order.map((_, i) => i));
  });
});

describe('truncated tokenizer', () => {
  it('keeps GPT-2 ids below 256+K and moves only <|endoftext|>', () => {
    const json = truncatedTokenizerJson(1000);
    const orig = JSON.parse(readFileSync(join(gpt2AssetDir(), 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    expect(Object.keys(json.model.vocab).length).toBe(1257);
    expect(json.model.merges.length).toBe(1000);
    for (const [t, id] of Object.entries(json.model.vocab)) {
      if (t === EOT_TOKEN) expect(id).toBe(1256);
      else expect(id).toBe(orig.model.vocab[t]);
    }
    expect(json.added_tokens.map((t) => [t.content, t.id])).toEqual([[EOT_TOKEN, 1256]]);
  });

  it('has <|endoftext|> at 256+K and every id below 257+K', () => {
    expect(k1000.eotId).toBe(1256);
    expect(k1000.vocabSize).toBe(1257);
    expect(k1000.encode(EOT_TOKEN)).toEqual([1256]);
    const ids = k1000.encode(paragraph + weird);
    expect(Math.max(...ids)).toBeLessThan(1257);
    expect(ids.length).toBeGreaterThan(full.encode(paragraph + weird).length);
    const k0 = truncatedTokenizer(0);
    expect(k0.encode('Hi\n')).toEqual([39, 72, 198]); // raw bytes
    expect(k0.eotId).toBe(256);
  });

  it('round-trips any text losslessly with K=1000', () => {
    for (const s of [weird, paragraph, 'naïve café 東京', ' leading space', 'x\u0000y\u007f\u00ad', '']) {
      expect(k1000.decode(k1000.encode(s))).toBe(s);
    }
  });

  it('equals the original tokenizer with K=50000', () => {
    const k50000 = truncatedTokenizer(GPT2_MERGES);
    expect(k50000.eotId).toBe(50256);
    const text = brownDocuments()[123].text;
    expect(k50000.encode(text)).toEqual(full.encode(text));
    expect(k50000.encode(weird)).toEqual(full.encode(weird));
  });

  it('rejects K outside 0..50000 with one clear line', () => {
    expect(() => truncatedTokenizer(-1)).toThrow(UserError);
    expect(() => truncatedTokenizer(50001)).toThrow(/give an integer 0\.\.50000/);
    expect(() => truncatedTokenizer(1.5)).toThrow(UserError);
  });

  it('writes files that AutoTokenizer loads offline', async () => {
    const dir = join(tmp, 'k1000');
    const hash = writeTruncatedTokenizer(dir, 1000);
    expect(hash).toBe(k1000.hash);
    const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.length).toBe(1002); // header + 1000 merges + final newline
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    expect(vocab[EOT_TOKEN]).toBe(1256);
    const cfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { added_tokens_decoder: Record<string, unknown> };
    expect(Object.keys(cfg.added_tokens_decoder)).toEqual(['1256']);

    const hf = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    expect(hf.encode(paragraph, { add_special_tokens: false })).toEqual(k1000.encode(paragraph));
    const loaded = await loadTokenizerDir(dir);
    expect(loaded.hash).toBe(hash);
    expect(loaded.eotId).toBe(1256);
    expect(loaded.decode(loaded.encode(weird))).toBe(weird);
  });
});

describe('encodeCorpus', () => {
  it('equals encoding each whole document, with <|endoftext|> after each', () => {
    const docs = brownDocuments().slice(0, 3);
    for (const tok of [full, k1000]) {
      const { ids, docOffsets } = encodeCorpus(tok, docs);
      expect(ids).toBeInstanceOf(Uint16Array);
      expect(docOffsets.length).toBe(4);
      expect(docOffsets[3]).toBe(ids.length);
      docs.forEach((d, i) => {
        expect(Array.from(ids.subarray(docOffsets[i], docOffsets[i + 1] - 1))).toEqual(tok.encode(d.text));
        expect(ids[docOffsets[i + 1] - 1]).toBe(tok.eotId);
      });
    }
  });

  it('handles whitespace runs, contractions, non-ASCII and a literal <|endoftext|> exactly', () => {
    const texts = [
      'a\n\nb \n c\n',
      '\nx',
      '',
      "it's 'sfoo I'M we'll \"'s\" don't''",
      'x   y\t\t z  \n\n\n  w   ',
      weird,
      '1999 1,000.5 $3 -- ... !!! ??',
      'Ελληνικά и кириллица 東京タワー 🎉🎉',
    ];
    const docs = texts.map((text) => ({ text }));
    for (const tok of [full, k1000]) {
      const { ids, docOffsets } = encodeCorpus(tok, docs);
      docs.forEach((d, i) => expect(Array.from(ids.subarray(docOffsets[i], docOffsets[i + 1] - 1))).toEqual(tok.encode(d.text)));
    }
  });
});
