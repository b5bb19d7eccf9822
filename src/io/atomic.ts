/**
 * Atomic file output: write to a temporary name beside the target, fsync, then rename, so a
 * crash or a bad input never leaves a half-written file where a good one is expected.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let counter = 0;

export function atomicWrite(path: string, data: string | Uint8Array | Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  const parts = Array.isArray(data) ? data : [typeof data === 'string' ? Buffer.from(data, 'utf8') : data];
  const fd = openSync(tmp, 'w');
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.byteLength) off += writeSync(fd, p, off, p.byteLength - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true }); // e.g. the target is a directory: leave nothing behind
    throw e;
  }
}

export function atomicWriteJson(path: string, value: unknown): void {
  atomicWrite(path, JSON.stringify(value, null, 2) + '\n');
}

/** Write every [relative path, text] of `files` under `dir` atomically; returns the written paths. */
export function writeFilesAtomic(dir: string, files: [string, string][]): string[] {
  return files.map(([name, text]) => {
    atomicWrite(join(dir, name), text);
    return join(dir, name);
  });
}
