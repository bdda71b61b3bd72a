// The deploy preflight's view of the working tree, on real temporary git repositories: which
// tracked files are dirty (staged, unstaged, renamed; untracked ones do not count), named in full,
// and host keys pinned into known_hosts (only added key lines) not counted as a dirty tree.
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Homelab} from '../../../src/lib/config/load.js'
import {parsePorcelainZ, readLocalGit} from '../../../src/lib/deploy/local-git.js'
import {preflight, PreflightError} from '../../../src/lib/deploy/preflight.js'

const KEY_A = '[hl-a]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf1ZVyv2sdkeb0D3rGOvBAEPaR4ToozkZS7dyAKxWhM'
const KEY_B = '[hl-b]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
const ENV = {GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't'}

let dir: string
const git = async (...args: string[]) => (await execa('git', args, {cwd: dir, env: ENV})).stdout
const write = (file: string, text: string) => fs.mkdir(path.dirname(path.join(dir, file)), {recursive: true}).then(() => fs.writeFile(path.join(dir, file), text))
const homelab = (root = dir) => ({config: {git: {branch: 'main', remote: 'origin'}, knownHosts: 'known_hosts'}, root}) as unknown as Homelab
const refusal = async (root = dir) => {
  const error = await preflight({allowDirty: false, env: ENV, homelab: homelab(root), validate: false}).then(
    () => undefined,
    (error_: unknown) => error_,
  )
  expect(error).toBeInstanceOf(PreflightError)
  return (error as Error).message
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-local-git-'))
  await git('init', '-q', '-b', 'main')
  await write('README.md', 'readme\n')
  await write('known_hosts', `${KEY_A}\n`)
  await write('nixos/hosts/azalab-0.nix', '{ }\n')
  await write('.gitignore', 'ignored.txt\n')
  await git('add', '-A')
  await git('commit', '-qm', 'initial')
})
afterEach(async () => fs.rm(dir, {force: true, recursive: true}))

describe('dirty tree detection (git status --porcelain=v1 -z)', () => {
  it('names unstaged, staged and staged+unstaged files in full; untracked and ignored files do not count', async () => {
    await write('known_hosts', '# edited by hand\n') // unstaged: " M known_hosts"
    await write('README.md', 'staged\n')
    await git('add', 'README.md') // staged: "M  README.md"
    await write('nixos/hosts/azalab-0.nix', '{ a = 1; }\n')
    await git('add', 'nixos/hosts/azalab-0.nix')
    await write('nixos/hosts/azalab-0.nix', '{ a = 2; }\n') // both: "MM …"
    await write('untracked file.md', 'new\n')
    await write('ignored.txt', 'ignored\n')
    const state = await readLocalGit(dir, ENV)
    expect(state.changes.map((c) => `${c.index}${c.worktree} ${c.path}`).sort()).toEqual(['M  README.md', 'MM nixos/hosts/azalab-0.nix', ' M known_hosts'].sort())
    expect(await refusal()).toBe('uncommitted changes in 3 tracked file(s): README.md, known_hosts, nixos/hosts/azalab-0.nix')
  })

  it('an unstaged change as the first line keeps its first letter', async () => {
    await write('README.md', 'unstaged\n')
    expect(await refusal()).toBe('uncommitted changes in 1 tracked file(s): README.md')
  })

  it('a staged rename names both paths; odd file names come through unquoted; more than 3 are counted', async () => {
    await fs.mkdir(path.join(dir, 'docs'))
    await git('mv', 'README.md', 'docs/READ ME "new".md')
    await write('nixos/hosts/azalab-0.nix', 'x\n')
    await write('.gitignore', 'y\n')
    await write('known_hosts', '')
    expect(await refusal()).toBe('uncommitted changes in 4 tracked file(s): .gitignore, docs/READ ME "new".md (renamed from README.md), known_hosts and 1 more')
    expect(parsePorcelainZ('R  new name\0old name\0 M b\0?? c\0!! d\0')).toEqual([
      {from: 'old name', index: 'R', path: 'new name', worktree: ' '},
      {index: ' ', path: 'b', worktree: 'M'},
    ])
  })

  it('a clean tree with untracked files passes; a repo below the top folder names paths from the top', async () => {
    await write('untracked.md', 'x\n')
    const pre = await preflight({allowDirty: false, env: ENV, homelab: homelab(), validate: false})
    expect(pre).toMatchObject({branch: 'main', dirty: [], pushed: false})
    expect(pre.pinnedHostKeys).toBeUndefined()
    await write('nixos/hosts/azalab-0.nix', 'x\n')
    expect(await refusal(path.join(dir, 'nixos'))).toBe('uncommitted changes in 1 tracked file(s): nixos/hosts/azalab-0.nix')
  })
})

describe('host keys pinned into known_hosts', () => {
  it('only ADDED key lines (what pinning writes) are pinned keys, not a dirty tree, staged or not', async () => {
    await write('known_hosts', `${KEY_A}\n${KEY_B}\n`)
    const pre = await preflight({allowDirty: false, env: ENV, homelab: homelab(), validate: false})
    expect(pre.dirty).toEqual([])
    expect(pre.pinnedHostKeys).toEqual({file: 'known_hosts', lines: [KEY_B]})
    await git('add', 'known_hosts')
    expect((await preflight({allowDirty: false, env: ENV, homelab: homelab(), validate: false})).pinnedHostKeys).toEqual({file: 'known_hosts', lines: [KEY_B]})
  })

  it('a key appended after a last line without a newline still counts as added only', async () => {
    await fs.writeFile(path.join(dir, 'known_hosts'), KEY_A)
    await git('commit', '-qam', 'no final newline')
    await write('known_hosts', `${KEY_A}\n${KEY_B}\n`)
    expect((await preflight({allowDirty: false, env: ENV, homelab: homelab(), validate: false})).pinnedHostKeys?.lines).toEqual([KEY_B])
  })

  it('a removed or replaced key, an added comment, or another dirty file alongside keeps the refusal', async () => {
    await write('known_hosts', `${KEY_B}\n`)
    expect(await refusal()).toBe('uncommitted changes in 1 tracked file(s): known_hosts')
    await write('known_hosts', `${KEY_A}\n# a note\n`)
    expect(await refusal()).toBe('uncommitted changes in 1 tracked file(s): known_hosts')
    await write('known_hosts', `${KEY_A}\n${KEY_B}\n`)
    await write('README.md', 'changed\n')
    expect(await refusal()).toBe('uncommitted changes in 1 tracked file(s): README.md')
  })
})
