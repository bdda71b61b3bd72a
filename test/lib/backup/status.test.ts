import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {evaluateBackupStatus, type HostBackupState, loadBackupSettings, readBackupStatus, readHostBackupState, systemdEscapePath} from '../../../src/lib/backup/index.js'
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

// Restore drills (last-drill.json) in the judged status: a failed drill is a problem (exit 1), a
// stale or missing one a warning only. Pure: a synthetic host state, the fixture's settings.
describe('evaluateBackupStatus: restore drills', () => {
  const now = new Date('2026-03-15T12:00:00Z')
  const ago = (hours: number) => new Date(now.getTime() - hours * 3600_000).toISOString()
  let fx: BackupFixture
  let settings: Awaited<ReturnType<typeof loadBackupSettings>>

  beforeAll(async () => {
    fx = await makeBackupFixture({createFolders: false})
    settings = await loadBackupSettings(await loadHomelab({cwd: fx.repo}))
  })
  afterAll(async () => fx?.remove())

  const manifest = (source: string) => ({
    endTime: ago(2),
    id: `id-${path.basename(source)}`,
    rootEntry: {name: 'x', obj: 'kabc', summ: {files: 2, numFailed: 0, size: 10}, type: 'd'},
    source: {host: 'h', path: source, userName: 'root'},
    startTime: ago(2),
  })
  const drilled = (source: string, hoursAgo: number, error: string | null = null) => ({
    checks: {
      files: {changedSince: 0, compared: 2, firstFailure: null, mismatched: 0},
      postgres: {checked: 0, failed: 0, firstFailure: null},
      restore: {error: null, ok: true},
      sqlite: {checked: 1, failed: error ? 1 : 0, firstFailure: error},
    },
    durationMs: 4200,
    end: ago(hoursAgo),
    error,
    path: source,
    restore: {bytes: 10, files: 2},
    result: error ? ('failed' as const) : ('ok' as const),
    snapshotId: `id-${path.basename(source)}`,
    snapshotTime: ago(hoursAgo + 1),
    start: ago(hoursAgo),
  })
  const state = (drills: ReturnType<typeof drilled>[], failures: {unit: string; time: string}[] = []): HostBackupState => ({
    failures: failures.map((f) => ({...f, version: 1 as const})),
    lastDrill: drills.length === 0 ? undefined : {end: drills.map((d) => d.end).sort().at(-1)!, result: drills.some((d) => d.error) ? 'failed' : 'ok', sources: drills, start: ago(300), version: 1},
    lastRun: undefined,
    lastSync: {bucket: 'b', end: ago(1), endpoint: 'e', error: null, exitCode: 0, prefix: 'p/', result: 'success', start: ago(1), version: 1},
    snapshots: settings.sources.map((s) => manifest(s)) as HostBackupState['snapshots'],
    storageFolders: [],
    storageRootExists: false,
    timers: {'homelab-backup-drill.timer': {last: undefined, next: now.getTime() + 86_400_000}},
    unreadable: [],
  })

  it('never drilled: every source and the overall drill "never", warnings only, status ok', () => {
    const s = evaluateBackupStatus(state([]), settings, now)
    expect(s.ok).toBe(true)
    expect(s.problems).toEqual([])
    expect(s.sources.map((x) => x.drill?.state)).toEqual(['never', 'never', 'never', 'never'])
    expect(s.drill).toMatchObject({end: null, result: null, schedule: 'Sun *-*-* 04:00:00', state: 'never', staleAfterSeconds: settings.drillStaleAfterSeconds})
    expect(s.warnings).toEqual(settings.sources.map((p) => `${p}: never restore-drilled; run \`homelab backup drill\``))
    expect(s.timers.drill.next).toBe(new Date(now.getTime() + 86_400_000).toISOString())
  })

  it('all drilled within the period + grace: ok, with time, age, duration and snapshot per source', () => {
    const s = evaluateBackupStatus(state(settings.sources.map((p) => drilled(p, 30))), settings, now)
    expect(s.ok).toBe(true)
    expect(s.warnings).toEqual([])
    expect(s.drill.state).toBe('ok')
    expect(s.sources[0].drill).toEqual({ageSeconds: 30 * 3600, durationMs: 4200, error: null, result: 'ok', snapshotId: 'id-alpha', state: 'ok', time: ago(30)})
  })

  it('a drill older than the drill period + grace is stale: a warning naming the age, exit code unaffected', () => {
    const staleHours = settings.drillStaleAfterSeconds / 3600 + 1
    const drills = settings.sources.map((p, i) => drilled(p, i === 1 ? staleHours : 30))
    const s = evaluateBackupStatus(state(drills), settings, now)
    expect(s.sources.map((x) => x.drill?.state)).toEqual(['ok', 'stale', 'ok', 'ok'])
    expect(s.drill.state).toBe('stale')
    expect(s.ok).toBe(true)
    expect(s.warnings).toEqual([expect.stringMatching(new RegExp(`^${settings.sources[1]}: last restore drill 7d \\d+h ago \\(stale after 7d \\d+h\\)`))])
    // Just inside the limit it is still ok.
    const fresh = evaluateBackupStatus(state(settings.sources.map((p) => drilled(p, staleHours - 2))), settings, now)
    expect(fresh.drill.state).toBe('ok')
  })

  it('a failed drill is a problem (status not ok) with its first failure; the snapshot state is unaffected', () => {
    const error = 'sqlite dump .homelab-backup/sqlite/db.sqlite3: integrity_check: database disk image is malformed'
    const drills = settings.sources.map((p, i) => drilled(p, 30, i === 2 ? error : null))
    const s = evaluateBackupStatus(state(drills), settings, now)
    expect(s.ok).toBe(false)
    expect(s.drill.state).toBe('failed')
    expect(s.sources[2]).toMatchObject({drill: {error, result: 'failed', state: 'failed'}, state: 'ok'})
    expect(s.problems).toEqual([`${settings.sources[2]}: restore drill failed at ${ago(30)}: ${error}`])
    // An old failed drill stays failed (not merely stale) until a drill passes.
    const old = evaluateBackupStatus(state(settings.sources.map((p, i) => drilled(p, i === 2 ? 500 : 30, i === 2 ? error : null))), settings, now)
    expect(old.sources[2].drill?.state).toBe('failed')
  })

  it('a drill unit that failed without writing last-drill.json is a problem; its own failure mark right after the file is not', () => {
    const drills = settings.sources.map((p) => drilled(p, 30))
    const crashed = evaluateBackupStatus(state(drills, [{time: ago(2), unit: 'homelab-backup-drill'}]), settings, now)
    expect(crashed.ok).toBe(false)
    expect(crashed.drill.state).toBe('failed')
    expect(crashed.problems).toEqual([`homelab-backup-drill.service failed at ${ago(2)} without writing its status; see journalctl -u homelab-backup-drill`])
    const sameRun = evaluateBackupStatus(state(drills, [{time: new Date(Date.parse(ago(30)) + 1000).toISOString(), unit: 'homelab-backup-drill'}]), settings, now)
    expect(sameRun.problems).toEqual([])
  })

  it('an uncovered folder has no drill and does not count towards the overall drill state', () => {
    const st = {...state(settings.sources.map((p) => drilled(p, 30))), storageFolders: [path.join(fx.storageRoot, 'stray')], storageRootExists: true}
    const s = evaluateBackupStatus(st, settings, now)
    expect(s.sources.at(-1)).toMatchObject({drill: null, state: 'uncovered'})
    expect(s.drill.state).toBe('ok')
  })
})
