// `homelab backup status|run|sync|verify` end to end on the e2e test host (real sshd, real sudo):
// the real scripts/kopia-backup.sh and kopia-r2-sync.sh run as the units nixos/backup.nix
// declares, started by the systemctl stand-in and followed by the journalctl stand-in, against the
// stand-in kopia; the CLI reads what they wrote over SSH.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type BackupFixture, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {type BackupUnits, installBackupUnits} from '../helpers/backup-units.js'
import {runCli} from '../helpers/cli.js'
import {type S3TestServer, startS3Server} from '../helpers/s3-server.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo
let fx: BackupFixture
let units: BackupUnits
let env: Record<string, string | undefined>
// R2 is the loopback S3 server: the stand-in kopia and the sync script copy blobs for real.
let s3: S3TestServer

beforeAll(async () => {
  await requireTools(['jq', 'flock', 'shuf', 'rclone'])
  s3 = await startS3Server(['azalab-kopia'])
  host = await startTestHost({standIns: ['kopia', 'systemctl', 'journalctl']})
  repo = await host.homelabRepo({nixos: false})
  const base = path.join(host.hostRoot, 'backup')
  await fs.mkdir(base, {mode: 0o755})
  fx = await makeBackupFixture({hostDir: base, into: repo.dir})
  units = await installBackupUnits({binDir: host.binDir, hostDir: fx.hostDir, offsite: s3, repo: repo.dir, sources: fx.sources})
  env = {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}
})
afterAll(async () => {
  await host?.stop()
  await s3?.stop()
})

const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, {cwd: repo.dir, env: {...env, ...extra}})
const json = (stdout: unknown) => JSON.parse(String(stdout))
const states = (status: {sources: {path: string; state: string}[]}) => status.sources.map((s) => [path.basename(s.path), s.state])

