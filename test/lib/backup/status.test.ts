import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {evaluateBackupStatus, loadBackupSettings, readBackupStatus, readHostBackupState, systemdEscapePath} from '../../../src/lib/backup/index.js'
import {loadHomelab} from '../../../src/lib/config/load.js'
import {type BackupFixture, localHost, makeBackupFixture, requireTools} from '../../helpers/backup-fixture.js'
import {type BackupUnits, installBackupStandIns, installBackupUnits} from '../../helpers/backup-units.js'
import {type S3TestServer, startS3Server} from '../../helpers/s3-server.js'

// The real scripts run by the systemctl stand-in against the stand-in kopia, then the status
// reader reads what they wrote, through a connection that runs commands locally.
describe('readBackupStatus against the status files the real scripts write', () => {
  let fx: BackupFixture
  let units: BackupUnits
  let binDir: string
  let host: ReturnType<typeof localHost>
  // R2 is the loopback S3 server: the stand-in kopia and the sync script copy blobs for real.
  let s3: S3TestServer

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'rclone'])
    s3 = await startS3Server(['azalab-kopia'])
    fx = await makeBackupFixture()
    binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    units = await installBackupUnits({binDir, hostDir: fx.hostDir, offsite: s3, repo: fx.repo, sources: fx.sources})
    host = localHost({binDir})
  })
  afterAll(async () => {
    await s3?.stop()
    await fx?.remove()
  })

  const status = async (now?: Date) => readBackupStatus({connection: host, homelab: await loadHomelab({cwd: fx.repo}), now})

  it('reports "never" for every source and a never-run sync before anything ran', async () => {
    const s = await status()
    expect(s.ok).toBe(false)
    expect(s.sources.map((x) => x.state)).toEqual(['never', 'never', 'never', 'never'])
    expect(s.sync.state).toBe('never')
    expect(s.timers.backup.next).toMatch(/T02:30:00.000Z$/)
  })

  it('all fresh after a backup run and a sync', async () => {
    expect((await host.sudo('systemctl start kopia-backup.service')).exitCode).toBe(0)
    expect((await host.sudo('systemctl start kopia-r2-sync.service')).exitCode).toBe(0)
    const s = await status()
    expect(s.problems).toEqual([])
    expect(s.ok).toBe(true)
    expect(s.sources.map((x) => [x.path, x.state])).toEqual(fx.sources.map((p) => [p, 'ok']))
    const first = s.sources[0].lastSnapshot!
    expect(first.size).toBe(1000 + `contents of ${fx.sources[0]}\n`.length)
    expect(first.files).toBe(2)
    expect(first.errors).toBe(0)
    expect(first.ageSeconds).toBeLessThan(60)
    expect(s.sync).toMatchObject({bucket: 'azalab-kopia', prefix: 'kopia/', result: 'success', state: 'ok'})
    expect(s.timers.sync.next).not.toBeNull()
    expect(s.timers.backup.last).not.toBeNull()
    expect(s.lastRun?.result).toBe('success')
  })

  it('one source stale: its newest snapshot older than schedule + grace', async () => {
    const s = await status(new Date(Date.now() + 31 * 3600_000))
    expect(s.sources.every((x) => x.state === 'stale')).toBe(true)
    // Only one: rewrite the snapshot list so beta's snapshot is 2 days old.
    const file = path.join(fx.stateDir, 'snapshots.json')
    const original = await fs.readFile(file, 'utf8')
    const list = JSON.parse(original)
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString()
    for (const m of list) if (m.source.path === fx.sources[1]) Object.assign(m, {endTime: old, startTime: old})
    await fs.writeFile(file, JSON.stringify(list))
    const one = await status()
    await fs.writeFile(file, original)
    expect(one.sources.map((x) => x.state)).toEqual(['ok', 'stale', 'ok', 'ok'])
    expect(one.problems).toEqual([expect.stringMatching(new RegExp(`^${fx.sources[1]}: newest snapshot is 2d 0h old \\(stale after 1d 6h\\)`))])
    expect(one.ok).toBe(false)
  })

  it('a source never backed up, and a folder under the storage root that is no source', async () => {
    const homelab = await loadHomelab({cwd: fx.repo})
    const settings = await loadBackupSettings(homelab)
    settings.sources = [...settings.sources, path.join(fx.storageRoot, 'delta')]
    await fs.mkdir(path.join(fx.storageRoot, 'stray'))
    const s = await readBackupStatus({connection: host, homelab, settings})
    await fs.rmdir(path.join(fx.storageRoot, 'stray'))
    expect(s.sources.map((x) => [path.basename(x.path), x.state])).toEqual([
      ['alpha', 'ok'],
      ['beta', 'ok'],
      ['gamma', 'ok'],
      ['etc-nixos', 'ok'],
      ['delta', 'never'],
      ['stray', 'uncovered'],
    ])
    expect(s.problems).toEqual([
      `${path.join(fx.storageRoot, 'delta')}: never backed up`,
      expect.stringContaining(`${path.join(fx.storageRoot, 'stray')}: under the storage root ${fx.storageRoot} but no backup source`),
    ])
  })

  it('a failed source (failed entries) and a failed sync with its OnFailure mark', async () => {
    await fs.writeFile(path.join(units.kopiaStandInDir, 'fail-create'), `${fx.sources[2]}\n`)
    await fs.writeFile(path.join(units.kopiaStandInDir, 'fail-sync'), 'Access Denied: the R2 token lacks write permission\n')
    expect((await host.sudo('systemctl start kopia-backup.service')).exitCode).toBe(1)
    expect((await host.sudo('systemctl start kopia-r2-sync.service')).exitCode).toBe(1)
    await fs.rm(path.join(units.kopiaStandInDir, 'fail-create'))
    await fs.rm(path.join(units.kopiaStandInDir, 'fail-sync'))
    const s = await status()
    expect(s.sources.map((x) => x.state)).toEqual(['ok', 'ok', 'failed', 'ok'])
    expect(s.sources[2].problems[0]).toContain('last run failed: ERROR Found 1 fatal error(s)')
    expect(s.sync.state).toBe('failed')
    expect(s.sync.error).toContain('Access Denied')
    expect(s.lastRun?.result).toBe('partial')
    const marks = await fs.readdir(path.join(fx.stateDir, 'failures'))
    expect(marks.sort()).toEqual(['kopia-backup.json', 'kopia-r2-sync.json'])
    expect(s.ok).toBe(false)
  })

  it('a source-only run replaces that source and keeps the others', async () => {
    const escaped = systemdEscapePath(fx.sources[2])
    const r = await host.sudo(`systemctl start 'kopia-backup-source@${escaped}.service'`)
    expect(r.exitCode, r.stderr).toBe(0)
    const s = await status()
    expect(s.sources.map((x) => x.state)).toEqual(['ok', 'ok', 'ok', 'ok'])
    expect(s.sync.state).toBe('failed')
  })
})

describe('evaluateBackupStatus', () => {
  it('an unreadable status file is a problem, a missing snapshot list means never', async () => {
    const fx = await makeBackupFixture({createFolders: false})
    try {
      await fs.writeFile(path.join(fx.stateDir, 'last-sync.json'), '{"version": 1, "start": "x"')
      const host = localHost()
      const settings = await loadBackupSettings(await loadHomelab({cwd: fx.repo}))
      const state = await readHostBackupState({connection: host, stateDir: fx.stateDir, storageRoot: fx.storageRoot})
      expect(state.storageRootExists).toBe(false)
      const s = evaluateBackupStatus(state, settings, new Date())
      expect(s.problems[0]).toMatch(/last-sync.json: not JSON/)
      expect(s.sources.every((x) => x.state === 'never')).toBe(true)
    } finally {
      await fx.remove()
    }
  })
})
