// scripts/homelab-backup-drill.sh against the stand-in kopia (snapshots taken by the real
// kopia-backup.sh), with real sqlite3 and real pg_dump/pg_restore on real dump files: what a
// drill passes, what it fails on (with which line), and what it does not count as a failure.
import {execa, type ResultPromise} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadBackupSettings} from '../../src/lib/backup/index.js'
import {loadHomelab} from '../../src/lib/config/load.js'
import {type BackupFixture, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {evalBackupModule, installBackupStandIns} from '../helpers/backup-units.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const DRILL = path.join(REPO_ROOT, 'scripts/homelab-backup-drill.sh')

interface DrillSource {
  path: string
  snapshotId: string | null
  snapshotTime: string | null
  result: 'ok' | 'failed'
  error: string | null
  durationMs: number
  restore: {files: number | null; bytes: number | null}
  checks: {
    restore: {ok: boolean; error: string | null}
    sqlite: {checked: number; failed: number; firstFailure: string | null}
    postgres: {checked: number; failed: number; firstFailure: string | null}
    files: {compared: number; mismatched: number; changedSince: number; firstFailure: string | null}
  }
}

describe('the drill units in nixos/backup.nix and backup.json', () => {
  it('homelab-backup-drill(.timer, @) run the script with the backup environment, sqlite and postgresql on PATH, weekly by default', async () => {
    await requireTools(['nix-instantiate'])
    const module = await evalBackupModule(REPO_ROOT)
    const {services, timers} = module.config.systemd
    const drill = services['homelab-backup-drill'] as (typeof services)[string] & {path: string[]}
    expect(drill.serviceConfig.ExecStart).toMatch(/^\/nix\/store\/\w+-bash\/bin\/bash \/nix\/store\/\w+-homelab-backup-drill.sh$/)
    expect(services['homelab-backup-drill@'].serviceConfig.ExecStart).toMatch(/homelab-backup-drill.sh %f$/)
    expect(drill.serviceConfig.EnvironmentFile).toBe('/run/secrets/rendered/kopia-backup.env')
    expect(drill.serviceConfig.SuccessExitStatus).toBe('75')
    expect(drill.onFailure).toEqual(['homelab-backup-failed@%p.service'])
    // The same environment as kopia-backup (repository, sources, state folder), plus the scratch root.
    expect(drill.environment).toEqual({...services['kopia-backup'].environment, HOMELAB_DRILL_SCRATCH: '/var/cache/homelab-drill'})
    expect(drill.path.map((p) => p.replace(/^\/nix\/store\/0+-/, ''))).toEqual(expect.arrayContaining(['kopia', 'jq', 'coreutils', 'findutils', 'util-linux', 'sqlite', 'postgresql']))
    expect(timers['homelab-backup-drill']).toMatchObject({timerConfig: {OnCalendar: 'Sun *-*-* 04:00:00', Persistent: true}, wantedBy: ['timers.target']})
  })

  it('drillSchedule: Nix and the CLI read the same value; a backup.json without it gets the weekly default', async () => {
    await requireTools(['nix-instantiate'])
    const r = await execa('nix-instantiate', ['--eval', '--strict', '--json', '-E', `import ${path.join(REPO_ROOT, 'nixos/backup-settings.nix')} {}`])
    const cli = await loadBackupSettings(await loadHomelab({cwd: REPO_ROOT}))
    expect(JSON.parse(r.stdout).drillSchedule).toBe(cli.drillSchedule)
    expect(cli.drillSchedule).toBe('Sun *-*-* 04:00:00')
    expect(cli.drillPeriodSeconds).toBe(7 * 86_400)
    expect(cli.drillStaleAfterSeconds).toBe(7 * 86_400 + cli.graceHours * 3600)

    const fx = await makeBackupFixture({createFolders: false})
    try {
      const file = path.join(fx.repo, 'nixos/backup.json')
      const {drillSchedule: _dropped, ...older} = JSON.parse(await fs.readFile(file, 'utf8'))
      await fs.writeFile(file, JSON.stringify(older))
      expect((await loadBackupSettings(await loadHomelab({cwd: fx.repo}))).drillSchedule).toBe('Sun *-*-* 04:00:00')
      const nix = await execa('nix-instantiate', ['--eval', '--strict', '--json', '-E', `import ${path.join(REPO_ROOT, 'nixos/backup-settings.nix')} {backupFile = ${file}; storageFile = ${path.join(fx.repo, 'nixos/storage.json')};}`])
      expect(JSON.parse(nix.stdout).drillSchedule).toBe('Sun *-*-* 04:00:00')
    } finally {
      await fx.remove()
    }
  })
})

describe('homelab-backup-drill.sh against the stand-in kopia, real sqlite3 and pg_restore', () => {
  let fx: BackupFixture
  let pg: TestPostgres
  let env: Record<string, string>
  let kopiaState: string
  let scratch: string
  // alpha: two SQLite dumps; beta: a PostgreSQL dump; gamma and etc-nixos: files only.
  let alpha: string
  let beta: string
  let gamma: string

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'shuf', 'sqlite3', 'pg_restore'])
    fx = await makeBackupFixture()
    ;[alpha, beta, gamma] = fx.sources
    const binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    kopiaState = path.join(fx.hostDir, 'kopia', 'kopia-standin')
    scratch = path.join(fx.hostDir, 'drill-scratch')
    await fs.mkdir(kopiaState, {recursive: true})
    await fs.writeFile(path.join(fx.hostDir, 'sources'), fx.sources.join('\n') + '\n')
    env = {
      HOMELAB_BACKUP_SOURCES: path.join(fx.hostDir, 'sources'),
      HOMELAB_BACKUP_STATE_DIR: fx.stateDir,
      HOMELAB_STORAGE_FILE: path.join(fx.repo, 'nixos/storage.json'),
      HOMELAB_DRILL_SCRATCH: scratch,
      KOPIA_CONFIG_PATH: path.join(fx.hostDir, 'kopia', 'repository.config'),
      KOPIA_PASSWORD: 'correct horse $battery',
      KOPIA_REPOSITORY_PATH: path.join(fx.hostDir, 'repository'),
      PATH: `${binDir}:${process.env.PATH}`,
    }

    // Real SQLite databases where the capture leaves its online-backup copies.
    const sqliteDir = path.join(alpha, '.homelab-backup/sqlite')
    await fs.mkdir(path.join(sqliteDir, 'data'), {recursive: true})
    const rows = Array.from({length: 400}, (_, i) => `(${i}, '${'row'.repeat(20)} ${i}')`).join(',')
    await execa('sqlite3', [path.join(sqliteDir, 'db.sqlite3'), `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES ${rows}; CREATE INDEX t_v ON t (v);`])
    await execa('sqlite3', [path.join(sqliteDir, 'data/nested.db'), 'CREATE TABLE k (name TEXT); INSERT INTO k VALUES (\'a\'), (\'b\');'])

    // A real pg_dump --format=custom of a real PostgreSQL database.
    pg = await startPostgres()
    pg.psql('CREATE DATABASE immich')
    pg.psql("CREATE TABLE assets (id serial PRIMARY KEY, path text); INSERT INTO assets (path) SELECT 'upload/' || g FROM generate_series(1, 2000) g;", 'immich')
    await fs.mkdir(path.join(beta, '.homelab-backup/postgres'), {recursive: true})
    await execa(pg.bin('pg_dump'), ['--format=custom', '--dbname=immich', `--file=${path.join(beta, '.homelab-backup/postgres/immich.pgdump')}`], {env: {...process.env, ...pg.env}})

    const r = await execa('bash', [path.join(REPO_ROOT, 'scripts/kopia-backup.sh')], {env, extendEnv: false, reject: false})
    expect(r.exitCode, r.stderr).toBe(0)
  }, 120_000)
  afterAll(async () => {
    await pg?.stop()
    await fx?.remove()
  })

  const drill = (args: string[] = [], extra: Record<string, string> = {}): ResultPromise<{reject: false}> =>
    execa('bash', [DRILL, ...args], {env: {...env, ...extra}, extendEnv: false, reject: false}) as unknown as ResultPromise<{reject: false}>
  const snapshot = async (source: string) => {
    const r = await execa('bash', [path.join(REPO_ROOT, 'scripts/kopia-backup.sh'), '--source', source], {env, extendEnv: false, reject: false})
    expect(r.exitCode, r.stderr).toBe(0)
  }
  const lastDrill = async () => JSON.parse(await fs.readFile(path.join(fx.stateDir, 'last-drill.json'), 'utf8'))
  const entry = async (source: string): Promise<DrillSource> => (await lastDrill()).sources.find((s: DrillSource) => s.path === source)
  const newest = async (source: string) => {
    const list = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8'))
    return list.filter((m: {source: {path: string}}) => m.source.path === source).at(-1) as {id: string; startTime: string; rootEntry: {obj: string}}
  }

  it('every source: newest snapshot restored, dumps open, unchanged files byte-identical; last-drill.json written atomically', async () => {
    const r = await drill()
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain('homelab-backup-drill: done: ok (0 of 4 sources failed)')
    const file = await lastDrill()
    expect(file).toMatchObject({result: 'ok', version: 1})
    expect(file.sources.map((s: DrillSource) => s.path)).toEqual(fx.sources)
    for (const s of file.sources as DrillSource[]) {
      const m = await newest(s.path)
      expect(s).toMatchObject({error: null, result: 'ok', snapshotId: m.id, snapshotTime: m.startTime})
      expect(s.durationMs).toBeGreaterThanOrEqual(0)
      expect(s.checks.restore).toEqual({error: null, ok: true})
      // Nothing changed since the snapshots: every restored file is compared (fewer than 20 here).
      expect(s.checks.files).toEqual({changedSince: 0, compared: s.restore.files, firstFailure: null, mismatched: 0})
    }

    const [a, b, g] = await Promise.all([entry(alpha), entry(beta), entry(gamma)])
    expect(a.checks.sqlite).toEqual({checked: 2, failed: 0, firstFailure: null})
    expect(a.restore.files).toBe(4)
    expect(b.checks.postgres).toEqual({checked: 1, failed: 0, firstFailure: null})
    expect(g.checks.sqlite.checked + g.checks.postgres.checked).toBe(0)
    expect(g.restore).toEqual({bytes: 1000 + `contents of ${gamma}\n`.length, files: 2})
    expect(r.stdout).toContain(`${alpha}: sqlite: 2 of 2 dumps pass PRAGMA integrity_check`)
    expect(r.stdout).toContain(`${beta}: postgres: 1 of 1 dumps readable by pg_restore`)

    // No temp files next to last-drill.json; it is world-readable; no scratch folder is left,
    // and the scratch root (restores hold secrets) is root-only.
    expect((await fs.readdir(fx.stateDir)).filter((f) => f.startsWith('.last-drill'))).toEqual([])
    expect((await fs.stat(path.join(fx.stateDir, 'last-drill.json'))).mode & 0o777).toBe(0o644)
    expect(await fs.readdir(scratch)).toEqual([])
    expect((await fs.stat(scratch)).mode & 0o777).toBe(0o700)
  }, 120_000)

  it('a live file changed after the snapshot is counted as changed since, not as a failure', async () => {
    await fs.writeFile(path.join(gamma, 'data/file.txt'), 'written after the snapshot\n')
    const r = await drill([gamma])
    expect(r.exitCode, r.stdout).toBe(0)
    expect((await entry(gamma)).checks.files).toEqual({changedSince: 1, compared: 1, firstFailure: null, mismatched: 0})
    expect(r.stdout).toContain('1 of 1 sampled files match the live data (1 changed since the snapshot, not compared)')
    await snapshot(gamma)
  }, 120_000)

  it('a restored file that differs from its unchanged live copy fails the drill, naming the file', async () => {
    // Bit rot in what the (stand-in) repository gives back for gamma's newest snapshot.
    const stored = path.join(kopiaState, 'snapshots', (await newest(gamma)).rootEntry.obj)
    await fs.writeFile(path.join(stored, 'top.bin'), Buffer.alloc(1000, 8))
    const before = await entry(alpha)
    const r = await drill([gamma])
    expect(r.exitCode).toBe(1)
    const g = await entry(gamma)
    expect(g.result).toBe('failed')
    expect(g.checks.files).toMatchObject({compared: 2, mismatched: 1})
    expect(g.error).toMatch(/^file top\.bin: restored sha256 [0-9a-f]{64} differs from the live file's [0-9a-f]{64} \(unchanged since before the snapshot\)$/)
    expect(r.stdout).toContain(`homelab-backup-drill: ${gamma}: drill failed in`)
    // A drill of one source keeps the other sources' entries.
    expect(await entry(alpha)).toEqual(before)
    expect((await lastDrill()).result).toBe('failed')
    await snapshot(gamma)
  }, 120_000)

  it('a corrupted SQLite dump fails the drill with integrity_check\'s line; an emptied one is no database', async () => {
    const dump = path.join(alpha, '.homelab-backup/sqlite/db.sqlite3')
    const original = await fs.readFile(dump)
    // Overwrite page 2 (4096-byte pages) with garbage: the table's b-tree no longer parses.
    const corrupted = Buffer.from(original)
    corrupted.fill(0xa5, 4096 + 8, 4096 * 2)
    await fs.writeFile(dump, corrupted)
    const nested = path.join(alpha, '.homelab-backup/sqlite/data/nested.db')
    const nestedOriginal = await fs.readFile(nested)
    await fs.writeFile(nested, '')
    await snapshot(alpha)
    try {
      const r = await drill([`${alpha}/`])
      expect(r.exitCode).toBe(1)
      const a = await entry(alpha)
      expect(a.result).toBe('failed')
      expect(a.checks.sqlite).toMatchObject({checked: 2, failed: 2})
      expect(a.error).toBe("sqlite dump .homelab-backup/sqlite/data/nested.db: not a SQLite database (no 'SQLite format 3' header)")
      expect(r.stdout).toMatch(/sqlite dump \.homelab-backup\/sqlite\/db\.sqlite3: integrity_check: .*(malformed|corrupt|Tree|page|btree)/i)
      // The files themselves restored as they were captured (corrupt dumps and all).
      expect(a.checks.files.mismatched).toBe(0)
    } finally {
      await fs.writeFile(dump, original)
      await fs.writeFile(nested, nestedOriginal)
      await snapshot(alpha)
    }
  }, 120_000)

  it('a truncated PostgreSQL dump fails the drill with pg_restore\'s error', async () => {
    const dump = path.join(beta, '.homelab-backup/postgres/immich.pgdump')
    const original = await fs.readFile(dump)
    await fs.writeFile(dump, original.subarray(0, Math.floor(original.length / 2)))
    await snapshot(beta)
    try {
      const r = await drill([beta])
      expect(r.exitCode).toBe(1)
      const b = await entry(beta)
      expect(b.checks.postgres).toMatchObject({checked: 1, failed: 1})
      expect(b.error).toMatch(/^postgres dump \.homelab-backup\/postgres\/immich\.pgdump: pg_restore( --list| \(reading every data block\)): .+/)
    } finally {
      await fs.writeFile(dump, original)
      await snapshot(beta)
    }
  }, 120_000)

  it('a source without a snapshot fails with one line; an unknown source is a usage error (exit 2)', async () => {
    const fresh = path.join(fx.storageRoot, 'fresh')
    await fs.mkdir(fresh)
    await fs.appendFile(env.HOMELAB_BACKUP_SOURCES, `${fresh}\n`)
    const r = await drill([fresh])
    expect(r.exitCode).toBe(1)
    expect(await entry(fresh)).toMatchObject({error: `no snapshot of ${fresh} in the repository`, result: 'failed', snapshotId: null})
    const bad = await drill(['/nowhere'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('/nowhere is not a backup source')
  }, 60_000)

  it('waits for a snapshot or sync holding .kopia.lock; gives up after HOMELAB_DRILL_LOCK_WAIT with exit 75, writing nothing', async () => {
    const lock = path.join(fx.stateDir, '.kopia.lock')
    const before = await fs.readFile(path.join(fx.stateDir, 'last-drill.json'), 'utf8')
    // -o: the lock is flock's own (not inherited by sleep), so killing flock releases it.
    const holder = execa('flock', ['-o', lock, 'sleep', '60'], {reject: false, stdio: 'ignore'})
    try {
      // Wait until the holder has the lock.
      while ((await execa('flock', ['-n', lock, 'true'], {reject: false})).exitCode === 0) await new Promise((r) => setTimeout(r, 50))
      const r = await drill([alpha], {HOMELAB_DRILL_LOCK_WAIT: '1'})
      expect(r.exitCode).toBe(75)
      expect(r.stdout).toContain(`waiting up to 1s for ${lock}`)
      expect(r.stderr).toContain(`${lock} still held after 1s; no drill this time`)
      expect(await fs.readFile(path.join(fx.stateDir, 'last-drill.json'), 'utf8')).toBe(before)
      // Released while the drill waits: the drill runs.
      const waiting = drill([alpha], {HOMELAB_DRILL_LOCK_WAIT: '600'})
      await new Promise<void>((resolve) => {
        let out = ''
        waiting.stdout?.on('data', (chunk: Buffer) => {
          out += String(chunk)
          if (out.includes('waiting up to 600s')) resolve()
        })
      })
      holder.kill('SIGTERM')
      const done = await waiting
      expect(done.exitCode, done.stdout).toBe(0)
    } finally {
      holder.kill('SIGKILL')
      await holder
    }
  }, 120_000)
})
