/**
 * Flag checks of the command line, applied where a flag is parsed (before any work): seeds,
 * integers and finite numbers in range, and the mapping of a library schema's field names to the
 * flags that set them, so a zod failure still names the flag. Light: no tensor or model imports.
 */
import type { ZodError, ZodType, ZodTypeDef } from 'zod';
import { UserError } from '../errors.js';

/** Largest seed: seeds are integers in [0, 2^31 − 1] (the configs' `training.seed` range). */
export { MAX_SEED } from '../../sampling/choices.js';
import { MAX_SEED } from '../../sampling/choices.js';

/**
 * `--seed`: a decimal integer in [0, 2^31 − 1]. Strings are not hashed: `--seed abc` is refused,
 * so two different spellings can never silently mean the same seed.
 */
export function parseSeed(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new UserError('E_ARG', '--seed is given more than once; give it once');
  const s = String(raw).trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n > MAX_SEED) {
    throw new UserError('E_ARG', `--seed '${String(raw)}' is not an integer in [0, ${MAX_SEED}]; give a whole number such as 0 or 42`);
  }
  return n;
}

/** One value per flag: a flag given twice (yargs makes an array) is refused. */
export function single<T>(flag: string, v: T | T[] | undefined): T | undefined {
  if (Array.isArray(v)) throw new UserError('E_ARG', `--${flag} is given ${v.length} times; give it once`);
  return v;
}

/** An integer flag in [min, max]. */
export function intFlag(flag: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = single(flag, v as number);
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new UserError('E_ARG', `--${flag} must be an integer ${range} (got ${String(v)})`);
  }
  return x;
}

/** A finite number flag; `gt`/`min`/`max` bound it. */
export function numFlag(flag: string, v: unknown, b: { gt?: number; min?: number; max?: number } = {}): number {
  const x = single(flag, v as number);
  const ok =
    typeof x === 'number' &&
    Number.isFinite(x) &&
    (b.gt === undefined || x > b.gt) &&
    (b.min === undefined || x >= b.min) &&
    (b.max === undefined || x <= b.max);
  if (!ok) {
    const parts = [b.gt !== undefined ? `> ${b.gt}` : '', b.min !== undefined ? `≥ ${b.min}` : '', b.max !== undefined ? `≤ ${b.max}` : ''].filter(Boolean);
    throw new UserError('E_ARG', `--${flag} must be a finite number${parts.length ? ' ' + parts.join(' and ') : ''} (got ${String(v)})`);
  }
  return x;
}

/** The issue of a zod failure as one line naming the flag of the offending field. */
export function zodFlagError(err: ZodError, flagOf: Record<string, string>, value: Record<string, unknown>): UserError {
  const issue = err.issues[0];
  const dotted = issue.path.join('.');
  const field = dotted in flagOf ? dotted : String(issue.path[0] ?? '');
  const flag = flagOf[field] ?? field;
  let got: unknown = value;
  for (const k of field.split('.')) got = (got as Record<string, unknown> | undefined)?.[k];
  const kindOnly = typeof got === 'object' && got !== null && Object.keys(got).length === 1 && 'kind' in got; // e.g. {kind: 'cross'} from --precession cross
  const shown = kindOnly ? String((got as { kind: unknown }).kind) : typeof got === 'object' && got !== null ? JSON.stringify(got) : String(got);
  return new UserError(
    'E_ARG',
    `--${flag} ${issue.message.replace(/^Number must be /, 'must be ').replace(/^Expected number, received nan$/, 'must be a number')} (got ${shown})`,
  );
}

/** Parse `value` (fields named as in the library) with `schema`; errors name the flag (`flagOf`). */
export function parseFlags<O, I>(schema: ZodType<O, ZodTypeDef, I>, value: Record<string, unknown>, flagOf: Record<string, string>): O {
  const r = schema.safeParse(value);
  if (!r.success) throw zodFlagError(r.error, flagOf, value);
  return r.data;
}

/** A yargs `coerce` for an integer flag in [min, max]. */
export const intOpt =
  (flag: string, min: number, max?: number) =>
  (v: unknown): number =>
    intFlag(flag, v, min, max);
/** A yargs `coerce` for a finite number flag. */
export const numOpt =
  (flag: string, b: { gt?: number; min?: number; max?: number } = {}) =>
  (v: unknown): number =>
    numFlag(flag, v, b);
/** A yargs `coerce` for a string flag given at most once. */
export const strOpt =
  (flag: string) =>
  (v: unknown): string =>
    single(flag, v as string) as string;
