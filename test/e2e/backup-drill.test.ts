// `homelab backup drill` and the drill in `homelab backup status`, end to end on the e2e test host
// (real sshd, real sudo, real sqlite3 and pg_restore on the host): the real
// scripts/homelab-backup-drill.sh runs as the units nixos/backup.nix declares, started by the
// systemctl stand-in and followed by the journalctl stand-in, against the stand-in kopia whose
// snapshots the real kopia-backup.sh took.
import {execa} from 'execa'
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
let s3: S3TestServer

const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, {cwd: repo.dir, env: {...env, ...extra}})
const json = (stdout: unknown) => JSON.parse(String(stdout))
const drills = (status: {sources: {path: string; drill: {state: string} | null}[]}) => status.sources.map((s) => [path.basename(s.path), s.drill?.state])

beforeAll(async () => {
  await requireTools(['jq', 'flock', 'shuf', 'sqlite3', 'pg_restore'])
  host = await startTestHost({standIns: ['kopia', 'systemctl', 'journalctl']})
  repo = await host.homelabRepo({nixos: false})
  const base = path.join(host.hostRoot, 'backup')
  await fs.mkdir(base, {mode: 0o755})
  fx = await makeBackupFixture({hostDir: base, into: repo.dir})
  // The R2 sync copies for real (stand-in kopia + real rclone) into a loopback S3 server.
  s3 = await startS3Server(['azalab-kopia'])
  units = await installBackupUnits({binDir: host.binDir, hostDir: fx.hostDir, offsite: s3, repo: repo.dir, sources: fx.sources})
  env = {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}
  // alpha has a SQLite dump where the capture leaves it.
  await fs.mkdir(path.join(fx.sources[0], '.homelab-backup/sqlite'), {recursive: true})
  await execa('sqlite3', [path.join(fx.sources[0], '.homelab-backup/sqlite/app.db'), "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x'), ('y');"])
  expect((await cli(['backup', 'run'])).exitCode).toBe(0)
  expect((await cli(['backup', 'sync'])).exitCode).toBe(0)
}, 300_000)
afterAll(async () => {
  await host?.stop()
  await s3?.stop()
})

