/**
 * `--model` resolution: an existing directory is used as is; otherwise the argument is a
 * Hugging Face hub id (`gpt2`, `gpt2-medium`, `distilgpt2`, `owner/name`, …) whose files are
 * downloaded once into a cache directory:
 *
 *   <cache>/<id with '/' → '--'>/config.json, tokenizer files, model.safetensors (or index + shards)
 *   <cache>/<id …>/.spinbath-complete   (marker, written last: the download finished)
 *
 * Each file streams into a temporary name beside its target and is renamed when complete, so an
 * interrupted download never looks finished. `fetchImpl` is injectable so tests run offline.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';

/** Minimal fetch signature (global fetch satisfies it). */
export type FetchLike = (url: string, init?: { headers?: Record<string, string> }) => Promise<Response>;

/** Options of {@link resolveModelDir}: cache directory, offline mode, fetch, progress callback, hub URL. */
export interface ResolveOptions {
  /** Hub cache root holding one folder per model (default: defaultHubCacheDir()). */
  cacheDir?: string;
  /** Never download: a model missing from the cache is an error. */
  offline?: boolean;
  /** fetch to use (default: global fetch). */
  fetchImpl?: FetchLike;
  /**
   * Called as each file streams in (the library draws nothing: the CLI turns these into progress
   * bars). `total` is 0 when the server sent no length; `done === total` or `finished` ends a file.
   */
  onProgress?: (e: DownloadProgress) => void;
  /** Hub base URL (default https://huggingface.co). */
  baseUrl?: string;
}

/** One step of a download, for `ResolveOptions.onProgress`. */
export interface DownloadProgress {
  /** File name inside the model folder (e.g. model.safetensors). */
  file: string;
  /** Bytes written so far. */
  done: number;
  /** Content length in bytes (0 when unknown). */
  total: number;
  /** True on the file's last call. */
  finished: boolean;
}

export const MARKER_FILE = '.spinbath-complete';
const HUB = 'https://huggingface.co';
/** Small files fetched when the hub has them. */
const OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json'];

/** `$SPINBATH_CACHE/hub`, or `~/.cache/spinbath/hub`. */
export function defaultHubCacheDir(): string {
  const root = process.env.SPINBATH_CACHE || join(homedir(), '.cache', 'spinbath');
  return join(root, 'hub');
}

/** Whether `s` looks like a hub repository id (`name` or `owner/name`), not a path. */
export function isHubId(s: string): boolean {
  const part = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;
  const parts = s.split('/');
  return parts.length <= 2 && parts.every((p) => part.test(p) && !p.endsWith('.')) && !s.includes('..') && !s.includes('--');
}

/** The cache folder of a hub id. */
export function hubCachePath(id: string, cacheDir = defaultHubCacheDir()): string {
  return join(cacheDir, id.replace('/', '--'));
}

function networkError(id: string, detail = 'no network'): UserError {
  return new UserError(
    'E_NETWORK',
    `cannot download '${id}' from huggingface.co (${detail}); download the model elsewhere and pass --model /path/to/dir (a directory with config.json and model.safetensors)`,
  );
}

interface Ctx {
  id: string;
  dir: string;
  fetch: FetchLike;
  onProgress?: (e: DownloadProgress) => void;
  baseUrl: string;
}

async function get(ctx: Ctx, file: string): Promise<Response> {
  const headers: Record<string, string> = { 'user-agent': 'spinbath' };
  const token = process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await ctx.fetch(`${ctx.baseUrl}/${ctx.id}/resolve/main/${file}`, { headers });
  } catch {
    throw networkError(ctx.id);
  }
}

/** Streams a response body into `ctx.dir/file` through a temporary file. */
async function saveBody(ctx: Ctx, file: string, res: Response): Promise<void> {
  const target = join(ctx.dir, file);
  const tmp = join(ctx.dir, `.${file}.${process.pid}.part`);
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader && !res.headers.get('content-encoding') ? Number(lenHeader) : 0;
  const report = (done: number, finished = false) => ctx.onProgress?.({ file, done, total, finished });
  report(0);
  const fd = openSync(tmp, 'w');
  let written = 0;
  try {
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let off = 0;
        while (off < value.byteLength) off += writeSync(fd, value, off, value.byteLength - off);
        written += value.byteLength;
        report(written);
      }
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    report(written, true);
    if (e instanceof UserError) throw e;
    throw networkError(ctx.id, `connection lost while downloading ${file}`);
  }
  closeSync(fd);
  report(written, true);
  if (total > 0 && written !== total) {
    rmSync(tmp, { force: true });
    throw networkError(ctx.id, `${file} arrived incomplete: ${written} of ${total} bytes`);
  }
  renameSync(tmp, target);
}

