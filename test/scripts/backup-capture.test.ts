// Consistent capture (issue 13) through the real scripts/kopia-backup.sh: real sqlite3, real
// PostgreSQL (test/helpers/postgres.ts), real flock and jq; kopia, k3s and kubectl are the
// stand-ins of test/e2e/stand-ins (kubectl's `exec` runs the command here, as the "pod").
import {execa, type ResultPromise} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it, onTestFinished} from 'vitest'

import {type BackupFixture, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {installBackupStandIns} from '../helpers/backup-units.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'
import {startS3Server} from '../helpers/s3-server.js'

const LONG = 240_000

describe('consistent capture by kopia-backup.sh', () => {
  let fx: BackupFixture
  let binDir: string
  let kopiaState: string
  let kubectlState: string
  let env: Record<string, string>
  let pg: TestPostgres | undefined
  const storageFile = () => path.join(fx.repo, 'nixos/storage.json')
  const [alpha, beta, gamma] = ['alpha', 'beta', 'gamma']

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'sqlite3', 'tar'])
    fx = await makeBackupFixture()
    binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    for (const name of ['k3s', 'kubectl']) {
      await fs.copyFile(path.join(REPO_ROOT, 'test/e2e/stand-ins', name), path.join(binDir, name))
      await fs.chmod(path.join(binDir, name), 0o755)
    }

    kopiaState = path.join(fx.hostDir, 'kopia', 'kopia-standin')
    kubectlState = path.join(fx.hostDir, 'kubectl-state')
    await fs.mkdir(kopiaState, {recursive: true})
    await fs.writeFile(path.join(fx.hostDir, 'sources'), fx.sources.join('\n') + '\n')
    // alpha: sqlite, beta: stop, gamma: postgres (namespace "db").
    const storage = JSON.parse(await fs.readFile(storageFile(), 'utf8'))
    storage.apps[0].backup = {databases: ['db.sqlite3', 'sub/dir/data'], mode: 'sqlite'}
    storage.apps[1].backup = {mode: 'stop'}
    storage.apps[2].backup = {container: 'postgres', dataDir: 'pgdata', database: 'app', mode: 'postgres', namespace: 'db', user: 'homelab', workload: 'statefulset/pg'}
    await fs.writeFile(storageFile(), JSON.stringify(storage, null, 2) + '\n')

    const objects = path.join(fx.hostDir, 'objects.json')
    await fs.writeFile(
      objects,
      JSON.stringify({
        apiVersion: 'v1',
        items: [
          workload('Deployment', 'web', beta, 2),
          workload('StatefulSet', 'cache', beta, 1),
          workload('Deployment', 'other', alpha, 1),
          workload('StatefulSet', 'pg', 'db', 1),
        ],
        kind: 'List',
      }),
    )
    env = {
      HOMELAB_BACKUP_SOURCES: path.join(fx.hostDir, 'sources'),
      HOMELAB_BACKUP_STATE_DIR: fx.stateDir,
      HOMELAB_STORAGE_FILE: storageFile(),
      KOPIA_CONFIG_PATH: path.join(fx.hostDir, 'kopia', 'repository.config'),
      KOPIA_PASSWORD: 'capture test',
      KOPIA_REPOSITORY_PATH: path.join(fx.hostDir, 'repository'),
      PATH: `${binDir}:${process.env.PATH}`,
      STANDIN_KUBECTL_OBJECTS: objects,
      STANDIN_KUBECTL_STATE: kubectlState,
    }
  }, LONG)

  afterAll(async () => {
    await pg?.stop()
    await fs.rm(path.join(kopiaState, 'create-hold'), {force: true})
    await fx?.remove()
  })

  const run = (script: string, args: string[] = [], extra: Record<string, string> = {}) =>
    execa('bash', [path.join(REPO_ROOT, 'scripts', script), ...args], {env: {...env, ...extra}, extendEnv: false, reject: false})
  const lastRunOf = async (source: string) => {
    const lastRun = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'last-run.json'), 'utf8'))
    return lastRun.sources.find((s: {path: string}) => s.path === source)
  }

  /** The stand-in kopia's copy of the newest snapshot of `source` (what a restore gives back). */
  const snapshotCopy = async (source: string): Promise<string> => {
    const list = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as {rootEntry: {obj: string}; source: {path: string}}[]
    const mine = list.filter((m) => m.source.path === source)
    expect(mine.length).toBeGreaterThan(0)
    return path.join(kopiaState, 'snapshots', mine.at(-1)!.rootEntry.obj)
  }

  const exists = async (p: string) =>
    fs.stat(p).then(
      () => true,
      () => false,
    )
  // The test's own reads wait for the writer's lock like any client would (busy timeout), instead of failing with SQLITE_BUSY.
  const sqlite = async (db: string, sql: string) => (await execa('sqlite3', ['-cmd', '.timeout 30000', db, sql])).stdout.trim()
  const kubectlCalls = async () =>
    (await fs.readFile(path.join(kubectlState, 'calls.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as {argv: string[]}).argv.join(' '))

  /** The pods `kubectl get pods -n NS -o json` lists (the stand-in, running and terminating). */
  const podsOf = async (namespace: string, extra: Record<string, string> = {}) =>
    (JSON.parse((await execa('kubectl', ['get', 'pods', '-n', namespace, '-o', 'json'], {env: {...env, ...extra}, extendEnv: false})).stdout) as {items: unknown[]}).items
  /** Waits until the held snapshot has started; fails at once when the run ends before it. */
  const snapshotStarted = async (running: ResultPromise) => {
    let ended: string | undefined
    running.then(
      (r) => {
        ended = `kopia-backup.sh ended (exit ${r.exitCode}) before its snapshot started: ${String(r.stderr)}${String(r.stdout)}`
      },
      () => {},
    )
    await waitFor(async () => {
      if (ended) throw new Error(ended)
      return exists(path.join(kopiaState, 'create-started'))
    })
  }

  it(
    'sqlite: a WAL database under a concurrent write load is copied consistently; the live files stay out of the snapshot',
    async () => {
      const app = fx.sources[0]
      const db = path.join(app, 'db.sqlite3')
      await sqlite(
        db,
        `PRAGMA journal_mode=WAL;
         CREATE TABLE rows (id INTEGER PRIMARY KEY, v BLOB NOT NULL);
         CREATE TABLE counter (n INTEGER NOT NULL, total INTEGER NOT NULL);
         INSERT INTO counter VALUES (0, 0);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000) INSERT INTO rows (v) SELECT randomblob(1000) FROM s;
         UPDATE counter SET n = 3000, total = (SELECT sum(length(v)) FROM rows);`,
      )
      await fs.mkdir(path.join(app, 'sub/dir'), {recursive: true})
      await sqlite(path.join(app, 'sub/dir/data'), 'CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (\'a\', \'b\');')
      // A line a person wrote, and the folder it leaves out; the script must keep both as they are.
      await fs.mkdir(path.join(app, 'cache'))
      await fs.writeFile(path.join(app, 'cache', 'tmp.bin'), 'scratch')
      await fs.writeFile(path.join(app, '.kopiaignore'), '# mine\n/cache/\n')

      // The write load: one connection committing transactions back to back (a row and the
      // counter in the same transaction), until the test stops it.
      const writer = execa('bash', ['-c', `{ echo '.timeout 30000'; while :; do echo "BEGIN IMMEDIATE; INSERT INTO rows (v) VALUES (randomblob(abs(random()) % 2000 + 1)); UPDATE counter SET n = n + 1, total = total + (SELECT length(v) FROM rows WHERE id = last_insert_rowid()); COMMIT;"; done; } | sqlite3 "$1"`, 'writer', db], {
        detached: true,
        reject: false,
      })
      let before = 0
      try {
        // The writer is committing before the capture starts (and keeps going during it).
        while (before < 3200) before = Number(await sqlite(db, 'SELECT n FROM counter'))
        expect(await exists(`${db}-wal`)).toBe(true)
        const r = await run('kopia-backup.sh', ['--source', app])
        expect(r.exitCode, r.stderr).toBe(0)
        expect(r.stdout).toContain(`capture of ${app}: sqlite`)
        expect(writer.exitCode).toBeNull() // still writing
      } finally {
        stopLoad(writer)
        await writer
      }

      const entry = await lastRunOf(app)
      expect(entry).toMatchObject({capture: {error: null, mode: 'sqlite', ok: true}, error: null, exitCode: 0})
      expect(entry.capture.ms).toBeGreaterThanOrEqual(0)
      const copy = await snapshotCopy(app)
      const dump = path.join(copy, '.homelab-backup/sqlite/db.sqlite3')
      expect(await sqlite(dump, 'PRAGMA integrity_check')).toBe('ok')
      // One point in time: the counter and the rows agree, and nothing committed before the
      // capture started is missing.
      const [n, count, total, sum] = (await sqlite(dump, 'SELECT (SELECT n FROM counter), (SELECT count(*) FROM rows), (SELECT total FROM counter), (SELECT sum(length(v)) FROM rows)')).split('|').map(Number)
      expect(count).toBe(n)
      expect(sum).toBe(total)
      expect(n).toBeGreaterThanOrEqual(before)
      expect(await sqlite(path.join(copy, '.homelab-backup/sqlite/sub/dir/data'), 'SELECT v FROM kv')).toBe('b')
      // The live database and its WAL/SHM are left out by the script's .kopiaignore block; the
      // person's own line still works and is kept.
      for (const live of ['db.sqlite3', 'db.sqlite3-wal', 'db.sqlite3-shm', 'sub/dir/data', 'cache']) expect(await exists(path.join(copy, live)), live).toBe(false)
      const ignore = await fs.readFile(path.join(app, '.kopiaignore'), 'utf8')
      expect(ignore.startsWith('# mine\n/cache/\n# BEGIN homelab capture')).toBe(true)
      expect(ignore).toContain('/db.sqlite3\n/db.sqlite3-wal\n/db.sqlite3-shm\n/db.sqlite3-journal\n/sub/dir/data\n')
      expect(ignore.trimEnd().endsWith('# END homelab capture')).toBe(true)
      // The dump folder is root-only (the dumps are the data).
      expect((await fs.stat(path.join(app, '.homelab-backup'))).mode & 0o777).toBe(0o700)
      // Why not `files`: a plain copy of db.sqlite3 + db.sqlite3-wal taken while the writer runs
      // reads the two files at different moments (and the WAL's frames past the last commit it
      // saw), so the copy can open with the counter and the rows disagreeing, or fail
      // integrity_check, or lose every change still in the WAL when the -wal copy is from a
      // different point than the main file. VACUUM INTO reads one committed snapshot. Whether a
      // given `files` copy happens to survive is luck, so it is not asserted either way.

      // A second run replaces the block, never duplicates it; a missing database fails the source.
      await fs.rm(path.join(app, 'sub/dir/data'))
      const snapshotsBefore = (JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as unknown[]).length
      const failed = await run('kopia-backup.sh', ['--source', app])
      expect(failed.exitCode).toBe(1)
      expect(await lastRunOf(app)).toMatchObject({
        capture: {error: `database sub/dir/data is missing in ${app} (storage.json backup.databases)`, mode: 'sqlite', ok: false},
        error: expect.stringContaining('capture (sqlite) failed, no snapshot taken'),
        snapshotId: null,
      })
      expect((JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as unknown[]).length).toBe(snapshotsBefore)
      expect((await fs.readFile(path.join(app, '.kopiaignore'), 'utf8')).match(/# BEGIN homelab capture/g)).toHaveLength(1)
    },
    LONG,
  )

  it(
    'postgres: pg_dump through k3s kubectl exec under a write load restores with pg_restore; a failed dump takes no snapshot',
    async () => {
      await requireTools(['psql'])
      pg = await startPostgres()
      const app = fx.sources[2]
      await fs.mkdir(path.join(app, 'pgdata'), {recursive: true})
      await fs.writeFile(path.join(app, 'pgdata', 'PG_VERSION'), '17\n')
      pg.psql('CREATE DATABASE app')
      pg.psql(
        `CREATE TABLE rows (id bigserial PRIMARY KEY, v text NOT NULL);
         CREATE TABLE counter (n bigint NOT NULL);
         INSERT INTO counter VALUES (0);
         INSERT INTO rows (v) SELECT md5(g::text) FROM generate_series(1, 5000) g;
         UPDATE counter SET n = 5000;`,
        'app',
      )
      const pgBin = path.dirname(pg.bin('pg_dump'))
      // The host's PATH: the script checks each dump with the real pg_restore of the server's major.
      const hostPath = `${pgBin}:${env.PATH}`
      const execEnv = path.join(fx.hostDir, 'exec.env')
      // The "pod" environment: the server's socket, and its major's client tools first.
      await fs.writeFile(execEnv, `PGHOST=${pg.socketDir}\nPGPORT=${pg.port}\nPATH=${pgBin}:${process.env.PATH}\n`)
      const writer: ResultPromise = execa(
        'bash',
        ['-c', `while :; do echo "BEGIN; INSERT INTO rows (v) VALUES (md5(random()::text)); UPDATE counter SET n = n + 1; COMMIT;"; done | "$1" -X -q -d app >/dev/null`, 'writer', pg.bin('psql')],
        {detached: true, env: {...process.env, ...pg.env}, reject: false},
      )
      let before = 0
      try {
        while (before < 5200) before = Number(pg.psql('SELECT n FROM counter', 'app'))
        const r = await run('kopia-backup.sh', ['--source', app], {PATH: hostPath, STANDIN_KUBECTL_EXEC_ENV: execEnv})
        expect(r.exitCode, r.stderr).toBe(0)
        expect(writer.exitCode).toBeNull()
      } finally {
        stopLoad(writer)
        await writer
      }

      expect(await kubectlCalls()).toContain('exec -n db statefulset/pg -c postgres -- pg_dump --format=custom -U homelab -d app')
      expect(await lastRunOf(app)).toMatchObject({capture: {error: null, mode: 'postgres', ok: true}, error: null, exitCode: 0})
      const copy = await snapshotCopy(app)
      expect(await exists(path.join(copy, 'pgdata'))).toBe(false)
      const dump = path.join(copy, '.homelab-backup/postgres/app.pgdump')
      pg.psql('CREATE DATABASE restored')
      await execa(pg.bin('pg_restore'), ['--no-owner', '-d', 'restored', dump], {env: {...process.env, ...pg.env}})
      const [n, count] = pg.psql('SELECT (SELECT n FROM counter), (SELECT count(*) FROM rows)', 'restored').trim().split('|').map(Number)
      expect(count).toBe(n)
      expect(n).toBeGreaterThanOrEqual(before)

      // pg_dump cannot reach the server: the source fails, no snapshot, the old dump is kept as it was.
      const live = path.join(app, '.homelab-backup/postgres/app.pgdump')
      const old = await fs.readFile(live)
      const badEnv = path.join(fx.hostDir, 'exec-bad.env')
      await fs.writeFile(badEnv, `PGHOST=${path.join(fx.hostDir, 'no-server')}\nPATH=${pgBin}:${process.env.PATH}\n`)
      const snapshotsBefore = (JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as unknown[]).length
      const failed = await run('kopia-backup.sh', ['--source', app], {PATH: hostPath, STANDIN_KUBECTL_EXEC_ENV: badEnv})
      expect(failed.exitCode).toBe(1)
      const entry = await lastRunOf(app)
      expect(entry).toMatchObject({capture: {mode: 'postgres', ok: false}, snapshotId: null})
      expect(entry.capture.error).toMatch(/^pg_dump of app in db\/statefulset\/pg failed: .*no-server/)
      expect((JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as unknown[]).length).toBe(snapshotsBefore)
      expect((await fs.readFile(live)).equals(old)).toBe(true)
      expect((await fs.readdir(path.dirname(live))).filter((f) => f.startsWith('.'))).toEqual([]) // no temp file left

      // A dump cut off half-way (a broken exec stream; pg_dump and the exec still exit 0): the
      // pod's pg_dump is the real one piped through `head -c`. Its table of contents is whole, so
      // `pg_restore --list` alone would pass it; the real pg_restore's full read fails it. The
      // source fails, no snapshot, the old dump stays.
      const shimDir = path.join(fx.hostDir, 'pod-shim')
      await fs.mkdir(shimDir, {recursive: true})
      await fs.writeFile(
        path.join(shimDir, 'pg_dump'),
        `#!/usr/bin/env bash\n# test shim: the real pg_dump, its output cut off half-way\nout=$(mktemp)\n${pg.bin('pg_dump')} "$@" >"$out" || exit\nhead -c $(( $(stat -c %s "$out") / 2 )) "$out"\nrm -f "$out"\n`,
      )
      await fs.chmod(path.join(shimDir, 'pg_dump'), 0o755)
      const cutEnv = path.join(fx.hostDir, 'exec-cut.env')
      await fs.writeFile(cutEnv, `PGHOST=${pg.socketDir}\nPGPORT=${pg.port}\nPATH=${shimDir}:${pgBin}:${process.env.PATH}\n`)
      const cut = await run('kopia-backup.sh', ['--source', app], {PATH: hostPath, STANDIN_KUBECTL_EXEC_ENV: cutEnv})
      expect(cut.exitCode).toBe(1)
      const cutEntry = await lastRunOf(app)
      expect(cutEntry).toMatchObject({capture: {mode: 'postgres', ok: false}, snapshotId: null})
      expect(cutEntry.capture.error).toMatch(/^the pg_dump of app in db\/statefulset\/pg does not read back .*pg_restore.*; the previous dump is kept$/)
      expect((JSON.parse(await fs.readFile(path.join(fx.stateDir, 'snapshots.json'), 'utf8')) as unknown[]).length).toBe(snapshotsBefore)
      expect((await fs.readFile(live)).equals(old)).toBe(true)
      expect((await fs.readdir(path.dirname(live))).filter((f) => f.startsWith('.'))).toEqual([])
    },
    LONG,
  )

  it(
    'stop: the namespace is at 0 replicas during the snapshot and scaled back to the remembered counts, also when the snapshot fails or the run is killed',
    async () => {
      const app = fx.sources[1]
      const replicas = async () => {
        const live = JSON.parse(await fs.readFile(path.join(kubectlState, 'objects.json'), 'utf8')) as {list: {items: {metadata: {name: string; namespace: string}; spec: {replicas: number}}[]}}
        return Object.fromEntries(live.list.items.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o.spec.replicas]))
      }

      const original = {'beta/cache': 1, 'beta/web': 2}
      await fs.rm(path.join(kubectlState, 'calls.log'), {force: true})
      // Hold the snapshot to look at the workloads while it runs. The pods stay listed,
      // terminating, for 3 s after the scale down (status.replicas is 0 at once).
      await fs.writeFile(path.join(kopiaState, 'create-hold'), '')
      await fs.rm(path.join(kopiaState, 'create-started'), {force: true})
      const running = run('kopia-backup.sh', ['--source', app], {STANDIN_POD_GRACE_SECONDS: '3'})
      await snapshotStarted(running)
      expect(await replicas()).toMatchObject({'beta/cache': 0, 'beta/web': 0, 'alpha/other': 1, 'db/pg': 1})
      // The snapshot started only once no pod of the namespace was listed, terminating ones included.
      expect(await podsOf('beta')).toEqual([])
      expect((await kubectlCalls()).filter((c) => c.startsWith('get pods'))).toEqual(
        expect.arrayContaining(['get pods -n beta -l app=web,app.kubernetes.io/instance=beta -o json', 'get pods -n beta -l app=cache,app.kubernetes.io/instance=beta -o json']),
      )
      await fs.rm(path.join(kopiaState, 'create-hold'))
      const r = await running
      expect(r.exitCode, r.stderr).toBe(0)
      expect(await replicas()).toMatchObject(original)
      const calls = (await kubectlCalls()).filter((c) => c.startsWith('scale'))
      expect(calls).toEqual([
        'scale deployment/web -n beta --replicas=0',
        'scale statefulset/cache -n beta --replicas=0',
        'scale deployment/web -n beta --replicas=2',
        'scale statefulset/cache -n beta --replicas=1',
      ])
      expect(await lastRunOf(app)).toMatchObject({capture: {error: null, mode: 'stop', ok: true}, error: null, exitCode: 0})

      // The snapshot fails: the scale-back still happens, exit 1.
      await fs.rm(path.join(kubectlState, 'calls.log'))
      await fs.writeFile(path.join(kopiaState, 'fail-create'), `${app}\n`)
      const failed = await run('kopia-backup.sh', ['--source', app])
      await fs.rm(path.join(kopiaState, 'fail-create'))
      expect(failed.exitCode).toBe(1)
      expect((await kubectlCalls()).filter((c) => c.startsWith('scale')).slice(-2)).toEqual(['scale deployment/web -n beta --replicas=2', 'scale statefulset/cache -n beta --replicas=1'])
      expect(await replicas()).toMatchObject(original)
      expect(await lastRunOf(app)).toMatchObject({capture: {mode: 'stop', ok: true}, error: expect.stringContaining('fatal error'), exitCode: 1})

      // Killed (systemctl stop sends TERM) during the snapshot: the trap scales back.
      await fs.rm(path.join(kubectlState, 'calls.log'))
      await fs.writeFile(path.join(kopiaState, 'create-hold'), '')
      await fs.rm(path.join(kopiaState, 'create-started'), {force: true})
      const killed = run('kopia-backup.sh', ['--source', app])
      await snapshotStarted(killed)
      expect(await replicas()).toMatchObject({'beta/cache': 0, 'beta/web': 0})
      killed.kill('SIGTERM')
      // bash runs the trap once the foreground kopia returns; release it.
      await fs.rm(path.join(kopiaState, 'create-hold'))
      const k = await killed
      expect(k.exitCode).toBe(143)
      expect(await replicas()).toMatchObject(original)
      expect((await kubectlCalls()).filter((c) => c.startsWith('scale')).slice(-2)).toEqual(['scale deployment/web -n beta --replicas=2', 'scale statefulset/cache -n beta --replicas=1'])
    },
    LONG,
  )

  it(
    'stop under Flux: the Kustomizations applying the workloads are suspended during the snapshot (Flux cannot undo the scale) and resumed after the scale back; one suspended before stays suspended',
    async () => {
      const app = fx.sources[1]
      // web is applied by the Kustomization "apps" (not suspended), cache by "beta-data", which a
      // person suspended before. The stand-in's Flux puts git's replicas back on every kubectl call
      // unless the owning Kustomization is suspended.
      const objects = path.join(fx.hostDir, 'objects-flux.json')
      await fs.writeFile(
        objects,
        JSON.stringify({
          apiVersion: 'v1',
          items: [workload('Deployment', 'web', beta, 2, 'apps'), workload('StatefulSet', 'cache', beta, 1, 'beta-data'), kustomization('apps', false), kustomization('beta-data', true)],
          kind: 'List',
        }),
      )
      // A bound for the wait, so a run Flux keeps scaling back up fails instead of waiting 600 s.
      const flux = {HOMELAB_STOP_TIMEOUT: '60', STANDIN_FLUX_REVERTS_SCALE: '1', STANDIN_KUBECTL_OBJECTS: objects, STANDIN_POD_GRACE_SECONDS: '3'}
      const kubectl = async (...args: string[]) => JSON.parse((await execa('kubectl', args, {env: {...env, ...flux}, extendEnv: false})).stdout)
      const state = async () => {
        // Each stand-in call first runs Flux's drift correction, so this is what Flux leaves.
        const list = await kubectl('get', 'deployments,statefulsets', '-n', beta, '-o', 'json')
        const ks = await kubectl('get', 'kustomizations', '-A', '-o', 'json')
        return {
          replicas: Object.fromEntries(list.items.map((o: {metadata: {name: string}; spec: {replicas: number}}) => [o.metadata.name, o.spec.replicas])),
          suspended: Object.fromEntries(ks.items.map((o: {metadata: {name: string}; spec: {suspend?: boolean}}) => [o.metadata.name, o.spec.suspend ?? false])),
        }
      }

      await fs.rm(path.join(kubectlState, 'calls.log'), {force: true})
      await fs.writeFile(path.join(kopiaState, 'create-hold'), '')
      await fs.rm(path.join(kopiaState, 'create-started'), {force: true})
      const running = run('kopia-backup.sh', ['--source', app], flux)
      await snapshotStarted(running)
      expect(await state()).toEqual({replicas: {cache: 0, web: 0}, suspended: {apps: true, 'beta-data': true}})
      expect(await podsOf(beta, flux)).toEqual([])
      await fs.rm(path.join(kopiaState, 'create-hold'))
      const r = await running
      expect(r.exitCode, r.stderr).toBe(0)
      expect(await lastRunOf(app)).toMatchObject({capture: {error: null, mode: 'stop', ok: true}, error: null, exitCode: 0})
      expect(await state()).toEqual({replicas: {cache: 1, web: 2}, suspended: {apps: false, 'beta-data': true}})
      // Suspend before the first scale down; resume only "apps", after the last scale back.
      const calls = (await kubectlCalls()).filter((c) => c.startsWith('scale') || c.includes('patch kustomization'))
      expect(calls).toEqual([
        `patch kustomization apps -n flux-system --type merge -p {"spec":{"suspend":true}}`,
        'scale deployment/web -n beta --replicas=0',
        'scale statefulset/cache -n beta --replicas=0',
        'scale deployment/web -n beta --replicas=2',
        'scale statefulset/cache -n beta --replicas=1',
        `patch kustomization apps -n flux-system --type merge -p {"spec":{"suspend":false}}`,
      ])

      // Killed during the snapshot: the trap scales back, then resumes "apps".
      await fs.rm(path.join(kubectlState, 'calls.log'))
      await fs.writeFile(path.join(kopiaState, 'create-hold'), '')
      await fs.rm(path.join(kopiaState, 'create-started'), {force: true})
      const killed = run('kopia-backup.sh', ['--source', app], flux)
      await snapshotStarted(killed)
      killed.kill('SIGTERM')
      await fs.rm(path.join(kopiaState, 'create-hold'))
      expect((await killed).exitCode).toBe(143)
      expect((await kubectlCalls()).filter((c) => c.startsWith('scale') || c.includes('patch kustomization')).slice(-3)).toEqual([
        'scale deployment/web -n beta --replicas=2',
        'scale statefulset/cache -n beta --replicas=1',
        `patch kustomization apps -n flux-system --type merge -p {"spec":{"suspend":false}}`,
      ])
      expect(await state()).toEqual({replicas: {cache: 1, web: 2}, suspended: {apps: false, 'beta-data': true}})
    },
    LONG,
  )

  it(
    'one lock: a sync started while a snapshot holds .kopia.lock waits and runs after it, never at the same time',
    async () => {
      const app = fx.sources[3] // an extra source: `files`
      await fs.writeFile(path.join(kopiaState, 'create-hold'), '')
      await fs.rm(path.join(kopiaState, 'create-started'), {force: true})
      const backup = run('kopia-backup.sh', ['--source', app])
      await waitFor(() => exists(path.join(kopiaState, 'create-started')))
      // The sync copies for real (stand-in kopia + real rclone) into a loopback S3 server.
      const s3 = await startS3Server(['azalab-kopia'])
      const syncEnv = {AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, R2_BUCKET: 'azalab-kopia', R2_DELETE_AFTER_DAYS: '30', R2_ENDPOINT: s3.endpoint, R2_PREFIX: 'kopia/'}
      const sync = execa('bash', [path.join(REPO_ROOT, 'scripts/kopia-r2-sync.sh')], {all: true, env: {...env, ...syncEnv}, extendEnv: false, reject: false})
      onTestFinished(() => s3.stop())
      let out = ''
      sync.all?.on('data', (d: Buffer) => {
        out += String(d)
      })
      // The sync is waiting on the lock (it said so) while the snapshot is held mid-way.
      await waitFor(async () => out.includes('.kopia.lock is held'))
      expect(await exists(path.join(kopiaState, 'syncs.log'))).toBe(false) // no sync has run yet
      await fs.rm(path.join(kopiaState, 'create-hold'))
      const [b, s] = await Promise.all([backup, sync])
      expect(b.exitCode, b.stderr).toBe(0)
      expect(s.exitCode, s.all).toBe(0)
      const manifests = (await fs.readFile(path.join(kopiaState, 'manifests.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {endTime: string; source: {path: string}})
      const snapshotEnd = manifests.filter((m) => m.source.path === app).at(-1)!.endTime
      const syncDone = (await fs.readFile(path.join(kopiaState, 'syncs.log'), 'utf8')).trim().split('\n').at(-1)!.split(' ')[0]
      expect(syncDone > snapshotEnd).toBe(true) // same RFC 3339 format: string order is time order
      expect(await lastRunOf(app)).toMatchObject({capture: {mode: 'files', ok: true}, exitCode: 0})
    },
    LONG,
  )
})

/** A Deployment/StatefulSet as the API returns it (apps/v1 requires spec.selector), optionally labelled by a Flux Kustomization. */
function workload(kind: string, name: string, namespace: string, replicas: number, kustomization?: string) {
  const labels = kustomization ? {'kustomize.toolkit.fluxcd.io/name': kustomization, 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system'} : undefined
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: {labels, name, namespace},
    spec: {replicas, selector: {matchLabels: {app: name, 'app.kubernetes.io/instance': namespace}}},
    status: {availableReplicas: replicas, readyReplicas: replicas, replicas},
  }
}

/** A Flux Kustomization in flux-system (kustomize.toolkit.fluxcd.io/v1). */
function kustomization(name: string, suspend: boolean) {
  return {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: {name, namespace: 'flux-system'},
    spec: {interval: '10m', path: `./apps/${name}`, prune: true, sourceRef: {kind: 'GitRepository', name: 'flux-system'}, suspend},
    status: {},
  }
}

/** Polls `check` until it holds (no time bound: the test's own timeout is the limit). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100))
}

/** Stops a write load started with `detached: true`: its whole process group (bash, the loop, the client). */
function stopLoad(writer: ResultPromise): void {
  try {
    process.kill(-writer.pid!, 'SIGTERM')
  } catch {
    // already gone
  }
}
