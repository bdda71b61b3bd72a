// `homelab backup restore` end to end on the e2e test host (real sshd, real sudo, real sqlite3,
// real PostgreSQL): snapshots taken by the real scripts/kopia-backup.sh (through `homelab backup
// run`, the systemctl stand-in and the stand-in kopia), workloads in the stand-in kubectl's List
// (reached as `k3s kubectl` through the k3s stand-in), every kubectl call seen in its calls.log.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type BackupFixture, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {type BackupUnits, installBackupUnits} from '../helpers/backup-units.js'
import {runCli} from '../helpers/cli.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo
let fx: BackupFixture
let units: BackupUnits
let pg: TestPostgres
let env: Record<string, string | undefined>
let alpha: string
let vault: string
let pgapp: string
let extra: string
let baseScenario: Record<string, string>
const VAULT_OWNER = {gid: 1235, uid: 1234}

const kubectlState = () => path.join(host.hostRoot, 'kubectl-state')
const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, {cwd: repo.dir, env: {...env, ...extra}, timeout: 170_000})
const json = (stdout: unknown) => JSON.parse(String(stdout))

/** The kubectl calls since the last {@link resetCalls}, as argv arrays. */
async function calls(): Promise<string[][]> {
  const text = await fs.readFile(path.join(kubectlState(), 'calls.log'), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {argv: string[]}).argv)
}

const resetCalls = async () => fs.writeFile(path.join(kubectlState(), 'calls.log'), '')
const scales = (argv: string[][]) => argv.filter((a) => a[0] === 'scale').map((a) => `${a[1]}=${a.find((x) => x.startsWith('--replicas='))!.slice('--replicas='.length)}`)

/** Every entry under `dir`: relative path, type, mode, owner, and SHA-256 of files; sorted. Byte-for-byte equality of two trees. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string) => {
    const full = path.join(dir, rel)
    const st = await fs.lstat(full)
    const head = `${rel || '.'} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`
    if (st.isDirectory()) {
      out.push(`${head} dir`)
      for (const name of (await fs.readdir(full)).sort()) await walk(path.join(rel, name))
    } else out.push(`${head} ${createHash('sha256').update(await fs.readFile(full)).digest('hex')}`)
  }

  await walk('')
  return out
}

/** A Deployment or StatefulSet as the API serves it, running and Ready, its pods selected by app.kubernetes.io/name=NAME. */
const workload = (kind: string, namespace: string, name: string, replicas: number, labels: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind,
  metadata: {labels, name, namespace},
  spec: {replicas, selector: {matchLabels: {'app.kubernetes.io/name': name}}},
  status: {availableReplicas: replicas, readyReplicas: replicas, replicas},
})

const sha = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex')
const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], {encoding: 'utf8'}).trim()
const asideFolders = async (source: string) => (await fs.readdir(path.dirname(source))).filter((n) => n.startsWith(`${path.basename(source)}.aside-`))

