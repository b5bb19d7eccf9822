/**
 * The output contract of every command that writes (`--out`): the target is checked before any
 * work (an existing path of the wrong kind, or a place that cannot be written, is a one-line
 * UserError), nothing is created by the check, and temporary files of killed runs are removed at
 * the next start. What `--out` means (a FILE or a DIR) is fixed per command and stated in --help.
 */
import { accessSync, constants, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';

/** Nearest existing ancestor of `path` (itself when it exists). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

function writableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory `dir` (to be created, or holding the file to be created) must be creatable: its
 * nearest existing ancestor is a writable directory. Messages name `shown`, the --out value given.
 */
function checkCreatable(dir: string, flag: string, shown = dir): void {
  const anc = existingAncestor(dir);
  if (!statSync(anc).isDirectory()) throw new UserError('E_ARG', `--${flag} ${shown}: ${anc} is a file, not a directory; choose another --${flag}`);
  if (!writableDir(anc)) throw new UserError('E_ARG', `--${flag} ${shown}: ${anc} is not writable; choose a directory you can write to`);
}

/** `--out DIR`: a directory (existing, writable) or a path where one can be created. */
export function checkOutDir(dir: string, flag = 'out'): void {
  if (dir === '') throw new UserError('E_ARG', `--${flag} is empty; give a directory`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new UserError('E_ARG', `--${flag} ${dir} is a file; this command writes a directory there; give a directory path`);
    if (!writableDir(dir)) throw new UserError('E_ARG', `--${flag} ${dir} is not writable; choose a directory you can write to`);
    return;
  }
  checkCreatable(dir, flag);
}

/** `--out FILE`: a file (replaced atomically when it exists) or a path where one can be created. */
export function checkOutFile(file: string, flag = 'out'): void {
  if (file === '') throw new UserError('E_ARG', `--${flag} is empty; give a file path`);
  if (file.endsWith('/')) throw new UserError('E_ARG', `--${flag} ${file} names a directory; this command writes one file: give a file path`);
  if (existsSync(file)) {
    if (statSync(file).isDirectory())
      throw new UserError('E_ARG', `--${flag} ${file} is a directory; this command writes one file: give a file path such as ${join(file, 'out.json')}`);
    try {
      accessSync(file, constants.W_OK);
    } catch {
      throw new UserError('E_ARG', `--${flag} ${file} is not writable; choose another file`);
    }
    if (!writableDir(dirname(resolve(file)))) throw new UserError('E_ARG', `--${flag} ${file}: its directory is not writable; choose another file`);
    return;
  }
  checkCreatable(dirname(resolve(file)), flag, file);
}

/** Temporary names of atomicWrite (`.NAME.PID.N.tmp`) and of checkpoint directories (`.step-N.PID.tmp`). */
export const TEMP_RE = /^\..+?\.(\d+)(?:\.\d+)?\.tmp$/;

/**
 * Remove the temporary files and directories that killed runs left under `dir` (recursively,
 * `depth` levels): every `.NAME.PID[.N].tmp` not of this process. Call it with the run directory's
 * lock held, so no other live process can own them. Returns the removed paths.
 */
export function removeStaleTemps(dir: string, depth = 3): string[] {
  const removed: string[] = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return removed;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const m = TEMP_RE.exec(e.name);
    if (m && Number(m[1]) !== process.pid) {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } else if (e.isDirectory() && depth > 0) removed.push(...removeStaleTemps(p, depth - 1));
  }
  return removed;
}
