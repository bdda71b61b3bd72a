import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {writeGoodBackups} from './host/backup-state.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab map --check` against the e2e test host: real sshd and sudo, real folders with real
 * owners and modes under the host's storage root, the backup state the host's scripts leave
 * (snapshots.json), and the cluster from the kubectl stand-in replaying a List built from the
 * repository's own manifests (`kubectl kustomize`, real) with the status the API would report.
 * Then drift is planted: a workload not in the repository, a missing host folder, a PV not Bound.
 */
let host: TestHost
let repo: TestRepo
let storageRoot: string
type Obj = {apiVersion: string; kind: string; metadata: {name: string; namespace?: string; labels?: Record<string, string>}; spec?: Record<string, unknown>; status?: Record<string, unknown>; [k: string]: unknown}
let objects: Obj[]
const CLUSTER = 'flux/clusters/azalab-0'
const objectsFile = () => path.join(host.hostRoot, 'cluster-objects.json')
const stateDir = () => path.join(host.hostRoot, 'kubectl-state')
const cliEnv = () => ({...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword})

/** The cluster as the API serves it once Flux applied the repository: workloads Ready, PVs Bound, Endpoints per Service. */
async function liveObjects(): Promise<Obj[]> {
  const built: Obj[] = []
  for (const dir of [`${CLUSTER}/manifests/apps`, `${CLUSTER}/manifests/cluster`]) {
    const {stdout} = await execa('kubectl', ['kustomize', path.join(repo.dir, dir)])
    for (const doc of parseAllDocuments(stdout)) built.push(doc.toJS() as Obj)
  }

  const out: Obj[] = []
  for (const o of built) {
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
      const n = (o.spec?.replicas as number | undefined) ?? 1
      out.push({...o, status: {availableReplicas: n, readyReplicas: n, replicas: n}})
    } else if (o.kind === 'PersistentVolume') out.push({...o, status: {phase: 'Bound'}})
    else if (o.kind === 'PersistentVolumeClaim') out.push({...o, status: {phase: 'Bound'}})
    else if (o.kind === 'Service') {
      out.push({...o, spec: {...o.spec, clusterIP: '10.43.0.10'}})
      const ports = ((o.spec?.ports ?? []) as Array<{name?: string; port: number; targetPort?: unknown}>).map((p) => ({name: p.name, port: typeof p.targetPort === 'number' ? p.targetPort : p.port, protocol: 'TCP'}))
      out.push({apiVersion: 'v1', kind: 'Endpoints', metadata: {name: o.metadata.name, namespace: o.metadata.namespace}, subsets: [{addresses: [{ip: '10.42.0.17', targetRef: {kind: 'Pod', name: `${o.metadata.name}-0`, namespace: o.metadata.namespace}}], ports}]})
    }
  }

  // k3s's own workloads: never drift.
  out.push({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'coredns', namespace: 'kube-system'}, spec: {replicas: 1}, status: {readyReplicas: 1, replicas: 1}})
  return out
}

async function scenario(items: Obj[]) {
  await fs.rm(stateDir(), {force: true, recursive: true})
  await fs.writeFile(objectsFile(), JSON.stringify({apiVersion: 'v1', items, kind: 'List'}))
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: stateDir()})
}

/** The repository's storage root moved under the host's temp folder (homelab.yaml, storage file, PVs); folders with their owner and mode. */
async function storageOnHost() {
  storageRoot = path.join(host.hostRoot, 'srv')
  for (const rel of ['homelab.yaml', 'nixos/storage.json', `${CLUSTER}/manifests/cluster/persistent-volumes.yaml`]) {
    const file = path.join(repo.dir, rel)
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replaceAll(/(?<=[\s"])\/srv(?=[/\s"])/g, storageRoot))
  }

  await fs.mkdir(storageRoot, {mode: 0o755, recursive: true})
  const storage = JSON.parse(await fs.readFile(path.join(repo.dir, 'nixos/storage.json'), 'utf8')) as {apps: Array<{path: string; uid: number; gid: number; mode: string}>; extraBackupSources: string[]}
  for (const a of storage.apps) {
    await fs.mkdir(a.path)
    await fs.chown(a.path, a.uid, a.gid)
    await fs.chmod(a.path, Number.parseInt(a.mode, 8))
  }

  // The backup state after a good night: one snapshot per source.
  await writeGoodBackups(host, repo)
}

beforeAll(async () => {
  host = await startTestHost({standIns: ['k3s', 'kubectl', 'systemctl']})
  repo = await host.homelabRepo()
  await storageOnHost()
  objects = await liveObjects()
}, 180_000)

afterAll(async () => {
  await host?.stop()
})

