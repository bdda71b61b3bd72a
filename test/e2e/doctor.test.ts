import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab doctor` against the e2e test host: real sshd, sudo, git over the forge (deploy's fetch
 * check), real df; Flux/k3s state from the kubectl stand-in, backup units from the systemctl
 * stand-in, backup state files as the host's scripts leave them. All green first, then each ✗
 * planted once.
 */
let host: TestHost
let repo: TestRepo
let keyFile: string
let hostKeyDir: string
const HOST_KEY_FILE = '/var/lib/sops-nix/key.txt'
const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const objectsFile = () => path.join(host.hostRoot, 'flux-objects.json')
const unitsDir = () => path.join(host.binDir, 'systemd-standin', 'units')
const BACKUP_UNITS = ['kopia-backup', 'kopia-r2-sync', 'homelab-backup-drill'].flatMap((u) => [`${u}.timer`, `${u}.service`])
const cliEnv = (extra: Record<string, string> = {}) => ({...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword, SOPS_AGE_KEY_FILE: keyFile, ...extra})

/** Flux's four controllers as Deployments in flux-system (the fields of apps/v1 that are read), all ready. */
const controllers = ['source-controller', 'kustomize-controller', 'helm-controller', 'notification-controller'].map((name) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {labels: {'app.kubernetes.io/part-of': 'flux'}, name, namespace: 'flux-system'},
  spec: {replicas: 1, selector: {matchLabels: {app: name}}},
  status: {availableReplicas: 1, readyReplicas: 1, replicas: 1},
}))

/** The cluster: the healthy Flux fixture at HEAD, the controllers, the Secret flux-system/sops-age holding `agekey`; `edit` changes the List. */
async function cluster(agekey: string, edit: (items: Array<Record<string, any>>) => void = () => {}) {
  const commit = await repo.git(['rev-parse', 'HEAD'])
  const list = JSON.parse(azalabFixture('healthy', {commit, previous: commit})) as {items: Array<Record<string, any>>}
  list.items.push(...controllers, {apiVersion: 'v1', data: {'age.agekey': Buffer.from(agekey).toString('base64')}, kind: 'Secret', metadata: {name: 'sops-age', namespace: 'flux-system'}, type: 'Opaque'})
  edit(list.items)
  await fs.writeFile(objectsFile(), JSON.stringify(list))
  await fs.rm(path.join(host.hostRoot, 'kubectl-state'), {force: true, recursive: true})
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
}

/** Backups as the host's backup scripts leave them after a good night (as in status.test.ts). */
async function goodBackups() {
  const stateDir = path.join(host.hostRoot, 'backup-state')
  const storageRoot = path.join(host.hostRoot, 'srv')
  await fs.mkdir(stateDir, {recursive: true})
  await fs.mkdir(storageRoot, {recursive: true})
  const backupFile = path.join(repo.dir, 'nixos/backup.json')
  await fs.writeFile(backupFile, JSON.stringify({...JSON.parse(await fs.readFile(backupFile, 'utf8')), stateDir}, null, 2))
  const yamlFile = path.join(repo.dir, 'homelab.yaml')
  await fs.writeFile(yamlFile, (await fs.readFile(yamlFile, 'utf8')).replace(/root: \/srv/, `root: ${storageRoot}`))
  const storage = JSON.parse(await fs.readFile(path.join(repo.dir, 'nixos/storage.json'), 'utf8')) as {apps: Array<{path: string}>; extraBackupSources: string[]}
  const [template] = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'test/fixtures/kopia/snapshot-list.json'), 'utf8'))
  const end = new Date(Date.now() - 3_600_000).toISOString()
  const start = new Date(Date.now() - 3_660_000).toISOString()
  const snapshots = [...storage.apps.map((a) => a.path), ...storage.extraBackupSources].map((p, i) => ({
    ...template, endTime: end, id: `e2e${String(i).padStart(29, '0')}`, source: {...template.source, host: repo.hostName, path: p, userName: 'root'}, startTime: start,
  }))
  await fs.writeFile(path.join(stateDir, 'snapshots.json'), JSON.stringify(snapshots))
  await fs.writeFile(path.join(stateDir, 'last-sync.json'), JSON.stringify({bucket: 'azalab-kopia', end, endpoint: 'e', error: null, exitCode: 0, prefix: 'kopia/', result: 'success', start, version: 1}))
}

type Report = {ok: boolean; checks: Array<{id: string; status: string; detail: string; fix: string | null}>}
const statusOf = (report: Report) => Object.fromEntries(report.checks.map((c) => [c.id, c.status]))
const failed = (report: Report) => report.checks.filter((c) => c.status === 'fail').map((c) => c.id)

async function doctor(env: Record<string, string> = {}) {
  const r = await runCli(['doctor', '--json'], {cwd: repo.dir, env: cliEnv(env)})
  return {...r, report: JSON.parse(r.stdout) as Report}
}

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']})
  repo = await host.homelabRepo({nixos: true})
  const demo = await fs.readFile(DEMO_KEY, 'utf8')
  keyFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-doctor-')), 'keys.txt')
  await fs.writeFile(keyFile, demo, {mode: 0o600})
  // The host's age identity (sops-nix's key file; the bundled homelab encrypts its host secrets to
  // the demo key), root-only and visible only inside the host's mount namespace: a private bind
  // mount over /var/lib/sops-nix, so this machine's own /var/lib/sops-nix is never touched.
  hostKeyDir = path.join(host.hostRoot, 'sops-nix')
  await fs.mkdir(hostKeyDir, {mode: 0o700})
  await host.runOnHost(`mkdir -p ${path.dirname(HOST_KEY_FILE)} && mount --bind ${hostKeyDir} ${path.dirname(HOST_KEY_FILE)}`)
  await fs.writeFile(path.join(hostKeyDir, path.basename(HOST_KEY_FILE)), demo, {mode: 0o600})
  await fs.mkdir(unitsDir(), {recursive: true})
  for (const unit of BACKUP_UNITS) await fs.writeFile(path.join(unitsDir(), unit), `[Unit]\nDescription=${unit} (nixos/backup.nix)\n`)
  await goodBackups()
  await repo.git(['commit', '-qam', 'doctor test: backup state and storage root on the test host'])
  await repo.git(['push', '-q', 'origin', 'main'])
  await cluster(demo)
}, 300_000)

afterAll(async () => {
  await host?.stop()
})

describe('homelab doctor (e2e)', () => {
  it('all green on the test host: exit 0, every check ok, JSON matches schemas/doctor.schema.json', async () => {
    const r = await doctor()
    expect(r.stderr).toBe('')
    expect(failed(r.report)).toEqual([])
    expect(r.report.checks.every((c) => c.status === 'ok')).toBe(true)
    expect(r.exitCode).toBe(0)
    expectMatchesSchema('doctor', r.report)
    // The identities are compared by recipient; the key itself is never printed.
    const text = await runCli(['doctor'], {cwd: repo.dir, env: cliEnv()})
    expect(text.exitCode).toBe(0)
    expect(text.stdout).not.toContain('AGE-SECRET-KEY')
    expect(text.stdout).toContain('✓ Secret flux-system/sops-age holds the host identity: same identity as the host (age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6)')
    expect(text.stdout).toMatch(/all 17 checks passed$/)
  }, 300_000)

  it('✗ key file mode 0644: the fix is chmod 600, the rest still runs', async () => {
    await fs.chmod(keyFile, 0o644)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['sops-key-mode'])
      expect(r.report.checks.find((c) => c.id === 'sops-key-mode')!.fix).toBe(`chmod 600 ${keyFile}`)
      expect(statusOf(r.report)['disk-boot']).toBe('ok')
    } finally {
      await fs.chmod(keyFile, 0o600)
    }
  }, 300_000)

  it('✗ wrong pinned host key: refused before login, host checks skipped, exit 1', async () => {
    const knownHosts = path.join(repo.dir, 'known_hosts')
    const pinned = await fs.readFile(knownHosts, 'utf8')
    const other = path.join(path.dirname(keyFile), 'other')
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
    const otherKey = (await fs.readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')
    await fs.writeFile(knownHosts, `${host.knownHostsLine.split(' ')[0]} ${otherKey}\n`)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['host-key'])
      expect(r.report.checks.find((c) => c.id === 'host-key')!.detail).toContain('HOST KEY CHANGED')
      expect(statusOf(r.report)['ssh-login']).toBe('skip')
      expect(statusOf(r.report)['k3s-nodes']).toBe('skip')
      expect(statusOf(r.report)['sops-decrypt']).toBe('ok')
    } finally {
      await fs.writeFile(knownHosts, pinned)
    }
  }, 300_000)

  it('✗ sudo password rejected: sudo fails, the checks that need it are skipped or say why', async () => {
    const r = await doctor({HOMELAB_SUDO_PASSWORD: 'not-the-password'})
    expect(r.exitCode).toBe(1)
    const sudo = r.report.checks.find((c) => c.id === 'sudo')!
    expect([sudo.status, sudo.detail]).toEqual(['fail', expect.stringContaining('the password was rejected')])
    expect(statusOf(r.report)['repo-fetch']).toBe('skip')
    expect(statusOf(r.report)['host-age-key']).toBe('skip')
    expect(statusOf(r.report)['ssh-login']).toBe('ok')
    expect(statusOf(r.report)['backup-units']).toBe('ok')
  }, 300_000)

  it('✗ a node NotReady', async () => {
    await cluster(await fs.readFile(DEMO_KEY, 'utf8'), (items) => {
      const node = items.find((o) => o.kind === 'Node')!
      node.status.conditions = node.status.conditions.map((c: {type: string}) => (c.type === 'Ready' ? {...c, message: 'Kubelet stopped posting node status.', reason: 'NodeStatusUnknown', status: 'Unknown'} : c))
    })
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['k3s-nodes'])
      expect(r.report.checks.find((c) => c.id === 'k3s-nodes')!.detail).toContain('node azalab-0 is not Ready (Unknown: Kubelet stopped posting node status.)')
    } finally {
      await cluster(await fs.readFile(DEMO_KEY, 'utf8'))
    }
  }, 300_000)

  it('✗ a missing backup unit', async () => {
    const unit = path.join(unitsDir(), 'kopia-r2-sync.timer')
    await fs.rm(unit)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['backup-units'])
      expect(r.report.checks.find((c) => c.id === 'backup-units')!.detail).toBe('not installed: kopia-r2-sync.timer (not-found)')
    } finally {
      await fs.writeFile(unit, '[Unit]\nDescription=kopia-r2-sync.timer (nixos/backup.nix)\n')
    }
  }, 300_000)

  it('✗ the cluster Secret holds another identity than the host (named by recipient only)', async () => {
    const {generateIdentity} = await import('../../src/lib/age/identities.js')
    const other = await generateIdentity()
    await cluster(`${other.identity}\n`)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['cluster-sops-age'])
      expect(r.report.checks.find((c) => c.id === 'cluster-sops-age')!.detail).toBe(`Secret flux-system/sops-age holds ${other.recipient}, the host age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6`)
      expect(r.stdout).not.toContain(other.identity)
    } finally {
      await cluster(await fs.readFile(DEMO_KEY, 'utf8'))
    }
  }, 300_000)
})
