import {promises as fs, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertInsideRepo, listLinksOutside, OutsideRepoError} from '../../../src/lib/fs/inside-repo.js'
import {applyChanges} from '../../../src/lib/fs/transaction.js'
import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

// Issue 11 item 1: an app folder that is a symbolic link out of the repository
// (apps/notes -> ../../…/victim/.ssh) must never be read, diffed or deleted through.

const APPS = 'flux/clusters/azalab-0/manifests/apps'
const SECRET = 'PRIVATE-KEY-MATERIAL-0f3a9c'
let root: string
let victim: string

async function victimFiles(): Promise<Record<string, string>> {
  const dir = path.join(victim, '.ssh')
  const out: Record<string, string> = {}
  for (const name of (await fs.readdir(dir)).sort()) out[name] = await fs.readFile(path.join(dir, name), 'utf8')
  return out
}

const VICTIM_FILES = {'authorized_keys': `ssh-ed25519 AAAA ${SECRET}-pub\n`, 'id_ed25519': `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET}\n-----END OPENSSH PRIVATE KEY-----\n`}

beforeAll(async () => {
  root = copyBundledHomelab('homelab-app-symlink-')
  victim = mkdtempSync(path.join(tmpdir(), 'homelab-victim-'))
  await fs.mkdir(path.join(victim, '.ssh'))
  for (const [name, text] of Object.entries(VICTIM_FILES)) await fs.writeFile(path.join(victim, '.ssh', name), text)
  const link = path.join(root, APPS, 'notes')
  await fs.symlink(path.relative(path.dirname(link), path.join(victim, '.ssh')), link)
})

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
  rmSync(victim, {force: true, recursive: true})
})

describe('a symlinked app folder leading out of the repository', () => {
  it('app remove --yes refuses with one line and leaves the outside files untouched', async () => {
    const result = await runCli(['app', 'remove', 'notes', '--yes', '--repo', root])
    expect(result.exitCode).toBe(1)
    const lines = result.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`${APPS}/notes leads through a symbolic link to ${await fs.realpath(path.join(victim, '.ssh'))}, outside the repository`)
    expect(result.stdout + result.stderr).not.toContain(SECRET)
    expect(await victimFiles()).toEqual(VICTIM_FILES)
  })

  it('app remove --dry-run prints none of the outside files', async () => {
    const result = await runCli(['app', 'remove', 'notes', '--dry-run', '--repo', root])
    expect(result.exitCode).toBe(1)
    expect(result.stdout + result.stderr).not.toContain(SECRET)
    expect(result.stderr).toContain('outside the repository')
    expect(await victimFiles()).toEqual(VICTIM_FILES)
  })

  it('app new refuses the name of a link (also a dangling one) instead of writing through it', async () => {
    const dangling = path.join(root, APPS, 'wiki')
    await fs.symlink(path.join(victim, 'not-yet'), dangling)
    try {
      const result = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1', '--port', '80', '--storage', '0', '--no-hostname', '--yes', '--repo', root])
      expect(result.exitCode).toBe(3)
      expect(result.stderr).toContain(`app wiki exists already (${APPS}/wiki)`)
      await expect(fs.stat(path.join(victim, 'not-yet'))).rejects.toThrow(/ENOENT/)
    } finally {
      await fs.rm(dangling)
    }
  })

  it('validate reports the link as an error naming it', async () => {
    const result = await runCli(['validate', '--json', '--repo', root])
    expect(result.exitCode).toBe(1)
    const report = JSON.parse(result.stdout) as {checks: {id: string; findings: {file: string; severity: string; message: string}[]}[]}
    const findings = report.checks.flatMap((c) => c.findings).filter((f) => f.file === `${APPS}/notes`)
    expect(findings).toHaveLength(1)
    expect(findings[0].severity).toBe('error')
    expect(findings[0].message).toMatch(/^symbolic link to .*, outside the repository/)
  })
})

describe('the inside-repo helper', () => {
  it('resolves links (also dangling) and refuses paths leading out; lists outside links only', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'homelab-inside-'))
    try {
      await fs.mkdir(path.join(dir, 'repo/a'), {recursive: true})
      await fs.mkdir(path.join(dir, 'outside'))
      await fs.symlink('../outside', path.join(dir, 'repo/out'))
      await fs.symlink('../../outside/missing', path.join(dir, 'repo/a/dangling'))
      await fs.symlink('a', path.join(dir, 'repo/in'))
      const repo = path.join(dir, 'repo')
      expect(await assertInsideRepo(repo, 'in/new-file')).toBe(path.join(await fs.realpath(repo), 'a/new-file'))
      await expect(assertInsideRepo(repo, 'out/x')).rejects.toBeInstanceOf(OutsideRepoError)
      await expect(assertInsideRepo(repo, 'a/dangling')).rejects.toBeInstanceOf(OutsideRepoError)
      expect((await listLinksOutside(repo)).map((l) => l.rel)).toEqual(['a/dangling', 'out'])
      // A change set never writes through such a link.
      await expect(applyChanges([{after: 'x', before: null, path: path.join(repo, 'out/new.yaml')}], {root: repo})).rejects.toBeInstanceOf(OutsideRepoError)
      expect(await fs.readdir(path.join(dir, 'outside'))).toEqual([])
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
