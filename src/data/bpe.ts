/**
 * The vocabulary-size knob: GPT-2's byte-level BPE truncated to its first K merges.
 *
 * GPT-2's tokenizer (assets/gpt2/tokenizer.json, the real Hugging Face file) has 256 byte tokens
 * at ids 0..255, in the order of its byte-to-unicode alphabet, and merge i (0-based, 50000 of
 * them) produces the token with id 256+i; the parts of merge i always have ids < 256+i;
 * `<|endoftext|>` is 50256. `gpt2Invariants` checks all of this on the file. Keeping only the
 * first K merges therefore gives another valid byte-level BPE in which every kept token keeps
 * its GPT-2 id (ids < 256+K) and only `<|endoftext|>` moves, to 256+K: vocabulary 257+K. Any
 * text is still encodable (bytes are the fallback), decoding is lossless, and K = 50000
 * reproduces GPT-2 exactly.
 *
 * Tokenizers run on @huggingface/transformers' JS implementation; `encodeCorpus` tokenises
 * many documents fast by encoding each distinct pre-token once (same ids, see there).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoTokenizer, PreTrainedTokenizer, env } from '@huggingface/transformers';
import { UserError } from '../errors.js';
import { atomicWrite } from '../io/atomic.js';

/** Number of merges in GPT-2's BPE. */
export const GPT2_MERGES = 50000;
export const EOT_TOKEN = '<|endoftext|>';

/** The parts of tokenizer.json that this module reads or rewrites; the rest is carried along. */
export interface TokenizerJson {
  added_tokens: { id: number; content: string; special?: boolean; [k: string]: unknown }[];
  model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** A byte-level BPE tokenizer with its identity. */
export interface BpeTokenizer {
  /** Number of merges K. */
  readonly merges: number;
  /** 257 + K: byte tokens, merge tokens, `<|endoftext|>`. */
  readonly vocabSize: number;
  /** Id of `<|endoftext|>` (256 + K). */
  readonly eotId: number;
  /** sha256 (hex) of the tokenizer.json bytes this tokenizer was built from. */
  readonly hash: string;
  /** Token ids of `text`; the literal text `<|endoftext|>` maps to `eotId`. */
  encode(text: string): number[];
  /** Text of `ids` (special tokens kept, no clean-up): the inverse of `encode`. */
  decode(ids: ArrayLike<number>): string;
  /** The underlying transformers.js tokenizer. */
  readonly hf: PreTrainedTokenizer;
}

/** GPT-2's byte-to-unicode map: entry b is the printable character that stands for byte b. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const out: string[] = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCharCode(256 + n++);
  return out;
}

/** The 256 byte tokens in GPT-2's id order (printable bytes first, then the remapped ones). */
export function gpt2ByteTokenOrder(): string[] {
  const map = bytesToUnicode();
  const printable = [...map.keys()].filter((b) => map[b].charCodeAt(0) === b);
  const rest = [...map.keys()].filter((b) => map[b].charCodeAt(0) !== b);
  return [...printable, ...rest].map((b) => map[b]);
}

/** Directory of the repository's GPT-2 tokenizer files (assets/gpt2), found from this module. */
export function gpt2AssetDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'assets', 'gpt2');
    if (existsSync(join(candidate, 'tokenizer.json'))) return candidate;
    dir = dirname(dir);
  }
  throw new UserError('E_FILE', 'assets/gpt2/tokenizer.json was not found above src/data: restore the assets/gpt2 folder of the spinbath repository');
}

function parseTokenizerJson(bytes: Buffer, path: string): TokenizerJson {
  try {
    return JSON.parse(bytes.toString('utf8')) as TokenizerJson;
  } catch (e) {
    throw new UserError('E_FILE', `${path} is not valid JSON (${(e as Error).message}): restore or rewrite the file`);
  }
}

function readJsonFile(path: string): unknown {
  if (!existsSync(path)) throw new UserError('E_FILE', `${path} is missing: restore it (GPT-2 tokenizer files live in assets/gpt2)`);
  return parseTokenizerJson(readFileSync(path), path);
}

function mergePair(m: [string, string] | string): [string, string] {
  if (Array.isArray(m)) return m;
  const k = m.indexOf(' ');
  return [m.slice(0, k), m.slice(k + 1)];
}