describe('homelab backup on the e2e host', () => {
  it('status before any run: every source never backed up, sync never ran, exit 1', async () => {
    const r = await cli(['backup', 'status', '--json'])
    expect(r.exitCode, String(r.stderr)).toBe(1)
    const s = json(r.stdout)
    expect(s.host).toBe('testhost')
    expect(states(s)).toEqual([
      ['alpha', 'never'],
      ['beta', 'never'],
      ['gamma', 'never'],
      ['etc-nixos', 'never'],
    ])
    expect(s.sync.state).toBe('never')
    expect(s.timers.backup.next).toMatch(/:30:00.000Z$/)
  })

  it('run: starts kopia-backup with sudo, streams the journal live, prints the new snapshots', async () => {
    const r = await cli(['backup', 'run'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    const out = String(r.stdout)
    expect(out).toContain('starting kopia-backup.service on testhost')
    expect(out).toContain(`│ kopia-backup: snapshot of ${fx.sources[0]}`)
    expect(out).toContain('│ kopia-backup: done: success (0 of 4 sources failed)')
    expect(out).toMatch(/kopia-backup.service succeeded/)
    expect(out).toMatch(/SOURCE +SNAPSHOT +SIZE +FILES +ERRORS +RESULT/)
    for (const source of fx.sources) expect(out).toMatch(new RegExp(`${source} +[0-9a-f]{32} +1\\.\\d KiB +2 +0 +ok`))
    // The journal came before the summary (streamed while the unit ran, not after).
    expect(out.indexOf('│ kopia-backup: done')).toBeLessThan(out.indexOf('succeeded'))
    // Secrets never reach argv or output.
    expect(out + String(r.stderr)).not.toContain(units.kopiaPassword)
  })

  it('run --source --json: one snapshot; an unknown source is a usage error (exit 3)', async () => {
    const r = await cli(['backup', 'run', '--source', fx.sources[1], '--json'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    const result = json(r.stdout)
    expect(result).toMatchObject({exitCode: 0, result: 'success', sync: null, unit: expect.stringMatching(/^kopia-backup-source@.*beta\.service$/)})
    expect(result.snapshots.map((s: {path: string}) => s.path)).toEqual([fx.sources[1]])
    expect(result.snapshots[0]).toMatchObject({errors: 0, files: 2, snapshotId: expect.stringMatching(/^[0-9a-f]{32}$/)})
    expect(String(r.stderr)).toContain('kopia-backup: snapshot of')
    const bad = await cli(['backup', 'run', '--source', '/srv/nowhere'])
    expect(bad.exitCode).toBe(3)
    expect(String(bad.stderr)).toContain('--source /srv/nowhere: not a backup source of nixos/storage.json')
  })

  it('sync: kopia-r2-sync runs and its result is printed', async () => {
    const r = await cli(['backup', 'sync'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    expect(String(r.stdout)).toContain('│ Synchronizing repositories:')
    expect(String(r.stdout)).toContain(`R2 sync success to s3://azalab-kopia/kopia/ at ${s3.endpoint}`)
    expect(await s3.get('azalab-kopia', 'homelab/offsite-protection.json')).not.toBeNull()
  })

  it('status: all fresh, exit 0, one line per source, sync and next runs', async () => {
    const r = await cli(['backup', 'status'])
    expect(r.exitCode, String(r.stdout)).toBe(0)
    const out = String(r.stdout)
    for (const source of fx.sources) expect(out).toMatch(new RegExp(`${source} +ok +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +\\d+s +1\\.\\d KiB +2 +0`))
    expect(out).toMatch(/R2 sync +ok, last success .* → s3:\/\/azalab-kopia\/kopia\//)
    expect(out).toMatch(/Next runs +kopia-backup \d{4}-.* \(in .*\); kopia-r2-sync \d{4}-/)
    expect(out).toContain('✓ every source is backed up and synced off-site')
    const s = json((await cli(['backup', 'status', '--json'])).stdout)
    expect(s.ok).toBe(true)
    expect(Object.keys(s).sort()).toEqual(
      ['checkedAt', 'drill', 'graceHours', 'host', 'hosts', 'lastRun', 'ok', 'problems', 'schedule', 'schemaVersion', 'sources', 'staleAfterSeconds', 'sync', 'syncEveryHours', 'timers', 'warnings'].sort(),
    )
    // One host: its sources carry its name, and `hosts` holds the same report under it.
    expect(s.sources.every((x: {host: string}) => x.host === 'testhost')).toBe(true)
    expect(s.hosts).toEqual([{error: null, name: 'testhost', role: 'server', ssh: host.alias, status: expect.objectContaining({ok: true, sources: s.sources, sync: s.sync})}])
    expect(s.sources[0].lastSnapshot).toMatchObject({errors: 0, files: 2, id: expect.any(String), size: expect.any(Number)})
  })

  it('one source stale: exit 1, that source stale, the others ok', async () => {
    const file = path.join(fx.stateDir, 'snapshots.json')
    const original = await fs.readFile(file, 'utf8')
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString()
    const list = JSON.parse(original).map((m: {source: {path: string}}) => (m.source.path === fx.sources[2] ? {...m, endTime: old, startTime: old} : m))
    await fs.writeFile(file, JSON.stringify(list))
    try {
      const r = await cli(['backup', 'status', '--json'])
      expect(r.exitCode).toBe(1)
      const s = json(r.stdout)
      expect(states(s)).toEqual([
        ['alpha', 'ok'],
        ['beta', 'ok'],
        ['gamma', 'stale'],
        ['etc-nixos', 'ok'],
      ])
      expect(s.problems).toEqual([expect.stringContaining(`${fx.sources[2]}: newest snapshot is 3d 0h old`)])
      const text = await cli(['backup', 'status'])
      const lines = String(text.stdout).split('\n')
      expect(lines[0]).toBe(`testhost (${host.alias})`) // the host's heading (backup status groups by host)
      expect(lines[2]).toMatch(new RegExp(`^${fx.sources[2]} +stale`)) // failures first
    } finally {
      await fs.writeFile(file, original)
    }
  })

  it('one source never backed up and one folder not covered: exit 1, named', async () => {
    const storageFile = path.join(repo.dir, 'nixos/storage.json')
    const original = await fs.readFile(storageFile, 'utf8')
    const storage = JSON.parse(original)
    storage.apps.push({gid: 0, mode: '0750', name: 'delta', path: path.join(fx.storageRoot, 'delta'), uid: 0})
    await fs.writeFile(storageFile, JSON.stringify(storage))
    await fs.mkdir(path.join(fx.storageRoot, 'stray'))
    try {
      const r = await cli(['backup', 'status'])
      expect(r.exitCode).toBe(1)
      const out = String(r.stdout)
      expect(out).toMatch(new RegExp(`${fx.storageRoot}/delta +never`))
      expect(out).toMatch(new RegExp(`${fx.storageRoot}/stray +uncovered`))
      expect(out).toContain(`- ${fx.storageRoot}/delta: never backed up`)
      expect(out).toContain(`- ${fx.storageRoot}/stray: under the storage root ${fx.storageRoot} but no backup source`)
    } finally {
      await fs.writeFile(storageFile, original)
      await fs.rmdir(path.join(fx.storageRoot, 'stray'))
    }
  })

  it('a failed sync: sync exits 1 with kopia\'s error; status shows it and exits 1', async () => {
    await fs.writeFile(path.join(units.kopiaStandInDir, 'fail-sync'), 'The AWS Access Key Id you provided does not exist in our records.\n')
    try {
      const r = await cli(['backup', 'sync'])
      expect(r.exitCode).toBe(1)
      expect(String(r.stdout)).toContain('kopia-r2-sync.service failed')
      expect(String(r.stdout)).toContain('R2 sync failed to s3://azalab-kopia/kopia/')
      expect(String(r.stdout)).toContain('Access Key Id you provided does not exist')
      const s = await cli(['backup', 'status', '--json'])
      expect(s.exitCode).toBe(1)
      const status = json(s.stdout)
      expect(status.sync).toMatchObject({result: 'failed', state: 'failed'})
      expect(status.sources.every((x: {state: string}) => x.state === 'ok')).toBe(true)
    } finally {
      await fs.rm(path.join(units.kopiaStandInDir, 'fail-sync'))
    }

    expect((await cli(['backup', 'sync', '--json'])).exitCode).toBe(0)
  })

  it('verify: kopia verify per source and a test restore compared by hash; a corrupt snapshot is found', async () => {
    const r = await cli(['backup', 'verify', '--percent', '50', '--json'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    const report = json(r.stdout)
    expect(report).toMatchObject({ok: true, percent: 50, problems: []})
    for (const s of report.sources) {
      expect(s.verify).toMatchObject({errorCount: 0, expectedFiles: expect.any(Number)})
      expect(s.restore).toMatchObject({state: 'match', sha256: expect.stringMatching(/^[0-9a-f]{64}$/)})
      expect(['top.bin', 'data/file.txt']).toContain(s.restore.file)
    }

    // Corrupt what the stand-in kopia would restore for gamma's newest snapshot.
    const list = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8'))
    const gamma = list.filter((m: {source: {path: string}}) => m.source.path === fx.sources[2]).at(-1)
    const stored = path.join(units.kopiaStandInDir, 'snapshots', gamma.rootEntry.obj)
    await fs.writeFile(path.join(stored, 'top.bin'), 'bit rot')
    await fs.writeFile(path.join(stored, 'data/file.txt'), 'bit rot')
    const bad = await cli(['backup', 'verify'])
    expect(bad.exitCode).toBe(1)
    expect(String(bad.stdout)).toMatch(new RegExp(`${fx.sources[2]} +failed .*mismatch`))
    expect(String(bad.stdout)).toMatch(/test restore of (top\.bin|data\/file\.txt) mismatch: restored sha256 [0-9a-f]{64} differs/)
  })
})

describe('homelab backup: errors', () => {
  it('a unit that is not installed is one clear error (host not deployed with backup.nix)', async () => {
    const unitFile = path.join(units.systemdDir, 'units/kopia-r2-sync.service')
    const saved = await fs.readFile(unitFile, 'utf8')
    await fs.rm(unitFile)
    try {
      const r = await cli(['backup', 'sync'])
      expect(r.exitCode).toBe(1)
      expect(String(r.stderr)).toContain('kopia-r2-sync.service is not installed on the host')
    } finally {
      await fs.writeFile(unitFile, saved)
    }
  })

  it('run without HOMELAB_SUDO_PASSWORD fails at once naming it (exit 3), never waits on a prompt', async () => {
    const r = await cli(['backup', 'run'], {HOMELAB_SUDO_PASSWORD: undefined})
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain('set HOMELAB_SUDO_PASSWORD when not running in a terminal')
  })
})
