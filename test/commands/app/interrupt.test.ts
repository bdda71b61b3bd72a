import {execa} from 'execa'
import {promises as fs, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'

/**
 * `app new` / `app remove` are all or nothing also when the process is killed between two
 * renames (issue 11 item 5): SIGINT/SIGTERM roll back at once (exit 130/143), a SIGKILL is undone
 * by the next writing command from the journal in .homelab-state/. The kill points are
 * deterministic: HOMELAB_TEST_CRASH_AFTER_RENAME / HOMELAB_TEST_PAUSE_AFTER_RENAME.
 */
let root: string
const NEW_WIKI = ['app', 'new', 'wiki', '--image', 'nginx:1.27', '--port', '80', '--yes']
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

beforeEach(() => {
  root = copyBundledHomelab('homelab-app-interrupt-')
})

afterEach(() => {
  rmSync(root, {force: true, recursive: true})
})

/** Paths of temp and backup files the writer leaves when it is cut short. */
function leftovers(tree: Record<string, string>): string[] {
  return Object.keys(tree).filter((p) => /\.(tmp|old|restore)$/.test(p) || p.startsWith('.homelab-state'))
}

/** Starts the CLI (not awaited) so the test can signal it. */
function startCli(args: string[], env: Record<string, string>) {
  const entry = process.env.HOMELAB_TEST_BUILT === '1' ? ['bin/run.js'] : ['--import', TSX_LOADER, 'bin/dev.js']
  return execa(process.execPath, [...entry.map((e) => (e.startsWith('bin/') ? path.join(REPO_ROOT, e) : e)), ...args], {
    cwd: REPO_ROOT,
    env: {CI: 'true', NO_COLOR: '1', ...env},
    reject: false,
    timeout: 60_000,
  })
}

describe('app new killed with SIGKILL after the k-th rename', () => {
  it.each([1, 4, 9])('after rename %i: the next run rolls it back and the tree is as before, byte for byte', async (k) => {
    const before = await treeSnapshot(root)
    const killed = await runCli([...NEW_WIKI, '--repo', root], {env: {CI: 'true', HOMELAB_TEST_CRASH_AFTER_RENAME: String(k)}})
    expect(killed.signal).toBe('SIGKILL')
    // Killed mid-way: some files are new, and temps/backups are lying around.
    expect(await treeSnapshot(root)).not.toEqual(before)

    const next = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1.27', '--port', '80', '--yes', '--dry-run', '--repo', root], {env: {CI: 'true'}})
    expect(next.exitCode, next.stderr).toBe(0)
    const recovered = next.stderr.split('\n').filter((l) => l.includes('recovered'))
    expect(recovered).toEqual([expect.stringMatching(/^Warning: recovered from \.homelab-state\/journal\.json: rolled back the interrupted `app new wiki` \(started .*, 10 files\): every file is as before it$/)])
    const after = await treeSnapshot(root)
    expect(leftovers(after)).toEqual([])
    expect(after).toEqual(before)

    // And the app can then be written for real.
    const again = await runCli([...NEW_WIKI, '--repo', root], {env: {CI: 'true'}})
    expect(again.exitCode, again.stderr).toBe(0)
    expect(leftovers(await treeSnapshot(root))).toEqual([])
  })
})

describe('app remove killed with SIGKILL after the k-th rename', () => {
  it('is rolled back by the next run', async () => {
    const before = await treeSnapshot(root)
    const killed = await runCli(['app', 'remove', 'vaultwarden', '--yes', '--repo', root], {env: {CI: 'true', HOMELAB_TEST_CRASH_AFTER_RENAME: '3'}})
    expect(killed.signal).toBe('SIGKILL')
    expect(await treeSnapshot(root)).not.toEqual(before)

    const next = await runCli(['app', 'remove', 'vaultwarden', '--yes', '--dry-run', '--repo', root], {env: {CI: 'true'}})
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(/^Warning: recovered from \.homelab-state\/journal\.json: rolled back the interrupted `app remove vaultwarden`/m)
    expect(await treeSnapshot(root)).toEqual(before)
  })
})

describe('app new and app remove interrupted with SIGINT or SIGTERM between two renames', () => {
  const cases: [string, string[], NodeJS.Signals, number][] = [
    ['app new, SIGINT', NEW_WIKI, 'SIGINT', 130],
    ['app new, SIGTERM', NEW_WIKI, 'SIGTERM', 143],
    ['app new, SIGHUP', NEW_WIKI, 'SIGHUP', 129],
    ['app remove, SIGTERM', ['app', 'remove', 'vaultwarden', '--yes'], 'SIGTERM', 143],
  ]
  it.each(cases)('%s: rolled back at once, exit 128+n, tree as before', async (_label, args, signal, code) => {
    const before = await treeSnapshot(root)
    const child = startCli([...args, '--repo', root], {HOMELAB_TEST_PAUSE_AFTER_RENAME: '2'})
    let stderr = ''
    await new Promise<void>((resolve) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('paused after rename 2')) resolve()
      })
      void child.then(() => resolve())
    })
    expect(stderr).toContain('homelab-test: paused after rename 2')
    child.kill(signal)
    const result = await child
    expect(result.exitCode, result.stderr).toBe(code)
    expect(result.stderr).toMatch(new RegExp(`^Error: interrupted by ${signal}; no file was changed$`, 'm'))
    expect(result.stderr).not.toMatch(/\n\s+at /)
    const after = await treeSnapshot(root)
    expect(leftovers(after)).toEqual([])
    expect(after).toEqual(before)
  })
})

describe('a journal of a live process is left alone', () => {
  it('refuses to write while another homelab process holds the journal', async () => {
    await fs.mkdir(path.join(root, '.homelab-state'))
    const {processStartTime} = await import('../../../src/lib/fs/process-alive.js')
    const journal = {command: 'app new other', createdAt: new Date().toISOString(), createdDirs: [], entries: [], pid: process.pid, removeEmptyDirs: [], startTime: processStartTime(process.pid), state: 'applying', version: 1}
    await fs.writeFile(path.join(root, '.homelab-state/journal.json'), JSON.stringify(journal))
    const result = await runCli([...NEW_WIKI, '--repo', root], {env: {CI: 'true'}})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^Error: another homelab command \\(app new other, pid ${process.pid}\\) is writing this repository; wait for it to finish$`, 'm'))
  })
})
