/** Reading JSON input files with one-line errors naming the file. */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

export function readJsonFile(path: string, what = 'file'): unknown {
  if (!existsSync(path)) throw new UserError('E_FILE', `${what} ${path} does not exist; check the path`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError('E_FILE', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError('E_FILE', `${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Parse a comma-separated list of finite numbers given to flag `flag`. */
export function parseNumberList(value: string, flag: string): number[] {
  const parts = String(value)
    .split(',')
    .map((s) => s.trim());
  return parts.map((p) => {
    const x = Number(p);
    if (p === '' || !Number.isFinite(x))
      throw new UserError('E_ARG', `--${flag}: '${p}' is not a finite number; give a comma-separated list such as 0,0.025,0.05`);
    return x;
  });
}
