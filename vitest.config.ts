import {defineConfig} from 'vitest/config'

import {withTestNixConfig} from './test/helpers/nix-config.js'

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
    // Every nix a test starts (directly or through the CLI) runs single-user on a machine that may
    // have no /etc/nix/nix.conf and no nixbld group: see test/helpers/nix-config.ts.
    env: {NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)},
  },
})
