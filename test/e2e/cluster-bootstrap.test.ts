// `homelab cluster bootstrap` end to end: real sshd, sudo, git, ssh-keygen on the test host; Flux
// and the Kubernetes API are the `flux` and `kubectl` stand-ins (objects kept in a per-run
// folder, so a second run sees what the first one applied; the controller simulation fetches
// the bare remote's branch head with real git and applies the committed Kustomizations).
// /var/lib/sops-nix is a private bind mount in the host's mount namespace: the age identity
// exists only "on the host". The CLI runs with a preload that records everything it sends over
// SSH (test/e2e/host/record-ssh.cjs).
import {execa} from 'execa'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {DEMO_KEY} from '../commands/secrets/helpers.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

const FORGE_URL = 'ssh://git@github.com/aiden/homelab'
const RECORDER = path.join(REPO_ROOT, 'test/e2e/host/record-ssh.cjs')
let host: TestHost
let repo: TestRepo
let state: string
let sshLog: string
let ageKey: string

interface Obj {kind: string; metadata: {name: string; namespace?: string; labels?: Record<string, string>}; data?: Record<string, string>; spec?: Record<string, unknown>}

beforeAll(async () => {
  host = await startTestHost({standIns: ['k3s', 'kubectl', 'flux']})
  // The host's age identity, root-only, visible only inside the host's mount namespace.
  const sopsNix = path.join(host.hostRoot, 'sops-nix')
  await fs.mkdir(sopsNix, {mode: 0o700})
  await host.runOnHost(`mkdir -p /var/lib/sops-nix && mount --bind ${sopsNix} /var/lib/sops-nix`)
  ageKey = await fs.readFile(DEMO_KEY, 'utf8')
  await fs.writeFile(path.join(sopsNix, 'key.txt'), ageKey, {mode: 0o600})
  repo = await host.homelabRepo({hostName: 'azalab-0', nixos: false})
  // The remote is configured as the forge URL; git reaches it through the local bare repo.
  await repo.git(['remote', 'set-url', 'origin', FORGE_URL])
  await repo.git(['config', `url.${repo.remote}.insteadOf`, FORGE_URL])
  state = path.join(host.hostRoot, 'kubectl-state')
  sshLog = path.join(host.hostRoot, 'ssh-sent.log')
  // An empty cluster (one Node); the root Kustomization creates infrastructure and apps.
  const node = JSON.parse(azalabFixture('healthy')).items.find((o: Obj) => o.kind === 'Node')
  const objects = path.join(host.hostRoot, 'cluster.json')
  await fs.writeFile(objects, JSON.stringify({apiVersion: 'v1', items: [node], kind: 'List'}))
  const children = path.join(host.hostRoot, 'children.json')
  const cluster = path.join(repo.dir, 'flux/clusters/azalab-0')
  const docs = await Promise.all(['infrastructure.yaml', 'apps.yaml'].map(async (f) => parseAllDocuments(await fs.readFile(path.join(cluster, f), 'utf8')).map((d) => d.toJS())))
  await fs.writeFile(children, JSON.stringify(docs.flat()))
  await host.setScenario({STANDIN_FLUX_CHILDREN: children, STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_REMOTE: repo.remote, STANDIN_FLUX_SECRETS: '1', STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: state})
}, 180_000)
afterAll(async () => host?.stop())

const bootstrap = (args: string[] = []) =>
  runCli(['cluster', 'bootstrap', '--repo', repo.dir, '--timeout', '60s', ...args], {
    env: {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword, HOMELAB_TEST_SSH_LOG: sshLog, NODE_OPTIONS: `--require ${RECORDER}`},
    timeout: 180_000,
  })

