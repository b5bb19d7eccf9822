/**
 * --model resolution with a fake fetch (never the network): a hub id downloads into the cache
 * once, the second call uses the marker and does not fetch, sharded repos work, and network
 * failures give the E_NETWORK message.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { MARKER_FILE, hubCachePath, isHubId, resolveModelDir, type DownloadProgress, type FetchLike } from '../../src/model/hub.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-hub-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A fake hub serving the files of `repos[id]` at https://huggingface.co/<id>/resolve/main/<file>. */
function fakeHub(repos: Record<string, string>): { fetch: FetchLike; urls: string[] } {
  const urls: string[] = [];
  const fetch: FetchLike = async (url) => {
    urls.push(url);
    const m = /^https:\/\/huggingface\.co\/(.+)\/resolve\/main\/([^/]+)$/.exec(url);
    const dir = m ? repos[m[1]] : undefined;
    if (!m || !dir) return new Response('Repository not found', { status: 401 });
    const p = join(dir, m[2]);
    if (!existsSync(p)) return new Response('Entry not found', { status: 404 });
    const body = readFileSync(p);
    return new Response(body, { status: 200, headers: { 'content-length': String(body.length) } });
  };
  return { fetch, urls };
}

async function errorOf(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  expect((e as Error).message).not.toContain('\n');
  return e as UserError;
}

