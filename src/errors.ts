/**
 * Typed errors with stable codes. A `UserError` is an expected failure caused by input
 * (bad flag, malformed file): the CLI prints only its message, one line, and exits 2.
 * Anything else is an internal failure: exit 1, stack trace only with --debug.
 */

export type ErrorCode =
  | 'E_ARG' // a CLI flag or argument is invalid
  | 'E_INPUT' // an input value (vocabulary, matrix, prompt) is invalid
  | 'E_CONFIG' // a config file failed validation
  | 'E_FILE' // a file is missing, unreadable or malformed
  | 'E_CHECKPOINT' // a checkpoint is malformed or does not match its config
  | 'E_BACKEND' // a tensor backend cannot be used
  | 'E_NETWORK' // a download was needed and the network is unavailable
  | 'E_TOKENIZER' // text that the tokenizer cannot encode
  | 'E_VOCAB' // a model directory's tokenizer has ids the model's embedding has no rows for
  | 'E_NUMERIC'; // a non-finite value appeared during a computation

/** An error caused by the input (exit code 2 in the CLI): one line naming what is wrong, where, and how to fix it. */
export class UserError extends Error {
  readonly code: ErrorCode;
  readonly exitCode = 2;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'UserError';
    this.code = code;
  }
}

/** Throw a UserError with code E_INPUT unless `cond` holds. */
export function check(cond: unknown, message: string, code: ErrorCode = 'E_INPUT'): asserts cond {
  if (!cond) throw new UserError(code, message);
}

/** Every entry of `values` must be finite; `what` names the input for the message. */
export function checkFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new UserError('E_INPUT', `${what} has a non-finite value (${values[i]}) at index ${i}; give finite numbers only`);
    }
  }
}

/** Whether `e` is a {@link UserError}. */
export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
