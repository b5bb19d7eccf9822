/**
 * GPT-2 checkpoints in the Hugging Face directory layout:
 *
 *   dir/config.json
 *   dir/model.safetensors                                   (single file), or
 *   dir/model.safetensors.index.json + model-0000i-of-0000n.safetensors  (sharded)
 *
 * Loading maps names to the canonical unprefixed form (`transformer.h.0.ln_1.weight` →
 * `h.0.ln_1.weight`), drops the causal-mask buffers (`h.N.attn.bias`, `h.N.attn.masked_bias`),
 * checks every expected tensor and shape against config.json, converts fp16/bf16 to fp32, and
 * keeps `lm_head.weight` only when it differs from `wte.weight` (an untied head).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import { readGpt2Config, writeGpt2Config } from './config.js';
import { encodedSize, readSafetensors, writeSafetensors, type SafetensorsFile, type WriteDtype } from './safetensors.js';
import { expectedShapes, type Gpt2Weights, type HostTensor } from './weights.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_RE = /^model-\d{5}-of-\d{5}\.safetensors$/;
const MASK_BUFFER_RE = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const PREFIX = 'transformer.';

export interface LoadProgress {
  /** Bytes of tensor data read so far / in total (as stored on disk). */
  done: number;
  total: number;
  /** Canonical name of the tensor just read. */
  name: string;
}

/** Options of {@link loadGpt2Weights}. */
export interface LoadOptions {
  /** Called as tensors are read (bytes done and total, current tensor name). */
  onProgress?: (p: LoadProgress) => void;
}

/** Where one tensor lives: its file and its stored (possibly prefixed) name. */
interface Located {
  file: SafetensorsFile;
  stored: string;
}

const fmtShape = (s: number[]): string => `[${s.join(', ')}]`;

/** The safetensors files of a directory: [model.safetensors] or the shards named by the index. */
export function checkpointFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError('E_FILE', `model directory ${dir} does not exist; pass a directory with config.json and model.safetensors`);
  }
  if (existsSync(join(dir, SINGLE_FILE))) return [join(dir, SINGLE_FILE)];
  if (existsSync(join(dir, INDEX_FILE))) return shardsFromIndex(dir);
  const names = readdirSync(dir);
  if (names.some((n) => n === 'pytorch_model.bin' || n === 'pytorch_model.bin.index.json')) {
    throw new UserError(
      'E_CHECKPOINT',
      `${dir} has only PyTorch .bin weights, which spinbath cannot read; convert them to safetensors with: ` +
        `python -c "from transformers import AutoModel; AutoModel.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)"`,
    );
  }
  if (names.some((n) => SHARD_RE.test(n))) {
    throw new UserError('E_CHECKPOINT', `${dir} has safetensors shards but no ${INDEX_FILE}; copy the index file from the original model`);
  }
  throw new UserError('E_FILE', `${dir} has no ${SINGLE_FILE} (nor ${INDEX_FILE}); a model directory needs config.json and model.safetensors`);
}

/** Validates model.safetensors.index.json and returns the shard paths it references, in order. */
function shardsFromIndex(dir: string): string[] {
  const path = join(dir, INDEX_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError('E_CHECKPOINT', `${path} is not valid JSON (${(e as Error).message}); re-download it`);
  }
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new UserError('E_CHECKPOINT', `${path} has no "weight_map" object (tensor name → shard file); re-download it`);
  }
  const shards: string[] = [];
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file === '' || /[\\/]/.test(file) || file.startsWith('.')) {
      throw new UserError('E_CHECKPOINT', `${path}: weight_map entry '${name}' names ${JSON.stringify(file)}, not a file in the same directory`);
    }
    if (!shards.includes(file)) {
      if (!existsSync(join(dir, file))) {
        throw new UserError('E_FILE', `${path} references shard ${file} (for '${name}'), which is missing from ${dir}; download it`);
      }
      shards.push(file);
    }
  }
  if (shards.length === 0) throw new UserError('E_CHECKPOINT', `${path} has an empty weight_map; re-download it`);
  return shards.map((f) => join(dir, f));
}

/**
 * Builds canonical name → location over all files, rejecting duplicates and unknown tensors
 * (mask buffers are skipped). `index` (when sharded) must agree with the shard headers.
 */
