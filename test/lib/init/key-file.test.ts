import {lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {appendIdentity, operatorKeyFile} from '../../../src/lib/init/key-file.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

describe('operatorKeyFile', () => {
  it('follows sops: SOPS_AGE_KEY_FILE, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(operatorKeyFile({env: {SOPS_AGE_KEY_FILE: '/k/keys.txt', XDG_CONFIG_HOME: '/x'}, homeDir: '/home/me'})).toBe('/k/keys.txt')
    expect(operatorKeyFile({env: {XDG_CONFIG_HOME: '/x'}, homeDir: '/home/me'})).toBe('/x/sops/age/keys.txt')
    expect(operatorKeyFile({env: {SOPS_AGE_KEY_FILE: '', XDG_CONFIG_HOME: ''}, homeDir: '/home/me'})).toBe('/home/me/.config/sops/age/keys.txt')
  })
})

describe('appendIdentity', () => {
  it('creates folders 0700 and the file 0600 in age-keygen format, then appends after a missing final newline', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'homelab-keyfile-'))
    dirs.push(dir)
    const file = path.join(dir, 'a/b/keys.txt')
    const now = new Date('2026-11-24T08:00:00.123Z')
    await appendIdentity({file, identity: 'AGE-SECRET-KEY-1AAA', now, recipient: 'age1aaa'})
    expect(statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o700)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe('# created: 2026-11-24T08:00:00Z\n# public key: age1aaa\nAGE-SECRET-KEY-1AAA\n')

    writeFileSync(file, 'AGE-SECRET-KEY-1OLD', {mode: 0o644})
    await appendIdentity({comment: 'homelab lab', file, identity: 'AGE-SECRET-KEY-1NEW', now, recipient: 'age1new'})
    expect(readFileSync(file, 'utf8')).toBe('AGE-SECRET-KEY-1OLD\n# homelab lab\n# created: 2026-11-24T08:00:00Z\n# public key: age1new\nAGE-SECRET-KEY-1NEW\n')
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})

describe('appendIdentity through links and onto odd files', () => {
  it('a dangling link gets its target created (0600) and stays a link; a loop and a folder are refused naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'homelab-keyfile-'))
    dirs.push(dir)
    const link = path.join(dir, 'keys.txt')
    symlinkSync('store/keys.txt', link)
    const result = await appendIdentity({file: link, identity: 'AGE-SECRET-KEY-1AAA', now: new Date('2026-11-24T08:00:00Z'), recipient: 'age1aaa'})
    expect(result).toEqual({narrowedFrom: undefined, target: path.join(dir, 'store/keys.txt')})
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(statSync(path.join(dir, 'store/keys.txt')).mode & 0o777).toBe(0o600)
    expect(readFileSync(link, 'utf8')).toContain('AGE-SECRET-KEY-1AAA')

    symlinkSync('loop-b', path.join(dir, 'loop-a'))
    symlinkSync('loop-a', path.join(dir, 'loop-b'))
    await expect(appendIdentity({file: path.join(dir, 'loop-a'), identity: 'AGE-SECRET-KEY-1B', recipient: 'age1b'})).rejects.toThrow(`the sops key file ${path.join(dir, 'loop-a')} is a loop of symbolic links`)
    mkdirSync(path.join(dir, 'folder'))
    await expect(appendIdentity({file: path.join(dir, 'folder'), identity: 'AGE-SECRET-KEY-1B', recipient: 'age1b'})).rejects.toMatchObject({exitCode: 3, message: `the sops key file ${path.join(dir, 'folder')} is a folder, not a file; nothing was written`})
  })
})
