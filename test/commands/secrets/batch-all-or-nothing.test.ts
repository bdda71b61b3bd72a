import {execa} from 'execa'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'
import {copyHomelab} from './helpers.js'

/**
 * `secrets rotate` and `secrets updatekeys` over many files are all or nothing (issue 11 items 5
 * and 12): a killed run is undone by the next writing command from the journal, and a folder
 * that cannot be written (immutable, so it fails for root too) changes no file and is reported
 * by the real file's name, never a temp file's.
 */
let repo: Awaited<ReturnType<typeof copyHomelab>>

beforeEach(async () => {
  repo = await copyHomelab()
})

afterEach(async () => {
  await execa('chattr', ['-i', path.join(repo.dir, 'nixos/secrets')], {reject: false})
  await repo.cleanup()
})

function leftovers(tree: Record<string, string>): string[] {
  return Object.keys(tree).filter((p) => /\.(tmp|old|restore)$/.test(p) || p.startsWith('.homelab-state'))
}

describe('secrets rotate killed mid-batch', () => {
  it('SIGKILL after the 3rd of 8 renames: the next writing command rolls every file back, byte for byte', async () => {
    const before = await treeSnapshot(repo.dir)
    const killed = await runCli(['secrets', 'rotate', '--repo', repo.dir], {cwd: repo.dir, env: {...repo.env, HOMELAB_TEST_CRASH_AFTER_RENAME: '3'}})
    expect(killed.signal).toBe('SIGKILL')
    expect(await treeSnapshot(repo.dir)).not.toEqual(before)

    // updatekeys has nothing to change here (every file already has its rule's recipients).
    const next = await runCli(['secrets', 'updatekeys', '--repo', repo.dir], {cwd: repo.dir, env: repo.env})
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(/^Warning: recovered from \.homelab-state\/journal\.json: rolled back the interrupted `secrets rotate` \(started .*, 8 files\): every file is as before it$/m)
    const after = await treeSnapshot(repo.dir)
    expect(leftovers(after)).toEqual([])
    expect(after).toEqual(before)
  })
})

describe('secrets rotate with a folder that cannot be written', () => {
  it('changes no file and names the real file, not a temp file', async () => {
    const immutable = await execa('chattr', ['+i', path.join(repo.dir, 'nixos/secrets')], {reject: false})
    expect(immutable.exitCode, `chattr +i must work here: ${immutable.stderr}`).toBe(0)
    const before = await treeSnapshot(repo.dir)
    const result = await runCli(['secrets', 'rotate', '--repo', repo.dir], {cwd: repo.dir, env: repo.env})
    expect(result.exitCode).toBe(1)
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('Error:'))
    expect(errors).toEqual([
      'Error: could not write nixos/secrets/host-secrets.sops.yaml: operation not permitted: its folder is read-only or immutable; no file was changed',
    ])
    expect(result.stderr).not.toMatch(/\.tmp|\n\s+at /)
    expect(await treeSnapshot(repo.dir)).toEqual(before)
  })

  it('names the real file for a single-file write too (atomic-write layer)', async () => {
    await execa('chattr', ['+i', path.join(repo.dir, 'nixos/secrets')])
    const result = await runCli(['secrets', 'set', 'nixos/secrets/host-secrets.sops.yaml', 'kopia.repository_password', '--value-stdin'], {
      cwd: repo.dir,
      env: repo.env,
      input: 'other-password\n',
    })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).not.toContain('.tmp')
    expect(result.stderr).toMatch(/host-secrets\.sops\.yaml: operation not permitted: its folder is read-only or immutable/)
  })
})