function locateTensors(files: SafetensorsFile[], expected: Map<string, number[]>, nLayer: number, dir: string): Map<string, Located> {
  const found = new Map<string, Located>();
  for (const file of files) {
    for (const stored of file.entries.keys()) {
      const name = stored.startsWith(PREFIX) ? stored.slice(PREFIX.length) : stored;
      if (MASK_BUFFER_RE.test(name)) continue;
      if (!expected.has(name) && name !== 'lm_head.weight') {
        throw new UserError(
          'E_CHECKPOINT',
          `unexpected tensor '${stored}' in ${file.path}: not a GPT-2 weight for config.json in ${dir} (n_layer=${nLayer}); the checkpoint and config.json disagree`,
        );
      }
      const prev = found.get(name);
      if (prev) {
        throw new UserError('E_CHECKPOINT', `tensor '${name}' appears twice (as '${prev.stored}' in ${prev.file.path} and as '${stored}' in ${file.path})`);
      }
      found.set(name, { file, stored });
    }
  }
  return found;
}

/** Checks the index's weight_map against the shards' headers. */
function checkIndexAgrees(dir: string, files: SafetensorsFile[]): void {
  const map = (JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')) as { weight_map: Record<string, string> }).weight_map;
  for (const [name, file] of Object.entries(map)) {
    const f = files.find((s) => s.path === join(dir, file));
    if (!f?.entries.has(name)) {
      throw new UserError('E_CHECKPOINT', `${INDEX_FILE} in ${dir} says '${name}' is in ${file}, but that shard does not contain it; re-download the model`);
    }
  }
}

function shapesEqual(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function arraysEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Loads config.json and all GPT-2 weights of a Hugging Face-layout directory as fp32.
 * An lm_head equal to wte is dropped (tied); a different one is kept as 'lm_head.weight'
 * and the returned config gets tie_word_embeddings = false.
 */
export async function loadGpt2Weights(dir: string, opts: LoadOptions = {}): Promise<Gpt2Weights> {
  const config = readGpt2Config(dir);
  const paths = checkpointFiles(dir);
  const files = paths.map(readSafetensors);
  if (basename(paths[0]) !== SINGLE_FILE) checkIndexAgrees(dir, files);
  const expected = expectedShapes(config);
  const found = locateTensors(files, expected, config.n_layer, dir);
  const where = paths.length === 1 ? paths[0] : `the shards of ${dir}`;

  const want = new Map(expected);
  if (found.has('lm_head.weight')) want.set('lm_head.weight', [config.vocab_size, config.n_embd]);
  for (const [name, shape] of want) {
    const loc = found.get(name);
    if (!loc) {
      throw new UserError(
        'E_CHECKPOINT',
        `${where} is missing tensor '${name}' (expected by config.json in ${dir}: n_layer=${config.n_layer}, n_embd=${config.n_embd}); the checkpoint and config.json disagree`,
      );
    }
    const got = loc.file.entries.get(loc.stored)!.shape;
    if (!shapesEqual(got, shape)) {
      throw new UserError(
        'E_CHECKPOINT',
        `tensor '${loc.stored}' in ${loc.file.path} has shape ${fmtShape(got)} but config.json in ${dir} implies ${fmtShape(shape)}; the checkpoint and config.json disagree`,
      );
    }
  }
  if (config.tie_word_embeddings === false && !found.has('lm_head.weight')) {
    throw new UserError('E_CHECKPOINT', `config.json in ${dir} sets tie_word_embeddings=false but ${where} has no 'lm_head.weight'`);
  }

  let total = 0;
  for (const name of want.keys()) {
    const loc = found.get(name)!;
    const e = loc.file.entries.get(loc.stored)!;
    total += e.end - e.begin;
  }
  const tensors = new Map<string, HostTensor>();
  let done = 0;
  for (const name of want.keys()) {
    const loc = found.get(name)!;
    const e = loc.file.entries.get(loc.stored)!;
    tensors.set(name, loc.file.read(loc.stored));
    done += e.end - e.begin;
    opts.onProgress?.({ done, total, name });
    await new Promise<void>((r) => setImmediate(r)); // let a progress bar redraw
  }
  const head = tensors.get('lm_head.weight');
  if (head) {
    if (arraysEqual(head.data, tensors.get('wte.weight')!.data)) {
      tensors.delete('lm_head.weight');
      config.tie_word_embeddings = true;
    } else {
      config.tie_word_embeddings = false;
    }
  }
  return { config, tensors };
}

/** Options of {@link saveGpt2Checkpoint}: dtype, `transformer.` prefix, shard size. */
export interface SaveOptions {
  dtype: WriteDtype;
  /** Split into shards of at most this many bytes (a larger single tensor gets its own shard). */
  shardSizeBytes?: number;
  /** Store names with the `transformer.` prefix, as GPT2LMHeadModel.save_pretrained does (lm_head stays unprefixed). */
  prefix?: boolean;
}

/** Groups tensors greedily, in order, into shards of at most `limit` bytes each. */
function planShards(tensors: Map<string, HostTensor>, dtype: WriteDtype, limit: number): Map<string, HostTensor>[] {
  const shards: Map<string, HostTensor>[] = [];
  let cur = new Map<string, HostTensor>();
  let size = 0;
  for (const [name, t] of tensors) {
    const n = encodedSize(t.data.length, dtype);
    if (cur.size > 0 && size + n > limit) {
      shards.push(cur);
      cur = new Map();
      size = 0;
    }
    cur.set(name, t);
    size += n;
  }
  if (cur.size > 0) shards.push(cur);
  return shards;
}

/** Removes weight files that would shadow or confuse the ones just written. */
function removeStale(dir: string, keep: Set<string>): void {
  for (const n of readdirSync(dir)) {
    if ((n === SINGLE_FILE || n === INDEX_FILE || SHARD_RE.test(n)) && !keep.has(n)) rmSync(join(dir, n), { force: true });
  }
}

/**
 * Writes config.json and the weights (model.safetensors, or shards + index) into `dir`.
 * Shapes are checked against the config first. A present lm_head.weight is written and
 * config.tie_word_embeddings set to false; otherwise the head is tied and omitted.
 */
export function saveGpt2Checkpoint(dir: string, weights: Gpt2Weights, opts: SaveOptions): void {
  const { config } = weights;
  const want = expectedShapes(config);
  const head = weights.tensors.get('lm_head.weight');
  if (head) want.set('lm_head.weight', [config.vocab_size, config.n_embd]);
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of want) {
    const t = weights.tensors.get(name);
    if (!t) throw new UserError('E_CHECKPOINT', `cannot save to ${dir}: weights lack tensor '${name}'`);
    if (!shapesEqual(t.shape, shape) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new UserError(
        'E_CHECKPOINT',
        `cannot save to ${dir}: tensor '${name}' has shape ${fmtShape(t.shape)} (${t.data.length} values) but the config implies ${fmtShape(shape)}`,
      );
    }
    out.set(opts.prefix && name !== 'lm_head.weight' ? PREFIX + name : name, t);
  }
  for (const name of weights.tensors.keys()) {
    if (!want.has(name)) throw new UserError('E_CHECKPOINT', `cannot save to ${dir}: unexpected tensor '${name}' for this config`);
  }
  writeGpt2Config(dir, { ...config, tie_word_embeddings: !head });
  const metadata = { format: 'pt' };
  if (opts.shardSizeBytes === undefined) {
    writeSafetensors(join(dir, SINGLE_FILE), out, { dtype: opts.dtype, metadata });
    removeStale(dir, new Set([SINGLE_FILE]));
    return;
  }
  if (!(opts.shardSizeBytes > 0)) throw new UserError('E_ARG', `shard size must be positive, got ${opts.shardSizeBytes}`);
  const shards = planShards(out, opts.dtype, opts.shardSizeBytes);
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const keep = new Set<string>([INDEX_FILE]);
  let totalSize = 0;
  shards.forEach((shard, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(join(dir, file), shard, { dtype: opts.dtype, metadata });
    keep.add(file);
    for (const [name, t] of shard) {
      weightMap[name] = file;
      totalSize += encodedSize(t.data.length, opts.dtype);
    }
  });
  removeStale(dir, keep);
  atomicWriteJson(join(dir, INDEX_FILE), { metadata: { total_size: totalSize }, weight_map: weightMap });
}