/**
 * Check the id layout that truncation relies on; throws a UserError naming the first
 * violation. Returns the number of merges.
 */
export function gpt2Invariants(json: TokenizerJson, where = 'tokenizer.json'): number {
  const fail = (what: string): never => {
    throw new UserError(
      'E_FILE',
      `${where}: ${what}; it is not GPT-2's byte-level BPE or a truncation of it: rewrite it with writeTruncatedTokenizer(dir, K), or restore assets/gpt2 from the gpt2 checkpoint`,
    );
  };
  if (json?.model?.type !== 'BPE' || typeof json.model.vocab !== 'object' || !Array.isArray(json.model.merges))
    fail('model is not a BPE with vocab and merges');
  if (!Array.isArray(json.added_tokens)) fail('added_tokens is missing');
  const pre = json.pre_tokenizer as { type?: string; add_prefix_space?: boolean; use_regex?: boolean } | null;
  if (pre?.type !== 'ByteLevel' || pre.add_prefix_space !== false || pre.use_regex !== true || json.normalizer != null) {
    fail('the pre-tokenizer is not ByteLevel (no prefix space, GPT-2 regex) without a normalizer');
  }
  const vocab = json.model.vocab;
  const order = gpt2ByteTokenOrder();
  for (let i = 0; i < 256; i++) if (vocab[order[i]] !== i) fail(`byte token "${order[i]}" has id ${vocab[order[i]]}, expected ${i}`);
  const merges = json.model.merges;
  for (let i = 0; i < merges.length; i++) {
    const [a, b] = mergePair(merges[i]);
    const id = 256 + i;
    if (vocab[a + b] !== id) fail(`merge ${i} ("${a}" "${b}") produces id ${vocab[a + b]}, expected ${id}`);
    if (!(vocab[a] < id && vocab[b] < id)) fail(`merge ${i} uses a token that is not created before it`);
  }
  const eot = json.added_tokens.find((t) => t.content === EOT_TOKEN);
  if (!eot || eot.id !== 256 + merges.length) fail(`${EOT_TOKEN} is not at id ${256 + merges.length}`);
  if (vocab[EOT_TOKEN] !== 256 + merges.length) fail(`the model vocab has ${EOT_TOKEN} at ${vocab[EOT_TOKEN]}, expected ${256 + merges.length}`);
  if (Object.keys(vocab).length !== 257 + merges.length) fail(`vocab has ${Object.keys(vocab).length} entries, expected ${257 + merges.length}`);
  return merges.length;
}

let gpt2Cache: { bytes: Buffer; config: Record<string, unknown> } | null = null;

/**
 * GPT-2's files, checked once. `json` is a fresh parse on every call, because the tokenizer
 * implementation may keep or alter the object it is given.
 */
function gpt2Files(): { json: TokenizerJson; bytes: Buffer; config: Record<string, unknown> } {
  if (!gpt2Cache) {
    const dir = gpt2AssetDir();
    const path = join(dir, 'tokenizer.json');
    const bytes = readFileSync(path);
    const n = gpt2Invariants(parseTokenizerJson(bytes, path), path);
    if (n !== GPT2_MERGES) throw new UserError('E_FILE', `${path} has ${n} merges, GPT-2 has ${GPT2_MERGES}: restore the original file`);
    const config = readJsonFile(join(dir, 'tokenizer_config.json')) as Record<string, unknown>;
    gpt2Cache = { bytes, config };
  }
  const { bytes, config } = gpt2Cache;
  return { json: parseTokenizerJson(bytes, 'tokenizer.json'), bytes, config: structuredClone(config) };
}

function checkMerges(K: number): void {
  if (!Number.isInteger(K) || K < 0 || K > GPT2_MERGES) {
    throw new UserError('E_ARG', `number of BPE merges K=${K} is out of range: give an integer 0..${GPT2_MERGES} (vocabulary = 257 + K)`);
  }
}