describe('resolveModelDir', () => {
  it('downloads a hub model once, then serves it from the cache', async () => {
    const repo = join(tmp, `repo${n++}`);
    const written = writeTinyGpt2(repo, { seed: 7, prefix: true });
    const cacheDir = join(tmp, `cache${n++}`);
    const hub = fakeHub({ 'someone/tiny-gpt2': repo });
    const dir = await resolveModelDir('someone/tiny-gpt2', { cacheDir, fetchImpl: hub.fetch });
    expect(dir).toBe(hubCachePath('someone/tiny-gpt2', cacheDir));
    expect(dir).toBe(join(cacheDir, 'someone--tiny-gpt2'));
    expect(existsSync(join(dir, MARKER_FILE))).toBe(true);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.json', 'merges.txt']) expect(existsSync(join(dir, f))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);
    const w = await loadGpt2Weights(dir);
    expect(Array.from(w.tensors.get('h.1.mlp.c_fc.weight')!.data)).toEqual(Array.from(written.tensors.get('h.1.mlp.c_fc.weight')!.data));

    const calls = hub.urls.length;
    expect(await resolveModelDir('someone/tiny-gpt2', { cacheDir, fetchImpl: hub.fetch })).toBe(dir);
    expect(hub.urls.length).toBe(calls);
  });

  it('reports download progress through onProgress (no terminal output): bytes per file, ending at the file size', async () => {
    const repo = join(tmp, `repo${n++}`);
    writeTinyGpt2(repo, { seed: 9 });
    const hub = fakeHub({ 'someone/progress': repo });
    const events: DownloadProgress[] = [];
    const dir = await resolveModelDir('someone/progress', {
      cacheDir: join(tmp, `cache${n++}`),
      fetchImpl: hub.fetch,
      onProgress: (e) => events.push({ ...e }),
    });
    const files = [...new Set(events.map((e) => e.file))];
    expect(files).toContain('model.safetensors');
    for (const f of files) {
      const mine = events.filter((e) => e.file === f);
      const size = statSync(join(dir, f)).size;
      expect(mine[0].done).toBe(0);
      expect(mine.every((e) => e.total === size)).toBe(true);
      for (let i = 1; i < mine.length; i++) expect(mine[i].done).toBeGreaterThanOrEqual(mine[i - 1].done);
      expect(mine.at(-1)).toEqual({ file: f, done: size, total: size, finished: true });
      expect(mine.filter((e) => e.finished).length).toBe(1);
    }
  });

  it('downloads the index and every shard of a sharded model', async () => {
    const repo = join(tmp, `repo${n++}`);
    writeTinyGpt2(repo, { seed: 8, shards: 3 });
    const hub = fakeHub({ 'tiny-sharded': repo });
    const dir = await resolveModelDir('tiny-sharded', { cacheDir: join(tmp, `cache${n++}`), fetchImpl: hub.fetch });
    expect(readdirSync(dir).filter((f) => f.startsWith('model-')).length).toBeGreaterThan(1);
    expect(hub.urls.some((u) => u.endsWith('/model.safetensors.index.json'))).toBe(true);
    expect((await loadGpt2Weights(dir)).tensors.size).toBe(2 + 2 * 12 + 2);
  });

  it('gives the E_NETWORK message when fetch fails, and leaves no marker', async () => {
    const cacheDir = join(tmp, `cache${n++}`);
    const failing: FetchLike = async () => {
      throw new TypeError('fetch failed');
    };
    const e = await errorOf(resolveModelDir('gpt2', { cacheDir, fetchImpl: failing }));
    expect(e.code).toBe('E_NETWORK');
    expect(e.message).toBe(
      "cannot download 'gpt2' from huggingface.co (no network); download the model elsewhere and pass --model /path/to/dir (a directory with config.json and model.safetensors)",
    );
    expect(existsSync(join(hubCachePath('gpt2', cacheDir), MARKER_FILE))).toBe(false);
    expect(existsSync(hubCachePath('gpt2', cacheDir))).toBe(false); // no empty cache directory is left behind
  });

  it('treats a connection lost mid-file as a network error and retries next time', async () => {
    const repo = join(tmp, `repo${n++}`);
    writeTinyGpt2(repo, { seed: 9 });
    const cacheDir = join(tmp, `cache${n++}`);
    const good = fakeHub({ tiny: repo });
    const broken: FetchLike = async (url, init) => {
      if (!url.endsWith('/model.safetensors')) return good.fetch(url, init);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(10));
          c.error(new Error('socket hang up'));
        },
      });
      return new Response(body, { status: 200 });
    };
    const e = await errorOf(resolveModelDir('tiny', { cacheDir, fetchImpl: broken }));
    expect(e.code).toBe('E_NETWORK');
    expect(e.message).toContain('model.safetensors');
    const dir = hubCachePath('tiny', cacheDir);
    expect(existsSync(join(dir, MARKER_FILE))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await resolveModelDir('tiny', { cacheDir, fetchImpl: good.fetch });
    expect(existsSync(join(dir, MARKER_FILE))).toBe(true);
  });

  it('reports an unknown hub id, offline mode and path-like names', async () => {
    const cacheDir = join(tmp, `cache${n++}`);
    const hub = fakeHub({});
    const e = await errorOf(resolveModelDir('nobody/nothing', { cacheDir, fetchImpl: hub.fetch }));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain("'nobody/nothing' was not found");
    const off = await errorOf(resolveModelDir('gpt2', { cacheDir, offline: true, fetchImpl: hub.fetch }));
    expect(off.code).toBe('E_NETWORK');
    const path = await errorOf(resolveModelDir('./no-such-model', { cacheDir, fetchImpl: hub.fetch }));
    expect(path.code).toBe('E_FILE');
    expect(path.message).toContain('./no-such-model does not exist');
    expect(hub.urls.filter((u) => u.includes('no-such-model'))).toEqual([]);
  });

  it('returns an existing directory as is and refuses a file', async () => {
    const d = join(tmp, `local${n++}`);
    mkdirSync(d);
    const fail: FetchLike = async () => {
      throw new Error('must not fetch');
    };
    expect(await resolveModelDir(d, { fetchImpl: fail })).toBe(d);
    writeFileSync(join(d, 'f.txt'), 'x');
    expect((await errorOf(resolveModelDir(join(d, 'f.txt'), { fetchImpl: fail }))).message).toContain('is a file');
  });

  it('recognises hub ids', () => {
    for (const id of ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl', 'distilgpt2', 'openai-community/gpt2', 'a_b/c.d-1']) expect(isHubId(id), id).toBe(true);
    for (const id of ['./foo', '../foo', '/abs/path', 'a/b/c', 'a--b', 'foo.', '', 'a b']) expect(isHubId(id), id).toBe(false);
  });
});
