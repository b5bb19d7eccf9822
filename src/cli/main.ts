/**
 * The spinbath command line: a thin yargs parser over exported library functions.
 * Exit codes: 0 success, 2 bad input (one clear line, no stack trace unless --debug), 1 internal failure.
 * The command definitions (src/cli/defs) are light; each command's implementation
 * (src/cli/commands) is imported when it runs, so `spinbath --help` loads only yargs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { isUserError } from '../errors.js';
import { demoDef, envDef, headsDef, logitsDef, toyDef } from './defs/analysis.js';
import { generateDef, metricsDef, sampleDef, sweepDef } from './defs/generation.js';
import { lmDef, trainDef } from './defs/training.js';
import { globalOptions, processIo, type Io } from './io.js';

// The CommonJS build of yargs: its help wraps at word boundaries (the ESM build breaks words).
const yargs = createRequire(import.meta.url)('yargs') as typeof import('yargs').default;

class ArgError extends Error {}

/** The package version (package.json next to dist/ or src/). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const v = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (v.name === 'spinbath' && v.version) return v.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** Help width: the terminal's (at most 110 columns), or 80 when output is piped. */
function helpWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? Math.min(110, process.stdout.columns) : 80;
}

/** The parser of the whole CLI, writing through `io`. */
export function buildParser(io: Io, argv: string[]): Argv {
  let y = yargs(argv)
    .scriptName('spinbath')
    .usage(
      "$0 <command> [options]\n\nRead a transformer's attention as a physical spin bath.\n\n" +
        "Conventions: --out is a FILE or a DIR as each command's help says, checked before any work; prompts must be non-empty and are numbered from 1; --seed is an integer in [0, 2^31−1].",
    )
    .parserConfiguration({ 'camel-case-expansion': false })
    .options(globalOptions);
  for (const def of [demoDef, envDef, toyDef, headsDef, logitsDef, lmDef, trainDef, sampleDef, generateDef, metricsDef, sweepDef]) y = def(io)(y);
  return y
    .demandCommand(1, 'give a command')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(version())
    .alias('V', 'version')
    .wrap(helpWidth())
    .exitProcess(false)
    .fail((msg, err) => {
      // a flag check that failed inside yargs (a `coerce`) arrives as a YError: still bad input
      if (err && !isUserError(err) && err.name !== 'YError') throw err;
      throw new ArgError(err?.message ?? msg);
    });
}

/** A yargs message on one line: "Invalid values:\n  Argument: x, Given: …" → "Invalid values: Argument: x, Given: …". */
const oneLine = (msg: string) =>
  msg
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');

/** Run the CLI on `argv`; resolves to the exit code. Never calls process.exit. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const parser = buildParser(io, argv);
    await parser.parseAsync(argv, {}, (err, _argv, output) => {
      if (output && !err) io.out(output + '\n');
    });
    return 0;
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`spinbath: ${oneLine(e.message)} (see --help)\n`);
      return 2;
    }
    if (isUserError(e)) {
      io.err(`spinbath: ${oneLine(e.message)}\n`);
      if (debug && e.stack) io.err(e.stack + '\n');
      return 2;
    }
    const err = e as Error;
    io.err(`spinbath: internal error: ${oneLine(String(err?.message ?? e))}${debug ? '' : ' (rerun with --debug for the stack trace)'}\n`);
    if (debug && err?.stack) io.err(err.stack + '\n');
    return 1;
  }
}
