import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {writeGoodBackups} from './host/backup-state.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab doctor` against the e2e test host: real sshd, sudo, git over the forge (deploy's fetch
 * check), real df; Flux/k3s state from the kubectl stand-in, backup units from the systemctl
 * stand-in, backup state files as the host's scripts leave them. All green first, then each ✗
 * planted once, one test per check id of src/lib/diagnose/doctor/types.ts (each restores what it
 * changed in a finally, so the last test finds the host green again). Disk space is planted with
 * small tmpfs mounts inside the test host's private mount namespace (never on this machine).
 */
let host: TestHost
let repo: TestRepo
let keyFile: string
let hostKeyDir: string
const HOST_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
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


type Report = {ok: boolean; checks: Array<{id: string; status: string; detail: string; fix: string | null}>}
const statusOf = (report: Report) => Object.fromEntries(report.checks.map((c) => [c.id, c.status]))
const failed = (report: Report) => report.checks.filter((c) => c.status === 'fail').map((c) => c.id)
const checkOf = (report: Report, id: string) => report.checks.find((c) => c.id === id)!
/** No check was skipped: a planted ✗ did not stop the checks after it. */
const noneSkipped = (report: Report) => expect(report.checks.filter((c) => c.status === 'skip').map((c) => c.id)).toEqual([])

