import {execa} from 'execa'
import {existsSync, promises as fs, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {processStartTime} from '../../../src/lib/fs/process-alive.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyHomelab, HOST_SECRETS} from './helpers.js'

/**
 * `secrets edit` and signals (issue 11 item 8): a SIGKILLed run's private folder (decrypted
 * secret) is removed at the next start; SIGINT/SIGTERM/SIGHUP end the editor with the CLI.
 * The fake editor logs its pid, the temp file, and the pid of a child it starts, then sleeps.
 */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const SHM = existsSync('/dev/shm') ? '/dev/shm' : undefined

let repo: Awaited<ReturnType<typeof copyHomelab>>
let sleeper: string

beforeAll(async () => {
  repo = await copyHomelab()
  sleeper = path.join(repo.home, 'editor-sleep.sh')
  await fs.writeFile(sleeper, '#!/bin/sh\nsleep 60 &\necho "$$ $! $1" >> "$EDIT_LOG"\nwait\n', {mode: 0o755})
})

afterAll(async () => {
  await repo.cleanup()
})

/** True when `pid` runs (a zombie, waiting to be reaped, does not count). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** Starts `secrets edit` with the sleeping editor and waits until the editor logged itself. */
async function startEdit(log: string) {
  const entry = process.env.HOMELAB_TEST_BUILT === '1' ? [path.join(REPO_ROOT, 'bin/run.js')] : ['--import', TSX_LOADER, path.join(REPO_ROOT, 'bin/dev.js')]
  const child = execa(process.execPath, [...entry, 'secrets', 'edit', HOST_SECRETS], {
    cwd: repo.dir,
    env: {...repo.env, EDIT_LOG: log, EDITOR: sleeper, NO_COLOR: '1', VISUAL: ''},
    reject: false,
    timeout: 60_000,
  })
  for (let i = 0; i < 300 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 100))
  const [editorPid, grandchildPid, tempFile] = (await fs.readFile(log, 'utf8')).trim().split(' ')
  return {child, editorPid: Number(editorPid), grandchildPid: Number(grandchildPid), tempFile}
}

describe.each([
  ['SIGTERM', 143],
  ['SIGINT', 130],
  ['SIGHUP', 129],
] as const)('secrets edit gets %s while the editor runs', (signal, code) => {
  it(`ends the editor (and what it started), removes the private folder, exits ${code}`, async () => {
    const log = path.join(repo.home, `edit-${signal}.log`)
    const {child, editorPid, grandchildPid, tempFile} = await startEdit(log)
    expect(existsSync(tempFile)).toBe(true)
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (exitCode) => resolve(exitCode))
    })
    child.kill(signal)
    const exitCode = await exited
    await new Promise((r) => setTimeout(r, 200))
    const editorLeft = {editor: alive(editorPid), editorChild: alive(grandchildPid)}
    // A surviving editor would hold the CLI's output pipes open: end it before reading the output.
    for (const pid of [editorPid, grandchildPid]) if (alive(pid)) process.kill(pid, 'SIGKILL')
    const result = await child
    expect(editorLeft).toEqual({editor: false, editorChild: false})
    expect(exitCode, result.stderr).toBe(code)
    expect(result.stderr).toMatch(new RegExp(`^Error: interrupted by ${signal}; the editor was ended and nothing was written$`, 'm'))
    expect(existsSync(path.dirname(tempFile))).toBe(false)
  })
})

describe('secrets edit after a run killed with SIGKILL', () => {
  it('removes the private folder the killed run left, and only stale ones', async () => {
    const log = path.join(repo.home, 'edit-kill.log')
    const {child, editorPid, grandchildPid, tempFile} = await startEdit(log)
    child.kill('SIGKILL')
    await new Promise((r) => setTimeout(r, 300))
    // The editor outlives a SIGKILLed CLI (and holds its output pipes): end it here.
    for (const pid of [editorPid, grandchildPid]) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await child
    // The killed run could not clean up: its decrypted file is still there.
    expect(existsSync(tempFile)).toBe(true)

    // A folder of a live process (this test runner, same start time) must stay; one whose pid is
    // alive but belongs to another process (other start time) is stale.
    const base = path.dirname(path.dirname(tempFile))
    const live = path.join(base, `homelab-secret-${process.pid}-${processStartTime(process.pid)}-live01`)
    const reused = path.join(base, `homelab-secret-${process.pid}-1-reuse1`)
    await fs.mkdir(live, {mode: 0o700})
    await fs.mkdir(reused, {mode: 0o700})
    await fs.writeFile(path.join(reused, 'host-secrets.sops.yaml'), 'plaintext\n')
    try {
      const next = await runCli(['secrets', 'edit', HOST_SECRETS], {cwd: repo.dir, env: {...repo.env, EDITOR: 'true', VISUAL: ''}})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/^Warning: removed 2 private folders left with decrypted secrets by a killed secrets edit: /m)
      expect(existsSync(path.dirname(tempFile))).toBe(false)
      expect(existsSync(reused)).toBe(false)
      expect(existsSync(live)).toBe(true)
    } finally {
      await fs.rm(live, {force: true, recursive: true})
      await fs.rm(reused, {force: true, recursive: true})
    }
  })

  it.skipIf(!SHM)('uses /dev/shm for the private folder', async () => {
    const log = path.join(repo.home, 'edit-shm.log')
    const {child, editorPid, grandchildPid, tempFile} = await startEdit(log)
    child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 300))
    for (const pid of [editorPid, grandchildPid]) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await child
    expect(tempFile.startsWith(`${SHM}/homelab-secret-`)).toBe(true)
  })
})
