/**
 * Stand-alone entry for `spinbath lm …` until lmCommand is registered in src/cli/main.ts:
 *
 *   npx tsx training/lm/cli.ts lm train --config configs/lm/brown-small.json --out models/brown-small-run
 *   npx tsx training/lm/cli.ts lm eval --model models/brown-small --split test --json
 *
 * Same options, output and exit codes as the spinbath CLI (0 ok, 2 bad input in one line, 1 internal).
 */
import yargs from 'yargs';
import { lmCommand } from '../../src/cli/commands/lm.js';
import { globalOptions, processIo } from '../../src/cli/io.js';
import { isUserError } from '../../src/errors.js';

const argv = process.argv.slice(2);
try {
  await yargs(argv)
    .scriptName('spinbath')
    .options(globalOptions)
    .command(lmCommand(processIo) as never)
    .demandCommand(1)
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? Object.assign(new Error(msg), { arg: true });
    })
    .parseAsync();
} catch (e) {
  const err = e as Error & { arg?: boolean };
  process.stderr.write(`spinbath: ${err.message.split('\n')[0]}\n`);
  if (argv.includes('--debug') && err.stack) process.stderr.write(err.stack + '\n');
  process.exitCode = isUserError(e) || err.arg ? 2 : 1;
}
