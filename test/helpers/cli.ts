import {execa, type Result} from 'execa'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {isProcessAlive, processStartTime} from '../../src/lib/fs/process-alive.js'
import {expectJsonContract} from './json-schema.js'

/** The repository root (where bin/ and package.json live). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..')

/** tsx's loader as a file URL: `--import tsx` would resolve from the child's cwd, which may be outside the repo. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

let cacheHome: string | undefined
const CACHE_HOME_PREFIX = 'homelab-test-cache-'

/**
 * The XDG_CACHE_HOME every CLI a test starts gets unless the test gives its own: a temp folder of
 * this test process, so no test run writes to the real ~/.cache (e.g. homelab diff's kustomize
 * build cache, src/lib/diff/build-cache.ts). Named after the process (pid and start time): it is
 * removed when the process exits normally, and a folder left by a process that is gone (a test
 * worker is killed at the end of a run) is removed by the next test process that makes one.
 */
export function testCacheHome(): string {
  if (cacheHome === undefined) {
    for (const name of readdirSync(os.tmpdir())) {
      const m = new RegExp(`^${CACHE_HOME_PREFIX}(\\d+)-(\\d+|x)-`).exec(name)
      if (m && !isProcessAlive(Number(m[1]), m[2] === 'x' ? null : m[2])) rmSync(path.join(os.tmpdir(), name), {force: true, recursive: true})
    }

    const dir = mkdtempSync(path.join(os.tmpdir(), `${CACHE_HOME_PREFIX}${process.pid}-${processStartTime(process.pid) ?? 'x'}-`))
    cacheHome = dir
    process.once('exit', () => rmSync(dir, {force: true, recursive: true}))
  }

  return cacheHome
}

/**
 * Runs the `homelab` CLI as a separate process, as a person would: the built `bin/run.js` when
 * HOMELAB_TEST_BUILT=1 (set by `npm test` after its build), else `bin/dev.js` (TypeScript
 * sources through tsx) so a developer's test run needs no build.
 *
 * Never throws on a non-zero exit: assert on `exitCode`, `stdout`, `stderr`.
 * NO_COLOR is set and CI is kept as given, so output is plain text; XDG_CACHE_HOME is a temp
 * folder ({@link testCacheHome}) unless `env` sets it. With `--json`, the JSON
 * document on stdout is checked against its schema ({@link expectJsonContract}).
 */
export async function runCli(
  args: string[],
  options: {cwd?: string; env?: Record<string, string | undefined>; input?: string; timeout?: number} = {},
): Promise<Result<{reject: false}>> {
  const entry = process.env.HOMELAB_TEST_BUILT === '1' ? 'bin/run.js' : 'bin/dev.js'
  const env: Record<string, string | undefined> = {NO_COLOR: '1', XDG_CACHE_HOME: testCacheHome(), ...options.env}
  const result = (await execa(process.execPath, [...(entry === 'bin/dev.js' ? ['--import', TSX_LOADER] : []), path.join(REPO_ROOT, entry), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    extendEnv: true,
    input: options.input ?? '',
    reject: false,
    timeout: options.timeout ?? 120_000,
  })) as Result<{reject: false}>
  // The --json contract (issue 17): every --json document any test produces is checked against
  // its schema in schemas/ (errors against error.schema.json).
  expectJsonContract(args, result.stdout)
  return result
}

/**
 * Starts the `homelab` CLI as {@link runCli} does (XDG_CACHE_HOME too), but returns the running child (an execa
 * subprocess, never rejecting) so a test can watch its output and send it signals. `input` is
 * written to its stdin, which is then closed (default: no stdin at all).
 */
export function startCli(args: string[], options: {cwd?: string; env?: Record<string, string | undefined>; input?: string} = {}) {
  const built = process.env.HOMELAB_TEST_BUILT === '1'
  return execa(process.execPath, [...(built ? [] : ['--import', TSX_LOADER]), path.join(REPO_ROOT, built ? 'bin/run.js' : 'bin/dev.js'), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: {NO_COLOR: '1', XDG_CACHE_HOME: testCacheHome(), ...options.env},
    extendEnv: true,
    reject: false,
    ...(options.input === undefined ? {stdin: 'ignore' as const} : {input: options.input}),
  })
}
