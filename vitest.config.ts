import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // @oclif/test's runCommand needs the real console to capture stdout.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // e2e suites start their own sshd on a free port; files still run in parallel workers.
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
})