beforeAll(async () => {
  await requireTools(['jq', 'flock', 'shuf', 'sqlite3', 'pg_dump', 'pg_restore', 'pg_isready'])
  host = await startTestHost({standIns: ['kopia', 'systemctl', 'journalctl', 'k3s', 'kubectl']})
  repo = await host.homelabRepo({nixos: false})
  const base = path.join(host.hostRoot, 'backup')
  await fs.mkdir(base, {mode: 0o755})
  fx = await makeBackupFixture({hostDir: base, into: repo.dir})
  alpha = fx.sources[0]
  extra = fx.sources[3]
  vault = path.join(fx.storageRoot, 'vault')
  pgapp = path.join(fx.storageRoot, 'pgapp')
  const storage = {
    apps: [
      {gid: 0, mode: '0750', name: 'alpha', path: alpha, uid: 0},
      {backup: {databases: ['db.sqlite3'], mode: 'sqlite'}, gid: VAULT_OWNER.gid, mode: '0750', name: 'vault', path: vault, uid: VAULT_OWNER.uid},
      {
        backup: {container: 'postgres', dataDir: 'postgres', database: 'appdb', mode: 'postgres', user: 'homelab', workload: 'statefulset/pgapp-postgres'},
        gid: 0,
        mode: '0755',
        name: 'pgapp',
        path: pgapp,
        uid: 0,
      },
    ],
    extraBackupSources: [extra],
  }
  await fs.writeFile(path.join(repo.dir, 'nixos/storage.json'), `${JSON.stringify(storage, null, 2)}\n`)
  units = await installBackupUnits({binDir: host.binDir, hostDir: fx.hostDir, repo: repo.dir, sources: [alpha, vault, pgapp, extra]})

  // The cluster: each app's workloads in its namespace, running and Ready.
  const objects = path.join(host.hostRoot, 'kubectl-objects.json')
  await fs.writeFile(
    objects,
    JSON.stringify({
      apiVersion: 'v1',
      items: [
        workload('Deployment', 'alpha', 'alpha', 1),
        workload('Deployment', 'vault', 'vault', 1),
        workload('Deployment', 'pgapp', 'pgapp-server', 2),
        workload('StatefulSet', 'pgapp', 'pgapp-postgres', 1),
      ],
      kind: 'List',
    }),
  )
  pg = await startPostgres()
  const execEnv = path.join(host.hostRoot, 'exec.env')
  await fs.writeFile(execEnv, Object.entries(pg.env).map(([k, v]) => `${k}=${v}\n`).join(''))
  baseScenario = {STANDIN_KUBECTL_EXEC_ENV: execEnv, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: kubectlState()}
  await host.setScenario(baseScenario)
  await fs.mkdir(kubectlState(), {recursive: true})
  env = {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}
}, 180_000)

afterAll(async () => {
  await pg?.stop()
  await host?.stop()
})

describe('homelab backup restore --list, --snapshot, --at, --to', () => {
  let firstTree: string[]
  let secondTree: string[]

  it('lists the snapshots of a source newest first (--json shape); picks by ID prefix or --at; restores into a folder byte for byte', async () => {
    await fs.writeFile(path.join(alpha, 'data/file.txt'), 'first version\n')
    expect((await cli(['backup', 'run', '--source', alpha])).exitCode).toBe(0)
    firstTree = await tree(alpha)
    await fs.writeFile(path.join(alpha, 'data/file.txt'), 'second version\n')
    await fs.writeFile(path.join(alpha, 'data/new.bin'), Buffer.alloc(3000, 9))
    await fs.chmod(path.join(alpha, 'data/new.bin'), 0o600)
    expect((await cli(['backup', 'run', '--source', alpha])).exitCode).toBe(0)
    secondTree = await tree(alpha)

    const listed = await cli(['backup', 'restore', 'alpha', '--list', '--json'])
    expect(listed.exitCode, String(listed.stderr)).toBe(0)
    const list = json(listed.stdout)
    expect(Object.keys(list).sort()).toEqual(['app', 'schemaVersion', 'snapshots', 'source'])
    expect(list).toMatchObject({app: 'alpha', source: alpha})
    expect(list.snapshots).toHaveLength(2)
    for (const s of list.snapshots) expect(Object.keys(s).sort()).toEqual(['endTime', 'files', 'id', 'size', 'time'])
    const [newest, oldest] = list.snapshots
    expect(Date.parse(newest.time)).toBeGreaterThan(Date.parse(oldest.time))
    expect(newest).toMatchObject({files: 3, id: expect.stringMatching(/^[0-9a-f]{32}$/)})
    expect(oldest.files).toBe(2)

    const text = await cli(['backup', 'restore', alpha, '--list'])
    expect(String(text.stdout)).toMatch(/ID +TIME +SIZE +FILES/)
    expect(String(text.stdout)).toContain(newest.id)

    // Default: the newest.
    const toNewest = path.join(fx.hostDir, 'restore-newest')
    const r = await cli(['backup', 'restore', 'alpha', '--to', toNewest])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    expect(String(r.stdout)).toContain(`restored snapshot ${newest.id} of ${alpha}`)
    expect(String(r.stdout)).toContain(`into ${toNewest} on the host`)
    expect(await tree(toNewest)).toEqual(secondTree)

    // --snapshot with a prefix; --at the older one's time (at or before).
    const byId = path.join(fx.hostDir, 'restore-by-id')
    const r2 = await cli(['backup', 'restore', 'alpha', '--snapshot', oldest.id.slice(0, 10), '--to', byId, '--json'])
    expect(r2.exitCode, String(r2.stderr)).toBe(0)
    expect(json(r2.stdout)).toMatchObject({aside: null, mode: 'to', ok: true, scaled: [], snapshot: {id: oldest.id}, target: byId})
    expect(await tree(byId)).toEqual(firstTree)
    const byTime = path.join(fx.hostDir, 'restore-by-time')
    const r3 = await cli(['backup', 'restore', 'alpha', '--at', oldest.time, '--to', byTime, '--json'])
    expect(r3.exitCode, String(r3.stderr)).toBe(0)
    expect(json(r3.stdout).snapshot.id).toBe(oldest.id)
    expect(await tree(byTime)).toEqual(firstTree)

    // The live folder was never touched, and nothing was scaled.
    expect(await tree(alpha)).toEqual(secondTree)
    expect((await calls()).filter((a) => a[0] === 'scale')).toEqual([])
  }, 180_000)

  it('refuses a non-empty --to folder, the live source, a time before every snapshot (exit 3)', async () => {
    const full = path.join(fx.hostDir, 'restore-newest')
    const r = await cli(['backup', 'restore', 'alpha', '--to', full])
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain(`--to ${full}: the folder on the host is not empty`)
    const live = await cli(['backup', 'restore', 'alpha', '--to', alpha])
    expect(live.exitCode).toBe(3)
    expect(String(live.stderr)).toContain(`is the live backup source ${alpha}`)
    const early = await cli(['backup', 'restore', 'alpha', '--at', '2001-01-01', '--to', path.join(fx.hostDir, 'never')])
    expect(early.exitCode).toBe(3)
    expect(String(early.stderr)).toContain('has no snapshot at or before it')
    await expect(fs.stat(path.join(fx.hostDir, 'never'))).rejects.toThrow()
  }, 120_000)
})

