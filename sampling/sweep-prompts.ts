/**
 * The prompt set of a sweep. Default: N contexts of L tokens drawn deterministically from the
 * Brown TEST split (src/data/brown.ts) with the generating model's tokenizer:
 *   - the 50 test documents sorted by id (so by genre, ca.. to cr..); prompt i starts at document
 *     ⌊i·D/N⌋ (spread over the genres) and moves to the next document when that one has no
 *     unused paragraph of ≥ L tokens;
 *   - among those paragraphs, one is drawn by makeRng(`sweep-prompts/${seed}/${i}`);
 *   - the prompt is the paragraph's first L token ids; its text is their decoding.
 * Paragraph starts make natural contexts. The set depends only on (count, length, seed, tokenizer).
 */
import { brownSplit } from '../src/data/brown.js';
import { UserError } from '../src/errors.js';
import type { Tokenizer } from '../src/model/tokenizer.js';
import { makeRng } from '../src/rng.js';
import { decodeIds } from './baselines.js';
import { canonicalJson, sha16, type PromptSpec } from './sweep-config.js';

export interface PromptSet {
  texts: string[];
  ids: number[][];
  /** Where each prompt came from ('ca01 ¶3'), or 'text i'. */
  origins: string[];
  /** sha256 (16 hex) of the token ids. */
  hash: string;
}

export function brownTestPrompts(tokenizer: Tokenizer, count: number, length: number, seed: number): PromptSet {
  const docs = brownSplit('test');
  const paragraphs = new Map<number, number[][]>(); // doc index → encoded paragraphs (lazily)
  const encoded = (d: number) => {
    if (!paragraphs.has(d))
      paragraphs.set(
        d,
        docs[d].text.split('\n').map((p) => tokenizer.encode(p)),
      );
    return paragraphs.get(d)!;
  };
  const used = new Set<string>();
  const out: PromptSet = { texts: [], ids: [], origins: [], hash: '' };
  for (let i = 0; i < count; i++) {
    const rng = makeRng(`sweep-prompts/${seed}/${i}`);
    let found = false;
    for (let k = 0; k < docs.length && !found; k++) {
      const d = (Math.floor((i * docs.length) / count) + k) % docs.length;
      const cands = encoded(d)
        .map((p, j) => ({ p, j }))
        .filter(({ p, j }) => p.length >= length && !used.has(`${d}/${j}`));
      if (cands.length === 0) continue;
      const { p, j } = cands[rng.int(cands.length)];
      used.add(`${d}/${j}`);
      const ids = p.slice(0, length);
      out.ids.push(ids);
      out.texts.push(decodeIds(tokenizer, ids));
      out.origins.push(`${docs[d].id} ¶${j}`);
      found = true;
    }
    if (!found)
      throw new UserError('E_CONFIG', `prompts: the Brown test split has only ${i} paragraphs of ≥ ${length} tokens; ask for fewer or shorter prompts`);
  }
  out.hash = sha16(canonicalJson(out.ids));
  return out;
}

/** The prompt set of a config for this tokenizer. */
export function buildPromptSet(spec: PromptSpec, tokenizer: Tokenizer): PromptSet {
  if (spec.source === 'brown-test') return brownTestPrompts(tokenizer, spec.count, spec.length, spec.seed);
  const ids = spec.texts.map((t) => tokenizer.encode(t));
  return { texts: spec.texts, ids, origins: spec.texts.map((_, i) => `text ${i}`), hash: sha16(canonicalJson(ids)) };
}
