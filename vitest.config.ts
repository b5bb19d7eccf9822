import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One worker per core. Test files share their worker's module cache (isolate: false), so
    // tfjs, the WASM backends and the model code are loaded once per worker, not once per file;
    // every file that uses tensors selects its backend in beforeAll and leaves no global state.
    poolOptions: { forks: { maxForks: Math.max(1, availableParallelism()), minForks: 1, isolate: false } },
  },
});
