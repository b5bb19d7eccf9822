/**
 * A run-directory lock: `DIR/.spinbath.lock` holds {pid, host, command, since}. It is created with
 * O_EXCL, so of two processes on one directory exactly one gets it; the other refuses at once with a
 * one-line UserError naming the holder. A lock whose process is gone (same host, pid not alive) is
 * stale and taken over. Used by `lm train`, `train` and `sweep` before any work. Releasing the lock
 * of a directory that the lock itself created, and that is still empty, removes the directory.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';

export const LOCK_FILE = '.spinbath.lock';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface RunLock {
  readonly path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.host === 'string')
      return { pid: v.pid, host: v.host, command: String(v.command ?? '?'), since: String(v.since ?? '?') };
  } catch {
    // unreadable or half-written: treated below
  }
  return null;
}

/** Take the lock of run directory `dir` (created when missing) for `command`; see the file comment. */
export function acquireRunLock(dir: string, command: string): RunLock {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = readLock(path);
      if (held && held.host === info.host && !alive(held.pid)) {
        rmSync(path, { force: true }); // stale: its process is gone
        continue;
      }
      const who = held ? `${held.command} (pid ${held.pid} on ${held.host}, since ${held.since})` : 'another process (its lock file is being written)';
      throw new UserError(
        'E_ARG',
        `--out ${dir} is in use by ${who}; wait for it to finish or choose another --out (a lock of a dead process on another host: delete ${path})`,
      );
    }
    try {
      writeSync(fd, JSON.stringify(info) + '\n');
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const cur = readLock(path);
      if (cur && cur.pid === info.pid && cur.host === info.host) rmSync(path, { force: true });
      process.off('exit', release);
      // a run that failed before writing anything leaves no directory behind
      try {
        if (created && readdirSync(dir).length === 0) rmdirSync(dir);
      } catch {
        // another process may be using it now
      }
    };
    process.on('exit', release);
    return { path, release };
  }
  throw new UserError('E_ARG', `--out ${dir}: cannot take its lock ${path}; delete it if no spinbath process uses the directory`);
}
