/**
 * GPT-2 byte-level BPE tokenizer, via @huggingface/transformers (local files only, never the
 * network). A model directory needs tokenizer.json (+ tokenizer_config.json), or the older
 * vocab.json + merges.txt pair, from which an equivalent tokenizer.json is built in a temp dir.
 * `loadTokenizer()` without a directory uses the bundled GPT-2 tokenizer in assets/gpt2.
 * Encoding never adds BOS/EOS tokens. `checkTokenizerFitsModel` is the rule pairing a tokenizer
 * with a model's embedding (every loader applies it).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

/** A GPT-2 BPE tokenizer: encode, decode, one token's text, vocabulary size and the end-of-text id. */
export interface Tokenizer {
  /** Text → token ids (no special tokens added). */
  encode(text: string): number[];
  /** Token ids → text. */
  decode(ids: number[]): string;
  /** The decoded text of a single id (may be '�' for an id holding part of a UTF-8 character). */
  tokenString(id: number): string;
  /** The number of ids the tokenizer can produce: its largest id (added/special tokens included) + 1. */
  vocabSize: number;
  eosId: number;
}

/** Files that make up a tokenizer in the Hugging Face layout. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json'];

const EOS = '<|endoftext|>';
/** GPT-2's tokenizer_config.json, used when a directory lacks one. */
const DEFAULT_TOKENIZER_CONFIG = {
  tokenizer_class: 'GPT2Tokenizer',
  add_prefix_space: false,
  bos_token: EOS,
  eos_token: EOS,
  unk_token: EOS,
  clean_up_tokenization_spaces: false,
  model_max_length: 1024,
};

/** The package root (the nearest ancestor with package.json), from src/model/ or dist/src/model/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The bundled GPT-2 tokenizer + config directory. */
export function bundledGpt2Dir(): string {
  return join(packageRoot(), 'assets', 'gpt2');
}

/** Copies whichever tokenizer files `from` has into `to`. */
export function copyTokenizerFiles(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of TOKENIZER_FILES) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
}

/**
 * Writes tokenizer.json + tokenizer_config.json equivalent to GPT-2's from vocab.json and
 * merges.txt into `out` (tokenizer_config.json is copied from `dir` when present).
 */
export function buildTokenizerJson(dir: string, out: string): void {
  let vocab: Record<string, number>;
  try {
    vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  } catch (e) {
    throw new UserError('E_FILE', `cannot read ${join(dir, 'vocab.json')} (${(e as Error).message}); re-download the tokenizer files`);
  }
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#version'))
    .map((l) => {
      const pair = l.replace(/\r$/, '').split(' ');
      if (pair.length !== 2) throw new UserError('E_FILE', `${join(dir, 'merges.txt')} has a malformed line ${JSON.stringify(l)} (expected two tokens)`);
      return pair;
    });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: EOS in vocab ? [{ id: vocab[EOS], content: EOS, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }] : [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(json));
  if (existsSync(join(dir, 'tokenizer_config.json'))) {
    copyFileSync(join(dir, 'tokenizer_config.json'), join(out, 'tokenizer_config.json'));
  } else {
    writeFileSync(join(out, 'tokenizer_config.json'), JSON.stringify(DEFAULT_TOKENIZER_CONFIG));
  }
}

type Transformers = typeof import('@huggingface/transformers');
type HfTokenizer = Awaited<ReturnType<Transformers['AutoTokenizer']['from_pretrained']>>;

async function fromPretrained(absDir: string): Promise<HfTokenizer> {
  // imported lazily: the library takes ~0.3 s to load and most commands never tokenize
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.useFSCache = false;
  env.useBrowserCache = false;
  // An absolute path is never a valid hub id, so transformers.js reads `${absDir}/tokenizer.json`
  // directly and ignores env.localModelPath.
  try {
    return await AutoTokenizer.from_pretrained(absDir, { local_files_only: true });
  } catch (e) {
    throw new UserError('E_FILE', `cannot load the tokenizer in ${absDir} (${(e as Error).message}); it needs tokenizer.json (or vocab.json + merges.txt)`);
  }
}

function wrap(tok: HfTokenizer, where: string): Tokenizer {
  // max id + 1, not the count of entries: a vocabulary with holes still produces its largest id
  let vocabSize = 0;
  for (const [token, id] of tok.get_vocab()) if (token !== undefined && id + 1 > vocabSize) vocabSize = id + 1;
  const eos = tok.eos_token_id ?? tok.get_vocab().get(EOS);
  if (typeof eos !== 'number') throw new UserError('E_FILE', `the tokenizer in ${where} has no end-of-text token (${EOS})`);
  const checkIds = (ids: number[]): void => {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new UserError('E_INPUT', `token id ${id} is outside the tokenizer's vocabulary [0, ${vocabSize})`);
      }
    }
  };
  const decodeOpts = { skip_special_tokens: false, clean_up_tokenization_spaces: false };
  return {
    vocabSize,
    eosId: eos,
    encode: (text: string): number[] => {
      if (typeof text !== 'string') throw new UserError('E_TOKENIZER', `cannot encode ${typeof text}; give a string`);
      return tok.encode(text, { add_special_tokens: false });
    },
    decode: (ids: number[]): string => {
      checkIds(ids);
      return tok.decode(ids, decodeOpts);
    },
    tokenString: (id: number): string => {
      checkIds([id]);
      return tok.decode([id], decodeOpts);
    },
  };
}

