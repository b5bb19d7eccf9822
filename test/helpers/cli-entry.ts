/** The CLI from source as a process (`node --import tsx test/helpers/cli-entry.ts ARGS`), for tests that run shell scripts. */
import { main } from '../../src/cli/main.js';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