/** A fresh age identity (a file of mode 0600 in the test's temp folder). */
async function otherIdentity() {
  const {generateIdentity} = await import('../../src/lib/age/identities.js')
  const other = await generateIdentity()
  const file = path.join(path.dirname(keyFile), `other-${other.recipient.slice(-8)}.agekey`)
  await fs.writeFile(file, `# another operator's key\n${other.identity}\n`, {mode: 0o600})
  return {...other, file}
}

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
  await writeGoodBackups(host, repo, {moveStorageRoot: true})
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

  it('✗ no sops key file: exists ✗ with where to put it; without a key the SOPS checks cannot run, so they ✗ too', async () => {
    const missing = path.join(path.dirname(keyFile), 'no-such-keys.txt')
    const r = await doctor({SOPS_AGE_KEY_FILE: missing})
    expect(r.exitCode).toBe(1)
    // sops-decrypt cannot pass without an identity. sops-recipients needs no key, but
    // offlineChecks loads the identities before both and reports a load error on both (same line).
    expect(failed(r.report)).toEqual(['sops-key-file', 'sops-decrypt', 'sops-recipients'])
    expect(checkOf(r.report, 'sops-recipients').detail).toBe(checkOf(r.report, 'sops-decrypt').detail)
    expect(checkOf(r.report, 'sops-decrypt').fix).toBe('run `homelab secrets check` for details')
    expect(checkOf(r.report, 'sops-key-file')).toMatchObject({detail: `${missing} does not exist`, fix: 'put your age identity there (homelab init makes one; `homelab secrets rotate-key` replaces it), or point SOPS_AGE_KEY_FILE at it'})
    expect(statusOf(r.report)['sops-key-mode']).toBe('skip')
    expect(r.report.checks.filter((c) => c.status === 'skip').map((c) => c.id)).toEqual(['sops-key-mode'])
    expect(statusOf(r.report)['host-age-key']).toBe('ok')
  }, 300_000)

  it('✗ a sops key that is not a recipient: decrypt ✗ names each file, the fix names SOPS_AGE_KEY_FILE', async () => {
    const other = await otherIdentity()
    const r = await doctor({SOPS_AGE_KEY_FILE: other.file})
    expect(r.exitCode).toBe(1)
    expect(failed(r.report)).toEqual(['sops-decrypt'])
    const check = checkOf(r.report, 'sops-decrypt')
    expect(check.detail).toContain('nixos/secrets/host-secrets.sops.yaml: none of your identities is a recipient')
    expect(check.fix).toBe('use the key the files are encrypted to (SOPS_AGE_KEY_FILE), or have a recipient add yours (.sops.yaml, then `homelab secrets updatekeys`)')
    expect(checkOf(r.report, 'sops-key-file').detail).toBe(`${other.file}: ${other.recipient}`)
    noneSkipped(r.report)
  }, 300_000)

  it('✗ .sops.yaml names a recipient the host secrets are not encrypted to', async () => {
    const other = await otherIdentity()
    const sopsYaml = path.join(repo.dir, '.sops.yaml')
    const before = await fs.readFile(sopsYaml, 'utf8')
    // Only the host-secrets rule (the first `age:` line) gets the new recipient.
    await fs.writeFile(sopsYaml, before.replace(`age: ${HOST_RECIPIENT}`, `age: ${other.recipient}`))
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['sops-recipients'])
      const check = checkOf(r.report, 'sops-recipients')
      expect(check.detail).toContain('nixos/secrets/host-secrets.sops.yaml')
      expect(check.detail).toContain(other.recipient)
      expect(check.fix).toBe('run `homelab secrets check` and follow each line (usually `homelab secrets updatekeys FILE`)')
      noneSkipped(r.report)
    } finally {
      await fs.writeFile(sopsYaml, before)
    }
  }, 300_000)

  it('✗ SSH login refused (a user the host does not have): host key still ✓, the host checks skipped', async () => {
    const yamlFile = path.join(repo.dir, 'homelab.yaml')
    const before = await fs.readFile(yamlFile, 'utf8')
    expect(before).toContain(`ssh: ${host.alias}\n`)
    await fs.writeFile(yamlFile, before.replace(`ssh: ${host.alias}\n`, `ssh: nobody-here@${host.alias}\n`))
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['ssh-login'])
      const check = checkOf(r.report, 'ssh-login')
      expect(check.detail).toMatch(/authentication failed/)
      expect(check.fix).toEqual(expect.any(String))
      expect(statusOf(r.report)['host-key']).toBe('ok')
      expect(statusOf(r.report)['sops-decrypt']).toBe('ok')
      for (const id of ['sudo', 'repo-fetch', 'k3s-nodes', 'backup-runs', 'disk-boot']) expect(statusOf(r.report)[id]).toBe('skip')
    } finally {
      await fs.writeFile(yamlFile, before)
    }
  }, 300_000)

  it("✗ the host cannot fetch the homelab repository (its deploy key moved aside): ssh's reason and the key to add", async () => {
    const deployKey = '/run/secrets/git/deploy_key'
    await host.runOnHost(`mv ${deployKey} ${deployKey}.aside`)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['repo-fetch'])
      expect(checkOf(r.report, 'repo-fetch')).toMatchObject({
        detail: `the host cannot fetch ${repo.inputUrl} (flake input homelab) as root: Permission denied (publickey)`,
        fix: `add the host's deploy key (public key: not present at ${deployKey}: run homelab host install) as a read-only deploy key of ${host.forgeUrl(repo.remote)}`,
      })
      noneSkipped(r.report)
    } finally {
      await host.runOnHost(`mv ${deployKey}.aside ${deployKey}`)
    }
  }, 300_000)

  it('✗ the host age key (and the cluster Secret, rotated with it) does not decrypt the host secrets', async () => {
    const other = await otherIdentity()
    const hostKey = path.join(hostKeyDir, path.basename(HOST_KEY_FILE))
    const demo = await fs.readFile(DEMO_KEY, 'utf8')
    // Both sides hold the new identity, so only the host secrets (still encrypted to the demo key) disagree.
    await fs.writeFile(hostKey, `${other.identity}\n`, {mode: 0o600})
    await cluster(`${other.identity}\n`)
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['host-age-key'])
      expect(checkOf(r.report, 'host-age-key')).toMatchObject({
        detail: `host identity ${other.recipient}: nixos/secrets/host-secrets.sops.yaml is not encrypted to it`,
        fix: 'add the host recipient to the host-secrets rule of .sops.yaml, then `homelab secrets updatekeys`',
      })
      expect(statusOf(r.report)['cluster-sops-age']).toBe('ok')
      expect(r.stdout).not.toContain(other.identity)
      noneSkipped(r.report)
    } finally {
      await fs.writeFile(hostKey, demo, {mode: 0o600})
      await cluster(demo)
    }
  }, 300_000)

  it('✗ k3s API unreachable: nodes, Flux controllers, Flux source and the cluster Secret ✗ with kubectl\'s words', async () => {
    await host.setScenario({STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state'), STANDIN_KUBECTL_UNREACHABLE: '1'})
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      // Every check that asks the API server fails; the rest still ran.
      expect(failed(r.report)).toEqual(['cluster-sops-age', 'k3s-nodes', 'flux-controllers', 'flux-source'])
      const nodes = checkOf(r.report, 'k3s-nodes')
      expect(nodes.detail).toContain('The connection to the server 127.0.0.1:6443 was refused')
      expect(nodes.fix).toBe('check k3s on the host: `homelab host logs k3s --since 1h`, `homelab host units --failed`')
      expect(statusOf(r.report)['backup-runs']).toBe('ok')
      noneSkipped(r.report)
    } finally {
      await cluster(await fs.readFile(DEMO_KEY, 'utf8'))
    }
  }, 300_000)

  it('✗ a Flux controller not ready', async () => {
    await cluster(await fs.readFile(DEMO_KEY, 'utf8'), (items) => {
      const i = items.findIndex((o) => o.kind === 'Deployment' && o.metadata.name === 'kustomize-controller')
      items[i] = {...items[i], status: {availableReplicas: 0, readyReplicas: 0, replicas: 1, unavailableReplicas: 1}}
    })
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['flux-controllers'])
      expect(checkOf(r.report, 'flux-controllers')).toMatchObject({
        detail: 'kustomize-controller has 0/1 ready',
        fix: 'read why: `homelab host exec --sudo -- k3s kubectl -n flux-system describe deployment NAME`',
      })
      noneSkipped(r.report)
    } finally {
      await cluster(await fs.readFile(DEMO_KEY, 'utf8'))
    }
  }, 300_000)

  it('✗ the GitRepository cannot fetch (the fetch-failure fixture\'s GitRepository)', async () => {
    const commit = await repo.git(['rev-parse', 'HEAD'])
    const failing = (JSON.parse(azalabFixture('fetch-failure', {commit, previous: commit})) as {items: Array<Record<string, any>>}).items.find((o) => o.kind === 'GitRepository')!
    await cluster(await fs.readFile(DEMO_KEY, 'utf8'), (items) => {
      const i = items.findIndex((o) => o.kind === 'GitRepository' && o.metadata.name === failing.metadata.name)
      items[i] = failing
    })
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['flux-source'])
      const check = checkOf(r.report, 'flux-source')
      expect(check.detail).toContain(`GitRepository flux-system/${failing.metadata.name} is not Ready:`)
      expect(check.detail).toContain('knownhosts: key mismatch')
      expect(check.fix).toBe('fix what the message says (often the deploy key: `homelab cluster bootstrap`), then `homelab reconcile`')
      noneSkipped(r.report)
    } finally {
      await cluster(await fs.readFile(DEMO_KEY, 'utf8'))
    }
  }, 300_000)

  it('✗ stale backups: the newest snapshots are 10 days old', async () => {
    const file = path.join(host.hostRoot, 'backup-state', 'snapshots.json')
    const before = await fs.readFile(file, 'utf8')
    const old = new Date(Date.now() - 10 * 86_400_000)
    const snapshots = (JSON.parse(before) as Array<Record<string, unknown>>).map((s) => ({...s, endTime: old.toISOString(), startTime: new Date(old.getTime() - 60_000).toISOString()}))
    await fs.writeFile(file, JSON.stringify(snapshots))
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['backup-runs'])
      const check = checkOf(r.report, 'backup-runs')
      expect(check.detail).toMatch(/newest snapshot is .* old \(stale after /)
      expect(check.fix).toBe('see `homelab backup status`; run one now with `homelab backup run`')
      noneSkipped(r.report)
    } finally {
      await fs.writeFile(file, before)
    }
  }, 300_000)

  it('✗ disk space: a full filesystem under the storage root, a full /boot (small tmpfs mounts inside the host\'s private mount namespace)', async () => {
    // The test host's sshd runs in its own mount namespace (unshare --mount, propagation private):
    // these mounts exist only there, as the bind mount over /var/lib/sops-nix in beforeAll.
    const storageRoot = path.join(host.hostRoot, 'srv')
    const escaped = storageRoot.replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`)
    const fill = (dir: string) => `mount -t tmpfs -o size=1m tmpfs ${dir} && dd if=/dev/zero of=${dir}/fill bs=1k count=1000 2>/dev/null; true`
    await host.runOnHost(fill(storageRoot))
    await host.runOnHost(fill('/boot'))
    try {
      const r = await doctor()
      expect(r.exitCode).toBe(1)
      expect(failed(r.report)).toEqual(['disk-storage', 'disk-boot'])
      expect(checkOf(r.report, 'disk-storage').detail).toMatch(new RegExp(`^${escaped} \\(on ${escaped}\\) (9\\d|100)% used, 0\\.0 GiB free$`))
      expect(checkOf(r.report, 'disk-storage').fix).toBe(`free space on ${storageRoot} (app data, or Kopia's cache)`)
      expect(checkOf(r.report, 'disk-boot').detail).toMatch(/^\/boot \(on \/boot\) (9\d|100)% used/)
      expect(checkOf(r.report, 'disk-boot').fix).toBe('free space on /boot (old generations: `homelab host exec --sudo -- nix-collect-garbage --delete-older-than 14d`, then `homelab deploy`)')
      noneSkipped(r.report)
    } finally {
      await host.runOnHost(`umount ${storageRoot}; umount /boot`)
    }
  }, 300_000)

  it('every check has had its ✗ planted above, and the host is green again afterwards', async () => {
    const r = await doctor()
    expect(failed(r.report)).toEqual([])
    expect(r.exitCode).toBe(0)
  }, 300_000)
})
