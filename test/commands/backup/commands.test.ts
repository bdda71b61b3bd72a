import {describe, expect, it} from 'vitest'

import BackupOffsite from '../../../src/commands/backup/offsite.js'
import BackupRun from '../../../src/commands/backup/run.js'
import BackupStatusCommand from '../../../src/commands/backup/status.js'
import BackupSync from '../../../src/commands/backup/sync.js'
import BackupVerify from '../../../src/commands/backup/verify.js'
import {runCli} from '../../helpers/cli.js'

const COMMANDS = {offsite: BackupOffsite, run: BackupRun, status: BackupStatusCommand, sync: BackupSync, verify: BackupVerify}
const VERBS = Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]

describe('homelab backup commands', () => {
  it.each(VERBS)('backup %s has a summary, a description, 2+ examples, --json, static members in order', async (verb) => {
    const Command = COMMANDS[verb] as unknown as Record<string, unknown> & {examples: unknown[]}
    expect(Command.summary).toMatch(/\S/)
    expect(Command.description).toMatch(/\S/)
    expect(Command.examples.length).toBeGreaterThanOrEqual(2)
    expect(Command.enableJsonFlag).toBe(true)
    const order = Object.getOwnPropertyNames(COMMANDS[verb]).filter((n) => ['summary', 'description', 'examples', 'enableJsonFlag', 'args', 'flags'].includes(n))
    expect(order).toEqual(['summary', 'description', 'examples', 'enableJsonFlag', ...(order.includes('flags') ? ['flags'] : [])])
  })

  it('backup --help lists every verb', async () => {
    const r = await runCli(['backup', '--help'])
    expect(r.exitCode).toBe(0)
    // restore and drill take arguments; their metadata is checked in restore.test.ts and drill.test.ts.
    for (const verb of [...VERBS, 'restore', 'drill']) expect(String(r.stdout)).toContain(`backup ${verb}`)
  })

  it('verify --percent is bounded: 101 is a usage error before any connection', async () => {
    const r = await runCli(['backup', 'verify', '--percent', '101'])
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain('--percent')
  })
})
