/**
 * Builds configs/prompts/brown-pairs-200.json: contexts from the Brown TEST split whose true next
 * token is `good`, each with a frequency-matched `bad` foil, for the head analysis of the embedded
 * Brown model (factual-recall prompts mean little to it).
 *
 *   npx tsx scripts/make-brown-pairs.ts [--merges 8000] [--n 200] [--context 48] [--seed 0] [--out FILE]
 *
 * Selection (all deterministic from --seed):
 * - word tokens: a leading space then ≥ 3 ASCII letters, seen ≥ 20 times in the TRAIN split;
 * - a test position qualifies when its token is a word token and ≥ `context` tokens of the same
 *   document precede it; positions are drawn without replacement by the seeded RNG;
 * - the foil is the word token nearest in train-split frequency rank (ties: the rarer side first)
 *   that differs from `good` and does not occur in the context;
 * - the prompt is the decoded context; it must re-encode to the same tokens (its first token may
 *   merge differently once the leading space is dropped), else the position is skipped.
 */
import { parseArgs } from 'node:util';
import { brownSplit } from '../src/data/brown.js';
import { encodeCorpus, truncatedTokenizer } from '../src/data/bpe.js';
import { atomicWriteJson } from '../src/io/atomic.js';
import { makeRng } from '../src/rng.js';

const { values } = parseArgs({
  options: {
    merges: { type: 'string', default: '8000' },
    n: { type: 'string', default: '200' },
    context: { type: 'string', default: '48' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'configs/prompts/brown-pairs-200.json' },
  },
});
const K = Number(values.merges);
const N = Number(values.n);
const CTX = Number(values.context);
const tok = truncatedTokenizer(K);

const train = encodeCorpus(tok, brownSplit('train'));
const counts = new Float64Array(tok.vocabSize);
for (const id of train.ids) counts[id]++;
const isWord = new Uint8Array(tok.vocabSize);
for (let id = 0; id < tok.vocabSize; id++) if (counts[id] >= 20 && /^ [A-Za-z]{3,}$/.test(tok.decode([id]))) isWord[id] = 1;
const ranked = [...Array(tok.vocabSize).keys()].filter((i) => isWord[i]).sort((a, b) => counts[b] - counts[a] || a - b);
const rankOf = new Map(ranked.map((id, r) => [id, r]));

const test = encodeCorpus(tok, brownSplit('test'));
const docs = brownSplit('test');
const positions: { t: number; doc: number }[] = [];
for (let d = 0; d < docs.length; d++) {
  for (let t = test.docOffsets[d] + CTX; t < test.docOffsets[d + 1] - 1; t++) if (isWord[test.ids[t]]) positions.push({ t, doc: d });
}
const rng = makeRng(`brown-pairs/${values.seed}`);
const prompts: { prompt: string; good: string; bad: string; doc: string; good_count: number; bad_count: number }[] = [];
const used = new Set<number>();
while (prompts.length < N && used.size < positions.length) {
  const i = rng.int(positions.length);
  if (used.has(i)) continue;
  used.add(i);
  const { t, doc } = positions[i];
  const good = test.ids[t];
  const ctx = Array.from(test.ids.subarray(t - CTX, t));
  const prompt = tok.decode(ctx).trimStart();
  const re = tok.encode(prompt);
  if (re.length < 2 || re.slice(1).join() !== ctx.slice(ctx.length - re.length + 1).join()) continue;
  const inCtx = new Set(ctx);
  const r = rankOf.get(good)!;
  let bad = -1;
  for (let off = 1; off < ranked.length && bad < 0; off++) {
    for (const cand of [ranked[r + off], ranked[r - off]]) {
      if (cand !== undefined && cand !== good && !inCtx.has(cand)) {
        bad = cand;
        break;
      }
    }
  }
  if (bad < 0) continue;
  const word = (id: number) => tok.decode([id]).slice(1);
  for (const id of [good, bad]) if (tok.encode(' ' + word(id)).join() !== String(id)) throw new Error(`word token ${id} does not round-trip`);
  prompts.push({ prompt, good: word(good), bad: word(bad), doc: docs[doc].id, good_count: counts[good], bad_count: counts[bad] });
}
atomicWriteJson(values.out!, {
  description: `${prompts.length} contexts from the Brown test split (${CTX} tokens of the GPT-2 BPE truncated to ${K} merges) whose true next token is 'good', each with a 'bad' foil matched by train-split frequency rank. Made by scripts/make-brown-pairs.ts --merges ${K} --n ${N} --context ${CTX} --seed ${values.seed}.`,
  merges: K,
  prompts,
});
console.log(`wrote ${prompts.length} prompts to ${values.out}`);