/** GPT-2's tokenizer.json truncated to its first K merges (a fresh object; ids as in the file comment). */
export function truncatedTokenizerJson(K: number): TokenizerJson {
  checkMerges(K);
  const src = gpt2Files().json;
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(src.model.vocab)) if (id < 256 + K) vocab[tok] = id;
  vocab[EOT_TOKEN] = 256 + K; // GPT-2's model vocab lists <|endoftext|> too
  const eot = src.added_tokens.find((t) => t.content === EOT_TOKEN)!;
  return {
    ...src,
    added_tokens: [{ ...eot, id: 256 + K }],
    model: { ...src.model, vocab, merges: src.model.merges.slice(0, K).map(mergePair) },
  };
}

/** tokenizer_config.json for the K-merge tokenizer (GPT-2's, with `<|endoftext|>` renumbered). */
export function truncatedTokenizerConfig(K: number): Record<string, unknown> {
  checkMerges(K);
  const src = gpt2Files().config;
  const decoder = (src.added_tokens_decoder ?? {}) as Record<string, unknown>;
  const eotEntry = decoder[String(256 + GPT2_MERGES)] ?? {
    content: EOT_TOKEN,
    lstrip: false,
    normalized: true,
    rstrip: false,
    single_word: false,
    special: true,
  };
  return { ...src, added_tokens_decoder: { [String(256 + K)]: eotEntry } };
}