describe('homelab backup restore in place', () => {
  let dumpSha: string
  let before: string[]

  it('no terminal and no --yes: exit 3 before anything changes; /etc/nixos-like sources only with --to', async () => {
    await fs.mkdir(vault, {recursive: true})
    await fs.chmod(vault, 0o755) // not storage.json's 0750 and owner: the restore sets them
    const db = path.join(vault, 'db.sqlite3')
    sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('a'), ('b');")
    await fs.mkdir(path.join(vault, 'attachments'))
    await fs.writeFile(path.join(vault, 'attachments/a.bin'), Buffer.alloc(2000, 3))
    // The real capture (sqlite mode) dumps the live database into .homelab-backup and leaves the
    // live file out of the snapshot (.kopiaignore).
    const run = await cli(['backup', 'run', '--source', vault])
    expect(run.exitCode, String(run.stdout)).toBe(0)
    dumpSha = await sha(path.join(vault, '.homelab-backup/sqlite/db.sqlite3'))
    // Life goes on after the snapshot.
    sqlite(db, "DELETE FROM t WHERE x = 'a'; INSERT INTO t VALUES ('later');")
    await fs.rm(path.join(vault, 'attachments/a.bin'))
    before = await tree(vault)

    await resetCalls()
    const r = await cli(['backup', 'restore', 'vault'])
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain('--yes is required to restore in place when not running in a terminal; nothing was changed')
    const j = await cli(['backup', 'restore', 'vault', '--json'])
    expect(j.exitCode).toBe(3)
    expect(json(j.stdout).error.message).toContain('--yes is required')
    expect(await calls()).toEqual([])
    expect(await tree(vault)).toEqual(before)
    expect(await asideFolders(vault)).toEqual([])

    const nixos = await cli(['backup', 'restore', extra, '--yes'])
    expect(nixos.exitCode).toBe(3)
    expect(String(nixos.stderr)).toContain(`${extra} is not an app folder: it restores only with --to PATH`)
  }, 180_000)

  it('a failing restore puts the data back byte for byte, scales back, one line with the state, exit 1', async () => {
    await resetCalls()
    await fs.writeFile(path.join(units.kopiaStandInDir, 'fail-restore'), 'no space left on device (stand-in)\n')
    try {
      const r = await cli(['backup', 'restore', 'vault', '--yes'])
      expect(r.exitCode).toBe(1)
      const errorLines = String(r.stderr).trim().split('\n')
      expect(errorLines).toEqual([
        `Error: vault: restore failed at restore: ERROR error restoring: no space left on device (stand-in); the previous data is back in ${vault} and the app is scaled back to 1`,
      ])
    } finally {
      await fs.rm(path.join(units.kopiaStandInDir, 'fail-restore'))
    }

    expect(await tree(vault)).toEqual(before)
    expect(await asideFolders(vault)).toEqual([])
    expect(scales(await calls())).toEqual(['deployment/vault=0', 'deployment/vault=1'])
  }, 180_000)

  it('sqlite app: scales to 0, moves aside, restores, owner and mode from storage.json, the live db is the dump, scales back', async () => {
    await resetCalls()
    const r = await cli(['backup', 'restore', 'vault', '--yes', '--json'])
    expect(r.exitCode, String(r.stderr) + String(r.stdout)).toBe(0)
    const result = json(r.stdout)
    expect(Object.keys(result).sort()).toEqual(['app', 'aside', 'failedStep', 'flux', 'mode', 'ok', 'reimported', 'scaled', 'schemaVersion', 'snapshot', 'source', 'state', 'target'].sort())
    expect(result).toMatchObject({
      app: 'vault',
      aside: expect.stringMatching(new RegExp(`^${vault}\\.aside-\\d{8}T\\d{6}Z$`)),
      failedStep: null,
      flux: {resumed: [], suspended: []},
      mode: 'in-place',
      ok: true,
      reimported: [{database: 'db.sqlite3', dump: '.homelab-backup/sqlite/db.sqlite3', kind: 'sqlite'}],
      scaled: [
        {from: 1, to: 0, workload: 'deployment/vault'},
        {from: 0, to: 1, workload: 'deployment/vault'},
      ],
      snapshot: {files: expect.any(Number), id: expect.stringMatching(/^[0-9a-f]{32}$/), size: expect.any(Number)},
      source: vault,
      target: vault,
    })
    expect(result.state).toContain(`vault: restored snapshot ${result.snapshot.id}`)
    expect(result.state).toContain('deployment/vault 1 Ready')

    // The stand-in kubectl saw: the list, scale to 0, the wait, then scale back to 1 and a rollout status.
    const argv = await calls()
    expect(scales(argv)).toEqual(['deployment/vault=0', 'deployment/vault=1'])
    const i0 = argv.findIndex((a) => a[0] === 'scale' && a.includes('--replicas=0'))
    const i1 = argv.findIndex((a) => a[0] === 'scale' && a.includes('--replicas=1'))
    expect(argv.slice(i0 + 1, i1).some((a) => a[0] === 'get' && a[1] === 'deployments,statefulsets')).toBe(true)
    expect(argv.slice(i1).some((a) => a[0] === 'rollout' && a[1] === 'status' && a[2] === 'deployment/vault')).toBe(true)
    expect(argv.every((a) => a.includes('vault') || a[0] !== 'scale')).toBe(true)

    // The live database is the dump, byte for byte, and opens; no WAL of the replaced file is left.
    const db = path.join(vault, 'db.sqlite3')
    expect(await sha(db)).toBe(dumpSha)
    expect(sqlite(db, 'SELECT x FROM t ORDER BY x')).toBe('a\nb')
    expect(sqlite(db, 'PRAGMA integrity_check')).toBe('ok')
    await expect(fs.stat(`${db}-wal`)).rejects.toThrow()
    await expect(fs.stat(`${db}-shm`)).rejects.toThrow()
    const dbStat = await fs.stat(db)
    expect([dbStat.uid, dbStat.gid]).toEqual([VAULT_OWNER.uid, VAULT_OWNER.gid])
    const dirStat = await fs.stat(vault)
    expect([dirStat.uid, dirStat.gid, (dirStat.mode & 0o7777).toString(8)]).toEqual([VAULT_OWNER.uid, VAULT_OWNER.gid, '750'])
    expect((await fs.readFile(path.join(vault, 'attachments/a.bin'))).length).toBe(2000)

    // The previous data is kept aside as it was.
    expect(await tree(result.aside)).toEqual(before)
  }, 180_000)

  it('--prune-aside lists the kept folders and removes them (--yes; exit 3 without it and a terminal)', async () => {
    const [aside] = await asideFolders(vault)
    expect(aside).toBeDefined()
    const refused = await cli(['backup', 'restore', 'vault', '--prune-aside'])
    expect(refused.exitCode).toBe(3)
    expect(String(refused.stderr)).toContain('--yes is required to remove aside folders')
    expect(await asideFolders(vault)).toEqual([aside])
    const r = await cli(['backup', 'restore', 'vault', '--prune-aside', '--yes'])
    expect(r.exitCode, String(r.stderr)).toBe(0)
    expect(String(r.stdout)).toMatch(new RegExp(`${path.join(path.dirname(vault), aside)} +\\d`))
    expect(String(r.stdout)).toContain(`✓ removed ${path.join(path.dirname(vault), aside)}`)
    expect(await asideFolders(vault)).toEqual([])
    const again = await cli(['backup', 'restore', 'vault', '--prune-aside', '--yes', '--json'])
    expect(json(again.stdout)).toEqual({schemaVersion: 1, ok: true, pruned: [], source: vault})
  }, 120_000)

  it('postgres app: the Postgres workload alone first, the dump streamed into pg_restore in its pod, then the rest; the rows are back', async () => {
    pg.psql('CREATE DATABASE appdb')
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');", 'appdb')
    await fs.mkdir(pgapp, {recursive: true})
    // The real capture (postgres mode) runs pg_dump through the stand-in kubectl's exec.
    const run = await cli(['backup', 'run', '--source', pgapp])
    expect(run.exitCode, String(run.stdout)).toBe(0)
    pg.psql("DELETE FROM items WHERE id < 3; INSERT INTO items VALUES (4, 'wrong');", 'appdb')
    expect(pg.psql('SELECT name FROM items ORDER BY id', 'appdb').trim()).toBe('three\nwrong')

    await resetCalls()
    const r = await cli(['backup', 'restore', 'pgapp', '--yes', '--json'])
    expect(r.exitCode, String(r.stderr) + String(r.stdout)).toBe(0)
    const result = json(r.stdout)
    expect(result).toMatchObject({ok: true, reimported: [{database: 'appdb', dump: '.homelab-backup/postgres/appdb.pgdump', kind: 'postgres'}]})
    expect(pg.psql('SELECT name FROM items ORDER BY id', 'appdb').trim()).toBe('one\ntwo\nthree')

    const argv = await calls()
    expect(scales(argv)).toEqual(['deployment/pgapp-server=0', 'statefulset/pgapp-postgres=0', 'statefulset/pgapp-postgres=1', 'deployment/pgapp-server=2'])
    const restoreCall = argv.findIndex((a) => a[0] === 'exec' && a.includes('pg_restore'))
    expect(argv[restoreCall]).toEqual(['exec', '-i', '-n', 'pgapp', 'statefulset/pgapp-postgres', '-c', 'postgres', '--', 'pg_restore', '--clean', '--if-exists', '--no-owner', '--single-transaction', '--exit-on-error', '-U', 'homelab', '-d', 'appdb'])
    const postgresUp = argv.findIndex((a) => a[0] === 'scale' && a[1] === 'statefulset/pgapp-postgres' && a.includes('--replicas=1'))
    const ready = argv.findIndex((a, i) => i > postgresUp && a[0] === 'rollout' && a[2] === 'statefulset/pgapp-postgres')
    const serverUp = argv.findIndex((a) => a[0] === 'scale' && a[1] === 'deployment/pgapp-server' && a.includes('--replicas=2'))
    expect(postgresUp).toBeGreaterThan(-1)
    expect(ready).toBeGreaterThan(postgresUp)
    expect(restoreCall).toBeGreaterThan(ready)
    expect(serverUp).toBeGreaterThan(restoreCall)
    // The cluster folder the capture leaves out is there again, empty, for a fresh cluster.
    const dataDir = await fs.stat(path.join(pgapp, 'postgres'))
    expect((dataDir.mode & 0o7777).toString(8)).toBe('700')
  }, 180_000)
})

