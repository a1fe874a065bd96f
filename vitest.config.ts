import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // A test stuck in a native call blocks vitest's own timeout; the watchdog reports and ends it.
    setupFiles: ['./test/helpers/watchdog.ts'],
    // Dawn is a native addon: separate processes keep each file's device independent.
    pool: 'forks',
    // lavapipe already uses every core; two GPU files at once only thrash.
    maxWorkers: 2,
    testTimeout: 120_000,
    // compile() checks the graph after every stage in tests (src/compiler/ir/verify.ts).
    env: { PEFTGRAPH_VERIFY: '1' },
    hookTimeout: 120_000,
  },
});
