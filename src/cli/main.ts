/**
 * The spinbath command line: a thin yargs parser over exported library functions.
 * Exit codes: 0 success, 2 bad input (one clear line, no stack trace unless --debug), 1 internal failure.
 */
import yargs, { type Argv } from 'yargs';
import { isUserError } from '../errors.js';
import { demoCommand } from './commands/demo.js';
import { envCommand } from './commands/env.js';
import { generateCommand } from './commands/generate.js';
import { headsCommand } from './commands/heads.js';
import { lmCommand } from './commands/lm.js';
import { logitsCommand } from './commands/logits.js';
import { metricsCommand } from './commands/metrics.js';
import { sampleCommand } from './commands/sample.js';
import { sweepCommand } from './commands/sweep.js';
import { trainCommand } from './commands/train.js';
import { toyCommand } from './commands/toy.js';
import { globalOptions, processIo, type Io } from './io.js';

class ArgError extends Error {}

export function buildParser(io: Io, argv: string[]): Argv {
  return yargs(argv)
    .scriptName('spinbath')
    .usage('$0 <command> [options]\n\nRead a transformer\'s attention as a physical spin bath.')
    .options(globalOptions)
    .command(demoCommand(io) as never)
    .command(envCommand(io) as never)
    .command(toyCommand(io) as never)
    .command(headsCommand(io) as never)
    .command(logitsCommand(io) as never)
    .command(lmCommand(io) as never)
    .command(trainCommand(io) as never)
    .command(sampleCommand(io) as never)
    .command(generateCommand(io) as never)
    .command(metricsCommand(io) as never)
    .command(sweepCommand(io) as never)
    .demandCommand(1, 'give a command; see spinbath --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new ArgError(msg);
    });
}

/** Run the CLI on `argv`; resolves to the exit code. Never calls process.exit. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    let helpShown = false;
    const parser = buildParser(io, argv);
    await parser.parseAsync(argv, {}, (err, _argv, output) => {
      if (output && !err) {
        helpShown = true;
        io.out(output + '\n');
      }
    });
    void helpShown;
    return 0;
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`spinbath: ${e.message.split('\n')[0]} (see --help)\n`);
      return 2;
    }
    if (isUserError(e)) {
      io.err(`spinbath: ${e.message}\n`);
      if (debug && e.stack) io.err(e.stack + '\n');
      return 2;
    }
    const err = e as Error;
    io.err(`spinbath: internal error: ${err?.message ?? String(e)}${debug ? '' : ' (rerun with --debug for the stack trace)'}\n`);
    if (debug && err?.stack) io.err(err.stack + '\n');
    return 1;
  }
}