/** Loads the tokenizer of a model directory (default: the bundled GPT-2 tokenizer). */
export async function loadTokenizer(dir?: string): Promise<Tokenizer> {
  const abs = resolve(dir ?? bundledGpt2Dir());
  const has = (f: string): boolean => existsSync(join(abs, f));
  if (has('tokenizer.json') && has('tokenizer_config.json')) return wrap(await fromPretrained(abs), abs);
  if (!has('tokenizer.json') && !(has('vocab.json') && has('merges.txt'))) {
    const why = !existsSync(abs)
      ? 'does not exist'
      : has('vocab.json')
        ? 'has vocab.json but no merges.txt (nor tokenizer.json)'
        : 'has no tokenizer.json (nor vocab.json + merges.txt)';
    throw new UserError('E_FILE', `tokenizer directory ${abs} ${why}; copy the model's tokenizer files there`);
  }
  // build the missing piece(s) in a temporary directory
  const tmp = mkdtempSync(join(tmpdir(), 'spinbath-tok-'));
  try {
    if (has('tokenizer.json')) {
      copyFileSync(join(abs, 'tokenizer.json'), join(tmp, 'tokenizer.json'));
      writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify(DEFAULT_TOKENIZER_CONFIG));
    } else {
      buildTokenizerJson(abs, tmp);
    }
    return wrap(await fromPretrained(tmp), abs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Rows of padding above which {@link checkTokenizerFitsModel} prints a note: padding conventions
 * round the embedding up to a multiple of 64, 128 or (Megatron, 128 × 8-way tensor parallelism)
 * 1024 rows, so a larger gap suggests a tokenizer from another model.
 */
export const PADDING_NOTE_ROWS = 1024;

/** The tokenizer file of a model directory, as named in messages: tokenizer.json, else the vocab.json + merges.txt pair. */
export function tokenizerFileName(dir: string): string {
  return existsSync(join(dir, 'tokenizer.json')) ? join(dir, 'tokenizer.json') : `${join(dir, 'vocab.json')} + merges.txt`;
}

/**
 * The model-directory rule for a tokenizer and an embedding (one check, used by `loadModel`,
 * `lm eval` and score training). V_tok = the tokenizer's largest id + 1 (added and special
 * tokens included), V_emb = rows of wte (config.json's vocab_size, which the weight loader
 * checks against the weights):
 * - V_tok > V_emb: refused, a UserError `E_VOCAB` naming both files and both sizes (ids ≥ V_emb
 *   would index rows that do not exist);
 * - V_tok ≤ V_emb: accepted; the extra rows are padding (GPT-2 checkpoints with 50,304 rows for
 *   50,257 tokens), never produced by encoding, and the loaders drop them (src/model/weights.ts
 *   `dropPaddingRows`). A gap above {@link PADDING_NOTE_ROWS} rows gets one note through `onNote`;
 * - the end-of-text id must be < V_emb.
 */
export function checkTokenizerFitsModel(tok: { vocabSize: number; eosId: number }, embeddingRows: number, dir: string, onNote?: (line: string) => void): void {
  const tokFile = tokenizerFileName(dir);
  const config = join(dir, 'config.json');
  const fix = "use the model's own tokenizer files (tokenizer.json, or vocab.json + merges.txt) in that directory";
  if (tok.vocabSize > embeddingRows) {
    throw new UserError(
      'E_VOCAB',
      `${tokFile} has ${tok.vocabSize} token ids but ${config} has vocab_size ${embeddingRows} (rows of the embedding); they belong to different models: ${fix}`,
    );
  }
  if (!(Number.isInteger(tok.eosId) && tok.eosId >= 0 && tok.eosId < embeddingRows)) {
    throw new UserError('E_VOCAB', `${tokFile} has ${EOS} at id ${tok.eosId}, outside the ${embeddingRows} rows of the embedding in ${config}: ${fix}`);
  }
  if (embeddingRows - tok.vocabSize > PADDING_NOTE_ROWS) {
    onNote?.(
      `note: ${config} has vocab_size ${embeddingRows} but ${tokFile} only ${tok.vocabSize} token ids; the ${embeddingRows - tok.vocabSize} extra rows are treated as padding and not used`,
    );
  }
}
