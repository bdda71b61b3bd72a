import {execa} from 'execa'
import {chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

const ARGS = ['--yes', '--host', 'h', '--user', 'u', '--ssh', 'u@h', '--domain', 'example.org', '--cluster', 'c']
const OLD = '# public key: age1old\nAGE-SECRET-KEY-1OLD\n'

/** A temp HOME, a new repository path, and SOPS_AGE_KEY_FILE set to `key` inside the sandbox. */
function sandbox(): {base: string; key: string; repo: string; env: Record<string, string | undefined>} {
  const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'homelab-init-key-')))
  temps.push(base)
  mkdirSync(path.join(base, 'home'))
  const key = path.join(base, 'keys.txt')
  return {base, env: {HOME: path.join(base, 'home'), SOPS_AGE_KEY_FILE: key, XDG_CONFIG_HOME: undefined}, key, repo: path.join(base, 'repo')}
}

describe('homelab init and an existing key file', () => {
  it('follows a symlinked key file: the identity is appended to its target and the link stays a link', async () => {
    const {base, env, key, repo} = sandbox()
    const target = path.join(base, 'vault/real-keys.txt')
    mkdirSync(path.dirname(target))
    writeFileSync(target, OLD, {mode: 0o600})
    symlinkSync('vault/real-keys.txt', key)
    const r = await runCli(['init', repo, ...ARGS], {env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(lstatSync(key).isSymbolicLink()).toBe(true)
    const text = readFileSync(target, 'utf8')
    expect(text.startsWith(OLD)).toBe(true)
    expect(text).toMatch(/^AGE-SECRET-KEY-1(?!OLD)[0-9A-Z]+$/m)
    expect(r.stdout).toContain(`appended to ${key} (a link: written to ${target})`)
  })

  it('refuses a symlinked key file whose target is inside a git work tree (the real path is checked)', async () => {
    const {base, env, key, repo} = sandbox()
    const work = path.join(base, 'work')
    mkdirSync(work)
    await execa('git', ['init', '-q'], {cwd: work})
    writeFileSync(path.join(work, 'keys.txt'), OLD)
    symlinkSync(path.join(work, 'keys.txt'), key)
    const r = await runCli(['init', repo, ...ARGS], {env})
    expect(r.exitCode).toBe(3)
    expect(r.stderr.split('\n')[0]).toBe(`Error: SOPS_AGE_KEY_FILE=${key} (a link to ${path.join(work, 'keys.txt')}) is inside the git work tree ${work}; a new private key is never written where it could be committed`)
    expect(readFileSync(path.join(work, 'keys.txt'), 'utf8')).toBe(OLD)
    expect(existsSync(repo)).toBe(false)
  })

  it('refuses a read-only key file, naming it, and writes nothing', async () => {
    const {env, key, repo} = sandbox()
    writeFileSync(key, OLD)
    chmodSync(key, 0o400)
    const r = await runCli(['init', repo, ...ARGS], {env})
    expect(r.exitCode).toBe(3)
    expect(r.stderr.split('\n')[0]).toBe(`Error: the sops key file ${key} is read-only (mode 0400); nothing was written`)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(statSync(key).mode & 0o777).toBe(0o400)
    expect(readFileSync(key, 'utf8')).toBe(OLD)
    expect(existsSync(repo)).toBe(false)
  })

  it('says when it narrows a 0644 key file to 0600', async () => {
    const {env, key, repo} = sandbox()
    writeFileSync(key, OLD)
    chmodSync(key, 0o644)
    const r = await runCli(['init', repo, ...ARGS], {env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(statSync(key).mode & 0o777).toBe(0o600)
    expect(r.stderr).toContain(`warning: narrowed the mode of the key file ${key} from 0644 to 0600: it holds private keys`)
  })

  it('a folder as key file is one line naming it, not a bare EISDIR', async () => {
    const {env, key, repo} = sandbox()
    mkdirSync(key)
    const r = await runCli(['init', repo, ...ARGS], {env})
    expect(r.exitCode).toBe(3)
    expect(r.stderr.split('\n')[0]).toBe(`Error: the sops key file ${key} is a folder, not a file; nothing was written`)
    expect(r.stderr).not.toContain('EISDIR')
    expect(existsSync(repo)).toBe(false)
  })
})