describe('homelab backup restore in place: terminating pods and Flux', () => {
  const FLUX = {'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system'}
  const INFRA = {'kustomize.toolkit.fluxcd.io/name': 'infra', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system'}
  const kustomization = (name: string, suspend: boolean) => ({
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: {name, namespace: 'flux-system'},
    spec: {interval: '10m', path: `./${name}`, prune: true, sourceRef: {kind: 'GitRepository', name: 'flux-system'}, suspend},
  })
  type Live = {kind: string; metadata: {name: string}; spec?: {suspend?: boolean}; status?: {terminatingUntil?: string}}
  const liveObjects = async () => (JSON.parse(await fs.readFile(path.join(kubectlState(), 'objects.json'), 'utf8')) as {list: {items: Live[]}}).list.items
  const suspendPatches = (argv: string[][]) =>
    argv.flatMap((a, i) => (a[0] === 'patch' && a[1] === 'kustomization' ? [{i, name: a[2], suspend: JSON.parse(a[a.indexOf('-p') + 1]).spec.suspend as boolean}] : []))

  /** A fixture List of its own (the stand-in resets its live copy when the file changes), with `scenario` added to the base one. */
  async function cluster(name: string, items: unknown[], scenario: Record<string, string>) {
    const objects = path.join(host.hostRoot, `kubectl-objects-${name}.json`)
    await fs.writeFile(objects, JSON.stringify({apiVersion: 'v1', items, kind: 'List'}))
    await host.setScenario({...baseScenario, ...scenario, STANDIN_KUBECTL_OBJECTS: objects})
  }

  afterAll(async () => host?.setScenario(baseScenario))

  it('waits until the pods are gone, terminating ones included, before the data is moved aside', async () => {
    // status.replicas is 0 at once after the scale down; the pods stay 3 s, terminating.
    await cluster('grace', [workload('Deployment', 'alpha', 'alpha', 1)], {STANDIN_POD_GRACE_SECONDS: '3'})
    await resetCalls()
    const r = await cli(['backup', 'restore', 'alpha', '--yes', '--json'])
    expect(r.exitCode, String(r.stderr) + String(r.stdout)).toBe(0)
    const result = json(r.stdout)
    expect(result).toMatchObject({flux: {resumed: [], suspended: []}, ok: true})

    // The rename of the live folder (mv sets its ctime) came after the last pod was gone.
    const until = (await liveObjects()).find((o) => o.metadata.name === 'alpha')!.status!.terminatingUntil!
    expect(until).toBeDefined()
    const moved = (await fs.stat(result.aside, {bigint: true})).ctimeNs / 1_000_000n
    expect(Number(moved)).toBeGreaterThanOrEqual(Date.parse(until))
    // It listed the pods by the Deployment's selector.
    const argv = await calls()
    const down = argv.findIndex((a) => a[0] === 'scale' && a.includes('--replicas=0'))
    const podLists = argv.slice(down).filter((a) => a[0] === 'get' && a[1] === 'pods')
    expect(podLists[0]).toEqual(['get', 'pods', '-n', 'alpha', '-l', 'app.kubernetes.io/name=alpha', '-o', 'json'])
  }, 180_000)

  it('suspends the Flux Kustomization that would scale the app back up, resumes it after the scale back; one suspended before stays suspended', async () => {
    await cluster(
      'flux',
      [kustomization('apps', false), kustomization('infra', true), workload('Deployment', 'alpha', 'alpha', 1, FLUX), workload('Deployment', 'alpha', 'alpha-cache', 1, INFRA)],
      {STANDIN_FLUX_REVERTS_SCALE: '1', STANDIN_POD_GRACE_SECONDS: '1'},
    )
    await resetCalls()
    const r = await cli(['backup', 'restore', 'alpha', '--yes', '--json'])
    expect(r.exitCode, String(r.stderr) + String(r.stdout)).toBe(0)
    const result = json(r.stdout)
    const apps = {name: 'apps', namespace: 'flux-system'}
    expect(result).toMatchObject({failedStep: null, flux: {resumed: [apps], suspended: [apps]}, ok: true})
    expect(result.state).toContain('Flux Kustomization flux-system/apps suspended meanwhile and resumed')

    // Suspended before the first scale down, resumed after the last scale back; infra never touched.
    const argv = await calls()
    const patches = suspendPatches(argv)
    expect(patches.map(({name, suspend}) => ({name, suspend}))).toEqual([
      {name: 'apps', suspend: true},
      {name: 'apps', suspend: false},
    ])
    const scaleCalls = argv.flatMap((a, i) => (a[0] === 'scale' ? [i] : []))
    expect(patches[0].i).toBeLessThan(scaleCalls[0])
    expect(patches[1].i).toBeGreaterThan(scaleCalls.at(-1)!)
    // The app stayed at 0 meanwhile: Flux (the stand-in reverts on every call unless suspended)
    // would have put replicas back, and the restore would never have seen the pods gone.
    expect(scales(argv)).toEqual(['deployment/alpha=0', 'deployment/alpha-cache=0', 'deployment/alpha=1', 'deployment/alpha-cache=1'])
    const live = await liveObjects()
    expect(live.find((o) => o.metadata.name === 'apps')!.spec!.suspend).toBe(false)
    expect(live.find((o) => o.metadata.name === 'infra')!.spec!.suspend).toBe(true)
  }, 180_000)

  it('a failing restore resumes the Kustomization too, after scaling back; the text output names it', async () => {
    await cluster('flux-fail', [kustomization('apps', false), kustomization('infra', true), workload('Deployment', 'alpha', 'alpha', 1, FLUX)], {STANDIN_FLUX_REVERTS_SCALE: '1'})
    const before = await tree(alpha)
    await resetCalls()
    await fs.writeFile(path.join(units.kopiaStandInDir, 'fail-restore'), 'no space left on device (stand-in)\n')
    try {
      const r = await cli(['backup', 'restore', 'alpha', '--yes'])
      expect(r.exitCode).toBe(1)
      const errorLines = String(r.stderr).trim().split('\n')
      expect(errorLines).toHaveLength(1)
      expect(errorLines[0]).toContain(`alpha: restore failed at restore: ERROR error restoring: no space left on device (stand-in); the previous data is back in ${alpha} and the app is scaled back to 1`)
      expect(errorLines[0]).toContain('; Flux Kustomization flux-system/apps suspended meanwhile and resumed')
      expect(String(r.stdout)).toContain('flux       Kustomization flux-system/apps: suspended meanwhile')
    } finally {
      await fs.rm(path.join(units.kopiaStandInDir, 'fail-restore'))
    }

    expect(await tree(alpha)).toEqual(before)
    const argv = await calls()
    const patches = suspendPatches(argv)
    expect(patches.map(({name, suspend}) => ({name, suspend}))).toEqual([
      {name: 'apps', suspend: true},
      {name: 'apps', suspend: false},
    ])
    expect(scales(argv)).toEqual(['deployment/alpha=0', 'deployment/alpha=1'])
    expect(patches[1].i).toBeGreaterThan(argv.findLastIndex((a) => a[0] === 'scale'))
    const live = await liveObjects()
    expect(live.find((o) => o.metadata.name === 'apps')!.spec!.suspend).toBe(false)
    expect(live.find((o) => o.metadata.name === 'infra')!.spec!.suspend).toBe(true)
  }, 180_000)
})
