import {execa} from 'execa'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertKeyFileOutsideGitWorkTree, gitWorkTreeOf} from '../../../src/lib/age/key-file-location.js'

let base: string
beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 'homelab-keyloc-'))
})
afterAll(() => rmSync(base, {force: true, recursive: true}))

describe('gitWorkTreeOf', () => {
  it('finds the work tree from a folder that does not exist yet, and nothing outside one', async () => {
    expect(await gitWorkTreeOf(base)).toBeUndefined() // the temp folder is in no repository
    const repo = path.join(base, 'repo')
    mkdirSync(repo)
    await execa('git', ['init', '-q'], {cwd: repo})
    expect(await gitWorkTreeOf(path.join(repo, 'test/fixtures/keys'))).toBe(repo)
    expect(await gitWorkTreeOf(repo)).toBe(repo)
  })

  it('counts a .git file (a linked work tree or submodule) and follows symlinks', async () => {
    const linked = path.join(base, 'linked')
    mkdirSync(path.join(linked, 'sub'), {recursive: true})
    writeFileSync(path.join(linked, '.git'), 'gitdir: /elsewhere/.git/worktrees/linked\n')
    expect(await gitWorkTreeOf(path.join(linked, 'sub'))).toBe(linked)
    symlinkSync(path.join(linked, 'sub'), path.join(base, 'alias'))
    expect(await gitWorkTreeOf(path.join(base, 'alias'))).toBe(linked)
  })
})

describe('assertKeyFileOutsideGitWorkTree', () => {
  it('passes a key file outside any work tree', async () => {
    await expect(assertKeyFileOutsideGitWorkTree(path.join(base, 'config/sops/age/keys.txt'), {})).resolves.toBeUndefined()
  })

  it('names the file, the setting that chose it and the work tree; exit 3', async () => {
    const repo = path.join(base, 'r2')
    mkdirSync(path.join(repo, '.git'), {recursive: true})
    const file = path.join(repo, 'keys.txt')
    await expect(assertKeyFileOutsideGitWorkTree(file, {SOPS_AGE_KEY_FILE: file})).rejects.toMatchObject({
      exitCode: 3,
      message: `SOPS_AGE_KEY_FILE=${file} is inside the git work tree ${repo}; a new private key is never written where it could be committed`,
      suggestions: ['point SOPS_AGE_KEY_FILE at a file outside any repository, e.g. ~/.config/sops/age/keys.txt (copy into it any identity you still need)'],
    })
    const xdgFile = path.join(repo, 'xdg/sops/age/keys.txt')
    await expect(assertKeyFileOutsideGitWorkTree(xdgFile, {XDG_CONFIG_HOME: path.join(repo, 'xdg')})).rejects.toMatchObject({
      message: `the sops key file ${xdgFile} (from XDG_CONFIG_HOME) is inside the git work tree ${repo}; a new private key is never written where it could be committed`,
      suggestions: ['set SOPS_AGE_KEY_FILE to a file outside any repository (copy into it any identity you still need)'],
    })
    await expect(assertKeyFileOutsideGitWorkTree(path.join(repo, '.config/sops/age/keys.txt'), {})).rejects.toThrow(/\(from HOME\) is inside the git work tree/)
  })
})
