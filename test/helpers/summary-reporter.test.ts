// The closing line `Tests: N passed, N failed, N skipped` (test/helpers/summary-reporter.ts),
// from a real vitest run of small fixture suites in a temp dir with their own config.
import {execa} from 'execa'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {REPO_ROOT} from './cli.js'

const VITEST = path.join(path.dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')
const REPORTER = path.join(REPO_ROOT, 'test/helpers/summary-reporter.ts')

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

/**
 * Runs vitest (this repository's) on `files` (name → test source, vitest globals on) in a temp
 * dir with only the summary reporter; returns its closing line and vitest's exit code.
 */
async function closingLine(files: Record<string, string>): Promise<{exitCode: number | undefined; line: string | undefined}> {
  const dir = mkdtempSync(path.join(tmpdir(), 'homelab-reporter-'))
  dirs.push(dir)
  writeFileSync(path.join(dir, 'vitest.config.mjs'), `export default {test: {globals: true, include: ['*.test.mjs'], reporters: [${JSON.stringify(REPORTER)}]}}\n`)
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text)
  // The child is its own vitest run, not a worker of this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'))
  const r = await execa(process.execPath, [VITEST, 'run', '--root', dir, '--config', path.join(dir, 'vitest.config.mjs')], {cwd: dir, env, extendEnv: false, reject: false, timeout: 60_000})
  return {exitCode: r.exitCode, line: String(r.stdout).split('\n').find((l) => l.startsWith('Tests: '))}
}

describe('the closing-line reporter', () => {
  it('counts passed, failed and skipped tests', async () => {
    const r = await closingLine({
      'a.test.mjs': "it('passes', () => {})\nit('fails', () => { throw new Error('no') })\nit.skip('is skipped', () => {})\n",
    })
    expect(r).toEqual({exitCode: 1, line: 'Tests: 1 passed, 1 failed, 1 skipped'})
  })

  it('counts a file whose beforeAll fails (its tests skipped) as failed, like a file that does not load', async () => {
    const r = await closingLine({
      'ok.test.mjs': "it('passes', () => {})\n",
      'setup.test.mjs': "describe('suite', () => {\n  beforeAll(() => { throw new Error('setup failed') })\n  it('one', () => {})\n  it('two', () => {})\n})\n",
      'load.test.mjs': "throw new Error('does not load')\n",
    })
    expect(r).toEqual({exitCode: 1, line: 'Tests: 1 passed, 2 failed, 2 skipped'})
  })

  it('counts a file whose afterAll fails after its tests passed as failed', async () => {
    const r = await closingLine({'teardown.test.mjs': "afterAll(() => { throw new Error('teardown failed') })\nit('passes', () => {})\n"})
    expect(r).toEqual({exitCode: 1, line: 'Tests: 1 passed, 1 failed, 0 skipped'})
  })
})