/** The exact bytes written to tokenizer.json (compact JSON); the tokenizer hash is their sha256. */
export function serializeTokenizerJson(json: TokenizerJson): string {
  return JSON.stringify(json);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Write the K-merge tokenizer to `dir` (tokenizer.json, tokenizer_config.json, vocab.json,
 * merges.txt, special_tokens_map.json), each atomically. `loadTokenizerDir(dir)` or
 * transformers' `AutoTokenizer.from_pretrained(absoluteDir, { local_files_only: true })` load it.
 * Returns the tokenizer hash.
 */
export function writeTruncatedTokenizer(dir: string, K: number): string {
  const json = truncatedTokenizerJson(K);
  const text = serializeTokenizerJson(json);
  atomicWrite(join(dir, 'tokenizer.json'), text);
  atomicWrite(join(dir, 'tokenizer_config.json'), JSON.stringify(truncatedTokenizerConfig(K), null, 2) + '\n');
  atomicWrite(join(dir, 'vocab.json'), JSON.stringify(json.model.vocab));
  const merges = (json.model.merges as [string, string][]).map(([a, b]) => `${a} ${b}\n`).join('');
  atomicWrite(join(dir, 'merges.txt'), `#version: 0.2\n${merges}`);
  const special = { bos_token: EOT_TOKEN, eos_token: EOT_TOKEN, unk_token: EOT_TOKEN };
  atomicWrite(join(dir, 'special_tokens_map.json'), JSON.stringify(special, null, 2) + '\n');
  return sha256Hex(text);
}

function wrap(hf: PreTrainedTokenizer, merges: number, hash: string): BpeTokenizer {
  const eotId = 256 + merges;
  if (hf.convert_tokens_to_ids(EOT_TOKEN) !== eotId) {
    throw new UserError(
      'E_FILE',
      `tokenizer with ${merges} merges has ${EOT_TOKEN} at id ${hf.convert_tokens_to_ids(EOT_TOKEN)}, expected ${eotId}: rewrite it with writeTruncatedTokenizer`,
    );
  }
  return {
    merges,
    vocabSize: 257 + merges,
    eotId,
    hash,
    hf,
    encode: (text: string) => (text.length === 0 ? [] : hf.encode(text, { add_special_tokens: false })),
    decode: (ids: ArrayLike<number>) =>
      ids.length === 0 ? '' : hf.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
  };
}

let fullCache: BpeTokenizer | null = null;

/** The original GPT-2 tokenizer from assets/gpt2 (50257 tokens; hash of that tokenizer.json). */
export function gpt2Tokenizer(): BpeTokenizer {
  if (fullCache) return fullCache;
  const { json, bytes, config } = gpt2Files();
  fullCache = wrap(new PreTrainedTokenizer(json, config), GPT2_MERGES, sha256Hex(bytes));
  return fullCache;
}

/** The K-merge tokenizer built in memory (same ids and hash as the files `writeTruncatedTokenizer` writes). */
export function truncatedTokenizer(K: number): BpeTokenizer {
  const json = truncatedTokenizerJson(K);
  return wrap(new PreTrainedTokenizer(json, truncatedTokenizerConfig(K)), K, sha256Hex(serializeTokenizerJson(json)));
}

/** Load a tokenizer directory (as written by `writeTruncatedTokenizer`, or assets/gpt2) via AutoTokenizer, offline. */
export async function loadTokenizerDir(dir: string): Promise<BpeTokenizer> {
  const abs = resolve(dir); // absolute, so transformers never reads it as a Hub model id
  const path = join(abs, 'tokenizer.json');
  if (!existsSync(path) || !existsSync(join(abs, 'tokenizer_config.json'))) {
    throw new UserError('E_FILE', `${abs} has no tokenizer.json and tokenizer_config.json: write one with writeTruncatedTokenizer(dir, K)`);
  }
  const bytes = readFileSync(path);
  const K = gpt2Invariants(parseTokenizerJson(bytes, path), path);
  env.allowRemoteModels = false; // offline only, as in src/model/tokenizer.ts
  env.useFSCache = false;
  env.useBrowserCache = false;
  let hf: PreTrainedTokenizer;
  try {
    hf = await AutoTokenizer.from_pretrained(abs, { local_files_only: true });
  } catch (e) {
    throw new UserError('E_FILE', `cannot load the tokenizer in ${abs} (${(e as Error).message}): rewrite it with writeTruncatedTokenizer(dir, K)`);
  }
  return wrap(hf, K, sha256Hex(bytes));
}

/** Token ids of many documents, each followed by `<|endoftext|>`. */
export interface EncodedCorpus {
  /** Uint16Array when the vocabulary fits in 16 bits, else Uint32Array. */
  ids: Uint16Array | Uint32Array;
  /** Start of document i is docOffsets[i]; docOffsets[n] = ids.length. Document i's text tokens end at docOffsets[i+1]-1, where its `<|endoftext|>` sits. */
  docOffsets: number[];
}

/** A typed array suited to a vocabulary of `vocabSize` ids. */
export function idArrayFor(vocabSize: number, length: number): Uint16Array | Uint32Array {
  return vocabSize <= 65536 ? new Uint16Array(length) : new Uint32Array(length);
}

/**
 * GPT-2's pre-tokeniser pattern (the ByteLevel pre-tokeniser with use_regex, identical to the
 * one in @huggingface/tokenizers). BPE merges never cross a match, so a text's ids are the
 * concatenation of the ids of its matches, each encoded alone.
 */
const GPT2_PRETOKEN_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * Tokenise documents, each followed by `<|endoftext|>`. Texts are cut into GPT-2 pre-tokens and
 * each distinct pre-token is encoded once (Brown has about 1M words but only tens of thousands of
 * distinct ones), which is several times faster than encoding whole texts and gives the same ids
 * (a test checks it); a text containing the literal `<|endoftext|>` is encoded whole.
 * Calls `onDocument` after each document.
 */
export function encodeCorpus(
  tok: BpeTokenizer,
  docs: readonly { text: string }[],
  onDocument?: (done: number, total: number, tokens: number) => void,
): EncodedCorpus {
  const memo = new Map<string, number[]>();
  const chunks: number[][] = [];
  const docOffsets: number[] = [0];
  const eot = [tok.eotId];
  let total = 0;
  const push = (ids: number[]): void => {
    chunks.push(ids);
    total += ids.length;
  };
  docs.forEach((d, i) => {
    if (d.text.includes(EOT_TOKEN)) {
      push(tok.encode(d.text));
    } else {
      for (const m of d.text.matchAll(GPT2_PRETOKEN_PATTERN)) {
        const piece = m[0];
        let ids = memo.get(piece);
        if (ids === undefined) {
          ids = tok.encode(piece);
          memo.set(piece, ids);
        }
        push(ids);
      }
    }
    push(eot);
    docOffsets.push(total);
    onDocument?.(i + 1, docs.length, total);
  });
  const ids = idArrayFor(tok.vocabSize, total);
  let off = 0;
  for (const c of chunks) {
    ids.set(c, off);
    off += c.length;
  }
  return { ids, docOffsets };
}