describe('homelab backup drill on the e2e host', () => {
  it('status before any drill: every source "never", warnings only, exit 0', async () => {
    const r = await cli(['backup', 'status', '--json'])
    expect(r.exitCode, String(r.stdout)).toBe(0)
    const s = json(r.stdout)
    expect(drills(s)).toEqual([
      ['alpha', 'never'],
      ['beta', 'never'],
      ['gamma', 'never'],
      ['etc-nixos', 'never'],
    ])
    expect(s.drill).toMatchObject({schedule: 'Sun *-*-* 04:00:00', state: 'never'})
    expect(s.warnings).toHaveLength(4)
    // The timer's next run: Sunday 04:00 (the systemctl stand-in reads the unit's OnCalendar).
    expect(s.timers.drill.next).toMatch(/T04:00:00.000Z$/)
    expect(new Date(s.timers.drill.next).getUTCDay()).toBe(0)
    const text = await cli(['backup', 'status'])
    expect(String(text.stdout)).toContain('! 4 warnings (exit code unaffected):')
    expect(String(text.stdout)).toContain(`- ${fx.sources[0]}: never restore-drilled; run \`homelab backup drill\``)
  }, 180_000)

  it('drill: starts homelab-backup-drill with sudo, streams the journal, prints one row per source', async () => {
    const r = await cli(['backup', 'drill'])
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const out = String(r.stdout)
    expect(out).toContain('starting homelab-backup-drill.service on testhost')
    expect(out).toContain(`│ homelab-backup-drill: ${fx.sources[0]}: sqlite: 1 of 1 dumps pass PRAGMA integrity_check`)
    expect(out).toContain('│ homelab-backup-drill: done: ok (0 of 4 sources failed)')
    expect(out).toMatch(/restore drill passed/)
    expect(out).toMatch(/SOURCE +SNAPSHOT +RESULT +RESTORED +SQLITE +POSTGRES +FILES +TOOK/)
    expect(out).toMatch(new RegExp(`${fx.sources[0]} +[0-9a-f]{32} +ok +3 files, \\d+\\.\\d KiB +1 ok +- +3 match \\(0 changed since\\)`))
    for (const source of fx.sources.slice(1)) expect(out).toMatch(new RegExp(`${source} +[0-9a-f]{32} +ok +2 files, 1\\.\\d KiB +- +- +2 match`))
    expect(out.indexOf('│ homelab-backup-drill: done')).toBeLessThan(out.indexOf('restore drill passed'))
    expect(out + String(r.stderr)).not.toContain(units.kopiaPassword)
  }, 180_000)

  it('drill APP --json: one templated unit, that source only, journal on stderr', async () => {
    const r = await cli(['backup', 'drill', 'beta', '--json'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    const result = json(r.stdout)
    expect(result).toMatchObject({problems: [], result: 'ok'})
    expect(result.units).toEqual([{execMainStatus: 0, exitCode: 0, result: 'success', unit: expect.stringMatching(/^homelab-backup-drill@.*beta\.service$/)}])
    expect(result.sources.map((s: {path: string}) => s.path)).toEqual([fx.sources[1]])
    expect(result.sources[0]).toMatchObject({checks: {files: {compared: 2, mismatched: 0}, restore: {ok: true}}, result: 'ok', snapshotId: expect.stringMatching(/^[0-9a-f]{32}$/)})
    expect(String(r.stderr)).toContain('homelab-backup-drill: done: ok (0 of 1 sources failed)')
  }, 180_000)

  it('status after the drill: drill ok per source with time and duration, no warnings', async () => {
    const r = await cli(['backup', 'status', '--json'])
    expect(r.exitCode, String(r.stdout)).toBe(0)
    const s = json(r.stdout)
    expect(drills(s)).toEqual([
      ['alpha', 'ok'],
      ['beta', 'ok'],
      ['gamma', 'ok'],
      ['etc-nixos', 'ok'],
    ])
    expect(s.warnings).toEqual([])
    expect(s.drill).toMatchObject({result: 'ok', state: 'ok'})
    expect(s.sources[0].drill).toMatchObject({durationMs: expect.any(Number), result: 'ok', snapshotId: expect.stringMatching(/^[0-9a-f]{32}$/), time: expect.any(String)})
    const text = String((await cli(['backup', 'status'])).stdout)
    expect(text).toMatch(new RegExp(`${fx.sources[0]} +ok .* ok \\d+s ago \\(\\d+s\\)`))
    expect(text).toMatch(/Drills +ok, last .* Sun \*-\*-\* 04:00:00 \(stale after 7d \d+h\)/)
  }, 180_000)

  it('time passes: a drill older than the drill period + grace is stale, a warning, exit 0', async () => {
    const file = path.join(fx.stateDir, 'last-drill.json')
    const original = await fs.readFile(file, 'utf8')
    const old = new Date(Date.now() - 9 * 86_400_000).toISOString()
    const backdated = JSON.parse(original)
    backdated.end = old
    for (const s of backdated.sources) Object.assign(s, {end: old, start: old})
    await fs.writeFile(file, JSON.stringify(backdated))
    try {
      const r = await cli(['backup', 'status', '--json'])
      expect(r.exitCode).toBe(0)
      const s = json(r.stdout)
      expect(drills(s).map(([, state]) => state)).toEqual(['stale', 'stale', 'stale', 'stale'])
      expect(s.drill.state).toBe('stale')
      expect(s.warnings[0]).toMatch(new RegExp(`^${fx.sources[0]}: last restore drill 9d 0h ago \\(stale after 7d \\d+h\\)`))
      expect(s.problems).toEqual([])
    } finally {
      await fs.writeFile(file, original)
    }
  }, 180_000)

  it('a restored file differing from its unchanged live copy: drill exits 1 naming it; status exits 1', async () => {
    const list = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8'))
    const gamma = list.filter((m: {source: {path: string}}) => m.source.path === fx.sources[2]).at(-1)
    await fs.writeFile(path.join(units.kopiaStandInDir, 'snapshots', gamma.rootEntry.obj, 'data/file.txt'), 'bit rot')
    const r = await cli(['backup', 'drill', fx.sources[2]])
    expect(r.exitCode).toBe(1)
    const out = String(r.stdout)
    expect(out).toContain('restore drill failed')
    expect(out).toMatch(new RegExp(`${fx.sources[2]} +[0-9a-f]{32} +failed .*1 of 2 differ`))
    expect(out).toMatch(new RegExp(`- ${fx.sources[2]}: file data/file.txt: restored sha256 [0-9a-f]{64} differs from the live file's [0-9a-f]{64}`))
    const s = await cli(['backup', 'status', '--json'])
    expect(s.exitCode).toBe(1)
    const status = json(s.stdout)
    expect(drills(status)).toEqual([
      ['alpha', 'ok'],
      ['beta', 'ok'],
      ['gamma', 'failed'],
      ['etc-nixos', 'ok'],
    ])
    expect(status.problems).toEqual([expect.stringContaining(`${fx.sources[2]}: restore drill failed at `)])
    // The snapshot itself is fresh: only the drill says something is wrong.
    expect(status.sources[2].state).toBe('ok')
  }, 180_000)
})
