import {describe, expect, it} from 'vitest'

import BackupRestore from '../../../src/commands/backup/restore.js'
import {runCli} from '../../helpers/cli.js'

// Usage errors of `homelab backup restore` against the bundled homelab: each is decided before any
// connection (the bundled host is not reachable from here, which would be exit 2).
describe('homelab backup restore: usage', () => {
  it('has a summary, a description, 2+ examples, --json, static members in order', () => {
    const Command = BackupRestore as unknown as Record<string, unknown> & {examples: unknown[]}
    expect(Command.summary).toMatch(/\S/)
    expect(Command.examples.length).toBeGreaterThanOrEqual(2)
    expect(Command.enableJsonFlag).toBe(true)
    const order = Object.getOwnPropertyNames(BackupRestore).filter((n) => ['summary', 'description', 'examples', 'enableJsonFlag', 'args', 'flags'].includes(n))
    expect(order).toEqual(['summary', 'description', 'examples', 'enableJsonFlag', 'args', 'flags'])
  })

  it.each([
    [['nope'], 'nope: not an app or backup source of nixos/storage.json'],
    [['/etc/nixos', '--yes'], '/etc/nixos is not an app folder: it restores only with --to PATH'],
    [['vaultwarden'], '--yes is required to restore in place when not running in a terminal; nothing was changed'],
    [['vaultwarden', '--prune-aside'], '--yes is required to remove aside folders'],
    [['vaultwarden', '--to', 'restore-here'], '--to restore-here: give an absolute folder on the host'],
    [['vaultwarden', '--to', '/srv/vaultwarden/old'], '--to /srv/vaultwarden/old: is inside the live backup source /srv/vaultwarden'],
    [['vaultwarden', '--yes', '--at', 'yesterday'], '--at yesterday: not a time'],
    [['vaultwarden', '--snapshot', 'ab', '--at', '2026-01-01'], '--at=2026-01-01 cannot also be provided when using --snapshot'],
  ])('backup restore %j: exit 3 before connecting', async (args, message) => {
    const r = await runCli(['backup', 'restore', ...args], {env: {HOMELAB_SUDO_PASSWORD: undefined}})
    expect(r.exitCode, String(r.stderr)).toBe(3)
    expect(String(r.stderr)).toContain(message)
  })

  it('--json keeps exit 3 for a missing --yes, as one JSON error', async () => {
    const r = await runCli(['backup', 'restore', 'vaultwarden', '--json'])
    expect(r.exitCode).toBe(3)
    expect(JSON.parse(String(r.stdout)).error).toMatchObject({exitCode: 3, message: expect.stringContaining('--yes is required to restore in place')})
  })
})
