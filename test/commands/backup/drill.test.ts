import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import BackupDrill from '../../../src/commands/backup/drill.js'
import {drillUnitsFor, resolveDrillSources} from '../../../src/lib/backup/index.js'
import {type BackupFixture, makeBackupFixture} from '../../helpers/backup-fixture.js'
import {runCli} from '../../helpers/cli.js'

describe('homelab backup drill', () => {
  let fx: BackupFixture
  beforeAll(async () => {
    fx = await makeBackupFixture({createFolders: false})
  })
  afterAll(async () => fx?.remove())

  it('has a summary, a description, 2+ examples, --json, and takes sources as arguments', () => {
    expect(BackupDrill.summary).toMatch(/\S/)
    expect(BackupDrill.description).toContain('PRAGMA integrity_check')
    expect(BackupDrill.examples.length).toBeGreaterThanOrEqual(2)
    expect(BackupDrill.enableJsonFlag).toBe(true)
    expect(BackupDrill.strict).toBe(false)
  })

  it('SOURCE is an app name or a source path; anything else is a usage error (exit 3) before any connection', async () => {
    const r = await runCli(['backup', 'drill', 'alpha', '/nowhere'], {cwd: fx.repo, env: {HOMELAB_SUDO_PASSWORD: 'unused'}})
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain('/nowhere: neither an app nor a backup source of nixos/storage.json')
    expect(String(r.stderr)).toContain('apps: alpha, beta, gamma')
    expect(String(r.stderr)).not.toMatch(/\n\s+at /) // no stack trace
  })

  it('resolves app names and paths (trailing slash ignored, duplicates dropped) to one templated unit each', () => {
    const storage = {apps: ['alpha', 'beta'].map((name) => ({gid: 0, mode: '0750', name, path: `/srv/${name}`, uid: 0})), extraBackupSources: ['/etc/nixos']}
    const settings = {sources: ['/srv/alpha', '/srv/beta', '/etc/nixos'], storageFile: 'nixos/storage.json'}
    const sources = resolveDrillSources(['beta', '/etc/nixos/', '/srv/beta'], storage as never, settings)
    expect(sources).toEqual(['/srv/beta', '/etc/nixos'])
    expect(drillUnitsFor(sources)).toEqual(['homelab-backup-drill@srv-beta.service', 'homelab-backup-drill@etc-nixos.service'])
    expect(drillUnitsFor([])).toEqual(['homelab-backup-drill.service'])
  })
})
