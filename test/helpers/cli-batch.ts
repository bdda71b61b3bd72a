import {execa} from 'execa'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {REPO_ROOT} from './cli.js'

/** One command line's outcome, as {@link runCliBatch} reports it. */
export interface BatchResult {
  args: string[]
  exitCode: number
  /** Without the final newline (as execa reports it). */
  stdout: string
  stderr: string
}

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

/**
 * Runs many `homelab` command lines in ONE child process (the oclif config loaded once), for
 * tests that check a quick outcome (a usage error) of every command: each line runs as oclif's
 * `execute` would run it — the same code paths, output and exit code — but `process.exit` only
 * records the code. The CLI is the built one with HOMELAB_TEST_BUILT=1, else the TypeScript
 * sources, as {@link runCli}; NODE_ENV is unset as in a person's shell. Only for lines that end before doing real work: state set by one
 * line is seen by the next. `env` is added to the child's environment (NO_COLOR is set).
 *
 * @returns one result per line, in order
 * @throws Error when the child fails or prints something other than the results
 */
export async function runCliBatch(cases: string[][], options: {env?: Record<string, string | undefined>; timeout?: number} = {}): Promise<BatchResult[]> {
  const payload = JSON.stringify({built: process.env.HOMELAB_TEST_BUILT === '1', cases, root: REPO_ROOT})
  const child = await execa(process.execPath, ['--import', TSX_LOADER, path.join(REPO_ROOT, 'test/helpers/cli-batch-child.ts'), payload], {
    cwd: REPO_ROOT,
    env: {NODE_ENV: undefined, NO_COLOR: '1', ...options.env}, // not vitest's NODE_ENV=test
    extendEnv: true,
    input: '',
    reject: false,
    timeout: options.timeout ?? 300_000,
  })
  if (child.exitCode !== 0) throw new Error(`cli-batch-child failed (exit ${child.exitCode}): ${child.stderr}`)
  return JSON.parse(child.stdout) as BatchResult[]
}