const live = async (): Promise<Obj[]> => JSON.parse(await fs.readFile(path.join(state, 'objects.json'), 'utf8')).list.items
const secret = async (name: string) => (await live()).find((o) => o.kind === 'Secret' && o.metadata.name === name && o.metadata.namespace === 'flux-system')
const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString()
const calls = async (file: string) => (await fs.readFile(path.join(state, file), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as {argv: string[]; uid: number; kubeconfig?: string})
const sent = async () => (existsSync(sshLog) ? (await fs.readFile(sshLog, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as {command?: string; stdin?: string; read?: string}) : [])

describe('homelab cluster bootstrap (e2e)', () => {
  it('first run: installs Flux, makes the deploy key on the host, sops-age from the host key file, applies the sync objects, waits for the branch head', async () => {
    const head = await repo.git(['rev-parse', 'HEAD'])
    const r = await bootstrap()
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain(`Bootstrapping Flux on azalab-0: ${FORGE_URL} main at ${head.slice(0, 7)}`)
    expect(r.stdout).toMatch(/✓ Flux: created, v2\.7\.3 \(flux install, flux on PATH\)/)
    expect(r.stdout).toMatch(/✓ deploy key: created, Secret flux-system\/flux-system \(new key generated on the host, github\.com's pinned host keys\)/)
    expect(r.stdout).toMatch(/✓ sops-age: created, Secret flux-system\/sops-age from \/var\/lib\/sops-nix\/key\.txt \(read on the host\)/)
    expect(r.stdout).toMatch(/✓ sync objects: created, GitRepository flux-system, Kustomization flux-system from flux\/clusters\/azalab-0\/flux-system-sync\.yaml/)
    expect(r.stdout).toMatch(/Deploy key \(public\): ssh-ed25519 AAAA\S+ flux@azalab-0/)
    expect(r.stdout).toContain('https://github.com/aiden/homelab/settings/keys')
    expect(r.stdout).toContain(`✓ Flux applied ${head.slice(0, 7)}: every Kustomization Ready at it`)

    // flux ran as root with k3s's kubeconfig; check --pre before install.
    const flux = await calls('flux-calls.log')
    expect(flux.map((c) => c.argv.join(' '))).toEqual(['version --client', 'check --pre', 'install'])
    expect(flux.every((c) => c.uid === 0 && c.kubeconfig === '/etc/rancher/k3s/k3s.yaml')).toBe(true)

    // The Secrets: Flux's SSH format with the pinned forge keys; sops-age is the host's key file.
    const git = await secret('flux-system')
    expect(Object.keys(git?.data ?? {}).sort()).toEqual(['identity', 'identity.pub', 'known_hosts'])
    const access = JSON.parse(await fs.readFile(path.join(repo.dir, 'nixos/git-access.json'), 'utf8'))
    expect(decode(git?.data?.known_hosts)).toBe(access.forgeHostKeys.map((k: string) => `github.com ${k}\n`).join(''))
    const privateKey = decode(git?.data?.identity)
    expect(privateKey).toContain('BEGIN OPENSSH PRIVATE KEY')
    expect(r.stdout).toContain(decode(git?.data?.['identity.pub']).trim())
    expect(decode((await secret('sops-age'))?.data?.['age.agekey'])).toBe(ageKey)
    const kubectl = await calls('calls.log')
    expect(kubectl.some((c) => c.argv.includes('--from-file=age.agekey=/var/lib/sops-nix/key.txt') && c.uid === 0)).toBe(true)

    // Neither the age identity nor the generated private key was ever sent from here, and this
    // (laptop) side cannot even see the host's key file.
    const traffic = JSON.stringify(await sent())
    expect(traffic).not.toContain('"read":')
    expect(traffic).not.toContain('AGE-SECRET-KEY-')
    expect(traffic).not.toContain(privateKey.split('\n')[1])
    expect(traffic).not.toContain('PRIVATE KEY')
    expect(existsSync('/var/lib/sops-nix/key.txt') && (await fs.readFile('/var/lib/sops-nix/key.txt', 'utf8')) === ageKey).toBe(false)
    expect(`${r.stdout}${r.stderr}`).not.toContain('AGE-SECRET-KEY-')

    // The sync objects are the committed ones, and the tree's Kustomizations all applied the head.
    const objects = await live()
    expect(objects.find((o) => o.kind === 'GitRepository')?.spec).toMatchObject({ref: {branch: 'main'}, secretRef: {name: 'flux-system'}, url: FORGE_URL})
    expect(objects.filter((o) => o.kind === 'Kustomization').map((o) => o.metadata.name).sort()).toEqual(['apps', 'flux-system', 'infrastructure'])
  })

  it('second run: every step unchanged, says nothing changed, flux install not run again (--json too)', async () => {
    const text = await bootstrap()
    expect(text.exitCode, `${text.stdout}\n${text.stderr}`).toBe(0)
    expect(text.stdout).toContain('Nothing changed: Flux, the deploy key, sops-age and the sync objects were already in place.')
    expect(text.stdout).toMatch(/Deploy key \(public\): ssh-ed25519 /)
    const r = await bootstrap(['--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result).toMatchObject({branch: 'main', changed: false, commit: await repo.git(['rev-parse', 'HEAD']), flux: {version: 'v2.7.3', via: 'path'}, host: 'azalab-0', url: FORGE_URL})
    expect(result.steps.map((s: {step: string; result: string}) => `${s.step}:${s.result}`)).toEqual(['flux:unchanged', 'deploy-key:unchanged', 'sops-age:unchanged', 'sync:unchanged'])
    expect(result.deployKey).toMatchObject({source: 'kept'})
    expect(result.wait).toMatchObject({converged: true})
    expect((await calls('flux-calls.log')).filter((c) => c.argv[0] === 'install')).toHaveLength(1)
  })

  it('--deploy-key-file: a different key is refused without --force (exit 3), replaced with it; the key goes on stdin only', async () => {
    const keyFile = path.join(host.home, 'flux-deploy-key')
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'given-key', '-f', keyFile])
    const before = (await secret('flux-system'))?.data?.identity
    const refused = await bootstrap(['--deploy-key-file', keyFile, '--no-wait'])
    expect(refused.exitCode, refused.stderr).toBe(3)
    expect(refused.stderr).toMatch(/azalab-0: the Secret flux-system\/flux-system holds another deploy key \(ssh-ed25519 \S+ flux@azalab-0\) than --deploy-key-file/)
    expect(refused.stderr).toContain('--force')
    expect((await secret('flux-system'))?.data?.identity).toBe(before)
    const refusedJson = await bootstrap(['--deploy-key-file', keyFile, '--no-wait', '--json'])
    expect(refusedJson.exitCode).toBe(3)
    expect(JSON.parse(refusedJson.stdout).error.message).toContain('holds another deploy key')

    const r = await bootstrap(['--deploy-key-file', keyFile, '--force', '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result.steps.find((s: {step: string}) => s.step === 'deploy-key')).toMatchObject({result: 'updated'})
    const pub = (await fs.readFile(`${keyFile}.pub`, 'utf8')).trim()
    expect(result.deployKey).toMatchObject({publicKey: pub, source: 'given'})
    expect(decode((await secret('flux-system'))?.data?.identity)).toBe(await fs.readFile(keyFile, 'utf8'))
    // The private key travelled on stdin (after the sudo password), never in a command line.
    const traffic = await sent()
    expect(traffic.some((e) => e.stdin?.includes('BEGIN OPENSSH PRIVATE KEY'))).toBe(true)
    expect(traffic.some((e) => e.command?.includes('PRIVATE KEY'))).toBe(false)

    const again = await bootstrap(['--deploy-key-file', keyFile, '--json', '--no-wait'])
    expect(JSON.parse(again.stdout)).toMatchObject({changed: false, deployKey: {source: 'given'}})
  })

  it('a changed sync file at the branch head: only the sync step updates, and Flux converges on the new head', async () => {
    const file = 'flux/clusters/azalab-0/flux-system-sync.yaml'
    const text = await fs.readFile(path.join(repo.dir, file), 'utf8')
    const head = await repo.commit(file, text.replace('  interval: 1m\n', '  interval: 2m\n'), 'Flux: fetch every 2 minutes')
    await repo.git(['push', '-q', 'origin', 'main'])
    const r = await bootstrap(['--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result.steps.map((s: {step: string; result: string}) => `${s.step}:${s.result}`)).toEqual(['flux:unchanged', 'deploy-key:unchanged', 'sops-age:unchanged', 'sync:updated'])
    expect(result).toMatchObject({changed: true, commit: head, wait: {commit: head, converged: true}})
    expect((await live()).find((o) => o.kind === 'GitRepository')?.spec).toMatchObject({interval: '2m'})
  })

  it('a newer flux on the host: flux check --pre gates the upgrade; then flux install upgrades in place (updated)', async () => {
    const scenario = (await fs.readFile(path.join(host.hostRoot, 'scenario.env'), 'utf8')).split('\n').filter(Boolean)
    const base = Object.fromEntries(scenario.map((l) => /^(\w+)='(.*)'$/.exec(l)!.slice(1, 3)))
    try {
      await host.setScenario({...base, STANDIN_FLUX_PRE_FAIL: '1', STANDIN_FLUX_VERSION: 'v2.8.0'})
      const failed = await bootstrap(['--no-wait'])
      expect(failed.exitCode).toBe(1)
      expect(failed.stderr).toContain('azalab-0: bootstrap step flux failed: ✗ prerequisites checks failed')
      await host.setScenario({...base, STANDIN_FLUX_VERSION: 'v2.8.0'})
      const r = await bootstrap(['--no-wait', '--json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const result = JSON.parse(r.stdout)
      expect(result.steps[0]).toMatchObject({detail: 'v2.7.3 → v2.8.0 (flux install, flux on PATH)', result: 'updated', step: 'flux'})
      expect(result.steps.slice(1).map((s: {result: string}) => s.result)).toEqual(['unchanged', 'unchanged', 'unchanged'])
    } finally {
      await host.setScenario(base)
    }
  })

  it('refuses, in one line, a committed GitRepository that names another repository than the git remote', async () => {
    const other = 'ssh://git@github.com/aiden/other'
    await repo.git(['remote', 'set-url', 'origin', other])
    await repo.git(['config', `url.${repo.remote}.insteadOf`, other])
    try {
      const r = await bootstrap()
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain(`flux/clusters/azalab-0/flux-system-sync.yaml: GitRepository flux-system spec.url is ${FORGE_URL}, but the git remote is ${other}: make them agree`)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    } finally {
      await repo.git(['config', '--unset-all', `url.${repo.remote}.insteadOf`])
      await repo.git(['remote', 'set-url', 'origin', FORGE_URL])
      await repo.git(['config', `url.${repo.remote}.insteadOf`, FORGE_URL])
    }
  })

  it('names /var/lib/sops-nix/key.txt when the host has no age identity', async () => {
    await host.runOnHost('mv /var/lib/sops-nix/key.txt /var/lib/sops-nix/key.txt.away')
    try {
      const r = await bootstrap(['--no-wait'])
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('azalab-0: /var/lib/sops-nix/key.txt is missing or empty: Flux could not decrypt the SOPS files')
    } finally {
      await host.runOnHost('mv /var/lib/sops-nix/key.txt.away /var/lib/sops-nix/key.txt')
    }
  })

  it('without flux on root\'s PATH it falls back to nix run --inputs-from the host flake and says so when that fails', async () => {
    await fs.rename(path.join(host.binDir, 'flux'), path.join(host.binDir, 'flux.off'))
    try {
      const r = await bootstrap(['--no-wait'])
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('azalab-0: bootstrap step flux failed')
      expect(r.stderr).toMatch(/flux is not on root's PATH on azalab-0: add pkgs\.fluxcd to environment\.systemPackages, or check that `nix run --inputs-from \S+ nixpkgs#fluxcd` works there/)
    } finally {
      await fs.rename(path.join(host.binDir, 'flux.off'), path.join(host.binDir, 'flux'))
    }
  })
})