describe('homelab map --check (e2e)', () => {
  it('clean: the live host matches the map, exit 0, one SSH connection; --json has the documented shape', async () => {
    await scenario(objects)
    const before = await host.connections()
    const r = await runCli(['map', '--check'], {cwd: repo.dir, env: cliEnv()})
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe(`✓ ${repo.hostName} matches the map of the repository`)
    expect(r.exitCode).toBe(0)
    expect(await host.connections()).toBe(before + 1)
    const json = await runCli(['map', '--check', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(json.exitCode).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({host: repo.hostName, mismatches: [], ok: true, schemaVersion: 1})
  }, 180_000)

  it('planted drift: a workload not in the repository, a missing host folder, a PV not Bound, a stray folder, a hostname without endpoints: one line each, exit 1', async () => {
    const drifted = structuredClone(objects)
    drifted.push({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'miner', namespace: 'default'}, spec: {replicas: 1}, status: {readyReplicas: 1, replicas: 1}})
    drifted.find((o) => o.kind === 'PersistentVolume' && o.metadata.name === 'vaultwarden-data')!.status = {phase: 'Released'}
    drifted.find((o) => o.kind === 'Endpoints' && o.metadata.name === 'immich-server')!.subsets = []
    await scenario(drifted)
    const tuwunel = path.join(storageRoot, 'tuwunel')
    const stray = path.join(storageRoot, 'old-app')
    await fs.rm(tuwunel, {recursive: true})
    await fs.mkdir(stray)
    try {
      const r = await runCli(['map', '--check'], {cwd: repo.dir, env: cliEnv()})
      expect(r.exitCode).toBe(1)
      expect(r.stdout.split('\n').filter(Boolean)).toEqual([
        '✗ hostname photos.aza.network → Service immich/immich-server: no ready endpoints in the cluster (no pod of it is Ready)',
        '✗ PersistentVolume vaultwarden-data (app vaultwarden): the repository binds it to claim vaultwarden/vaultwarden-data; in the cluster it is Released, not Bound',
        `✗ host folder ${tuwunel} (app tuwunel): in the repository, missing on ${repo.hostName}`,
        '✗ Deployment default/miner: runs in the cluster, no app in the repository declares it',
        `✗ folder ${stray} on ${repo.hostName}: under the storage root, belongs to no app of the repository (not in the storage file or a PersistentVolume)`,
        `5 mismatches between the repository and ${repo.hostName}`,
      ])
      const json = await runCli(['map', '--check', '--json'], {cwd: repo.dir, env: cliEnv()})
      expect(json.exitCode).toBe(1)
      const report = JSON.parse(json.stdout) as {ok: boolean; mismatches: Array<{kind: string; app: string | null}>}
      expect(report.ok).toBe(false)
      expect(report.mismatches.map((m) => `${m.kind}:${m.app}`)).toEqual(['endpoints:immich', 'volume:vaultwarden', 'folder:tuwunel', 'workload:null', 'stray-folder:null'])
    } finally {
      await fs.rm(stray, {recursive: true, force: true})
      await fs.mkdir(tuwunel)
      await fs.chown(tuwunel, 1000, 1000)
      await fs.chmod(tuwunel, 0o750)
    }
  }, 180_000)

  it('a folder with the wrong owner or mode, a Service port and a snapshot missing: named with both sides', async () => {
    const drifted = structuredClone(objects)
    const svc = drifted.find((o) => o.kind === 'Service' && o.metadata.name === 'libsql')!
    svc.spec = {...svc.spec, ports: [{name: 'http', port: 9090, protocol: 'TCP', targetPort: 8080}]}
    await scenario(drifted)
    const kopia = path.join(storageRoot, 'kopia')
    await fs.chown(kopia, 0, 0)
    await fs.chmod(kopia, 0o755)
    const snapshots = path.join(host.hostRoot, 'backup-state', 'snapshots.json')
    const saved = await fs.readFile(snapshots, 'utf8')
    await fs.writeFile(snapshots, JSON.stringify((JSON.parse(saved) as Array<{source: {path: string}}>).filter((s) => !s.source.path.endsWith('/zeroclaw'))))
    try {
      const r = await runCli(['map', '--check'], {cwd: repo.dir, env: cliEnv()})
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain("✗ Service libsql/libsql port 8080: in the repository; the cluster's Service has port 9090\n")
      expect(r.stdout).toContain(`✗ host folder ${kopia} (app kopia): the storage file says 65532:65532 mode 0750; on ${repo.hostName} it is 0:0 mode 0755\n`)
      expect(r.stdout).toContain(`✗ backup source ${path.join(storageRoot, 'zeroclaw')}: in the repository, no snapshot of it in the Kopia repository on ${repo.hostName}\n`)
      expect(r.stdout).toContain(`3 mismatches between the repository and ${repo.hostName}`)
    } finally {
      await fs.writeFile(snapshots, saved)
      await fs.chown(kopia, 65_532, 65_532)
      await fs.chmod(kopia, 0o750)
    }
  }, 180_000)
})
