/**
 * One line from a zod failure: the first issue, with the path of the offending field, for
 * "bad input gets one clear line (what, where, how to fix)".
 */
import type { ZodError } from 'zod';
import { UserError, type ErrorCode } from '../errors.js';

export function formatZodPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(root)';
}

export function zodToUserError(err: ZodError, where: string, code: ErrorCode = 'E_CONFIG'): UserError {
  const issue = err.issues[0];
  const field = formatZodPath(issue.path as (string | number)[]);
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}; remove or rename them`;
  return new UserError(code, `${where}: field ${field}: ${msg}`);
}