/** Downloads one file; returns false when the hub does not have it (404). */
async function download(ctx: Ctx, file: string, required: boolean): Promise<boolean> {
  const res = await get(ctx, file);
  if (res.status === 404 || res.status === 401) {
    await res.body?.cancel();
    if (!required) return false;
    if (file === 'config.json') {
      throw new UserError(
        'E_FILE',
        `model '${ctx.id}' was not found on huggingface.co (HTTP ${res.status}) and no directory '${ctx.id}' exists; check the name or pass --model /path/to/dir`,
      );
    }
    throw new UserError('E_FILE', `'${ctx.id}' on huggingface.co has no ${file} (HTTP ${res.status}); spinbath needs safetensors weights`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw networkError(ctx.id, `HTTP ${res.status} for ${file}`);
  }
  await saveBody(ctx, file, res);
  return true;
}

/** Downloads config, tokenizer files and safetensors weights of `id` into `dir`, then writes the marker. */
export async function downloadModel(id: string, dir: string, opts: ResolveOptions = {}): Promise<void> {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  try {
    await downloadInto(id, dir, opts);
  } catch (e) {
    if (created) rmSync(dir, { recursive: true, force: true }); // a failed download leaves no cache directory behind
    throw e;
  }
}

async function downloadInto(id: string, dir: string, opts: ResolveOptions): Promise<void> {
  const fetchImpl = opts.fetchImpl ?? (globalThis.fetch as FetchLike);
  const ctx: Ctx = { id, dir, fetch: fetchImpl, onProgress: opts.onProgress, baseUrl: opts.baseUrl ?? HUB };
  const files = ['config.json'];
  await download(ctx, 'config.json', true);
  for (const f of OPTIONAL_FILES) if (await download(ctx, f, false)) files.push(f);
  if (await download(ctx, 'model.safetensors', false)) {
    files.push('model.safetensors');
  } else if (await download(ctx, 'model.safetensors.index.json', false)) {
    files.push('model.safetensors.index.json');
    let shards: string[];
    try {
      const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
      shards = [...new Set(Object.values(index.weight_map))];
    } catch {
      throw new UserError('E_CHECKPOINT', `model.safetensors.index.json of '${id}' has no valid weight_map (${dir})`);
    }
    for (const s of shards) {
      if (typeof s !== 'string' || /[\\/]/.test(s) || s.startsWith('.')) {
        throw new UserError('E_CHECKPOINT', `model.safetensors.index.json of '${id}' names an invalid shard ${JSON.stringify(s)}`);
      }
      await download(ctx, s, true);
      files.push(s);
    }
  } else {
    throw new UserError(
      'E_CHECKPOINT',
      `'${id}' on huggingface.co has no safetensors weights (model.safetensors); spinbath cannot read PyTorch .bin files — convert the model to safetensors and pass --model /path/to/dir`,
    );
  }
  atomicWriteJson(join(dir, MARKER_FILE), { id, files, downloadedAt: new Date().toISOString() });
}

/**
 * Resolves `--model`: an existing directory → its absolute path; a hub id → its cache folder,
 * downloading first unless already complete (or failing when `offline`).
 */
export async function resolveModelDir(modelArg: string, opts: ResolveOptions = {}): Promise<string> {
  if (existsSync(modelArg)) {
    if (!statSync(modelArg).isDirectory()) {
      throw new UserError('E_FILE', `--model ${modelArg} is a file; pass a model directory (with config.json and model.safetensors) or a hub id such as gpt2`);
    }
    return resolve(modelArg);
  }
  if (!isHubId(modelArg)) {
    throw new UserError(
      'E_FILE',
      `model directory ${modelArg} does not exist; pass a directory with config.json and model.safetensors, or a hub id such as gpt2`,
    );
  }
  const dir = hubCachePath(modelArg, opts.cacheDir);
  if (existsSync(join(dir, MARKER_FILE))) return dir;
  if (opts.offline) {
    throw new UserError(
      'E_NETWORK',
      `model '${modelArg}' is not in the cache (${dir}) and offline mode forbids downloading; pass --model /path/to/dir (a directory with config.json and model.safetensors)`,
    );
  }
  await downloadModel(modelArg, dir, opts);
  return dir;
}
