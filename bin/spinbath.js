#!/usr/bin/env node
// Thin entry point: bin -> parser (src/cli/main.ts) -> exported library functions.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
