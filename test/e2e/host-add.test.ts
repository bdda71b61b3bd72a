// `homelab host add` of a second machine, a deploy to both, and `homelab host remove`, against
// TWO test hosts on loopback (each its own sshd, mount namespace, host key and generations, as
// in deploy-rollout.test.ts): azalab-0 is the running k3s server, the other host becomes the
// agent azalab-1. Real sshd, sudo, git, nix and the real SOPS engine with the demo identity.
// The server's cluster token is a file this test writes at /var/lib/rancher/k3s/server/token
// INSIDE the server host's private mount namespace (a bind mount of a per-run folder; the
// machine's own /var/lib/rancher, if any, is never written). Stand-ins (test/e2e/stand-ins, named
// as such): nixos-rebuild (activations logged with timestamps), nixos-version, systemctl, and the
// server's k3s kubectl, whose nodes' readiness comes from a file this test writes
// (STANDIN_K3S_NODES) and which records every call (calls.log: the drain is asserted from it).
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import type {TestHost, TestRepo} from './host/test-host.js'
import {expectServerThenAgent, startServerAndAgent} from './host/two-hosts.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const TOKEN_DIR = '/var/lib/rancher/k3s/server'
const SERVER_TOKEN = `K10${'ab12'.repeat(16)}::server:${'cd34'.repeat(8)}`

let server: TestHost
let agent: TestHost
let repo: TestRepo
let agentFlake: string
let kubectlState: string
/** The empty mount point folders this run made on the machine (removed again after the hosts stopped). */
let madeMountPoint: string[] = []
const logs = {agent: '', server: ''}

async function k3sActive(host: TestHost): Promise<void> {
  const dir = path.join(host.binDir, 'systemd-standin')
  await host.runOnHost(`mkdir -p '${dir}/state' && printf 'ActiveState=active\\n' > '${dir}/state/k3s.service' && chmod -R a+rX '${dir}'`)
}

const env = () => ({...server.env, SOPS_AGE_KEY_FILE: DEMO_KEY})

beforeAll(async () => {
  // One operator reaching both hosts (test/e2e/host/two-hosts.ts).
  ;({agent, agentFlake, repo, server} = await startServerAndAgent())

  // The running server's own token, root-only, visible only in the server host's namespace.
  const tokenDir = path.join(server.hostRoot, 'k3s-server')
  await fs.mkdir(tokenDir, {mode: 0o700})
  madeMountPoint = ['/var/lib/rancher', '/var/lib/rancher/k3s', TOKEN_DIR].filter((d) => !existsSync(d)).reverse()
  await server.runOnHost(`mkdir -p ${TOKEN_DIR} && mount --bind '${tokenDir}' ${TOKEN_DIR}`)
  await server.runOnHost(`umask 077 && printf '%s\\n' '${SERVER_TOKEN}' > ${TOKEN_DIR}/token`)

  logs.server = path.join(server.hostRoot, 'activations.log')
  logs.agent = path.join(agent.hostRoot, 'activations.log')
  kubectlState = path.join(server.hostRoot, 'kubectl-state')
  const nodesFile = path.join(server.hostRoot, 'k3s-nodes.json')
  const objects = path.join(server.hostRoot, 'flux-objects.json')
  await fs.writeFile(objects, azalabFixture('healthy', {commit: await repo.git(['rev-parse', 'HEAD'])}))
  await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
  await Promise.all([
    server.setScenario({STANDIN_ACTIVATION_LOG: logs.server, STANDIN_ACTIVATION_SECONDS: '2', STANDIN_K3S_NODES: nodesFile, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: kubectlState}),
    agent.setScenario({STANDIN_ACTIVATION_LOG: logs.agent, STANDIN_ACTIVATION_SECONDS: '2'}),
    k3sActive(server),
    k3sActive(agent),
  ])
}, 300_000)
afterAll(async () => {
  await Promise.all([server?.stop(), agent?.stop()])
  // Only the empty folders the bind mount needed (the mount itself died with the namespace).
  for (const dir of madeMountPoint) await fs.rmdir(dir).catch(() => {})
})

describe('homelab host add, deploy to both, host remove (two test hosts)', {timeout: 600_000}, () => {
  it('host add reads the running server\'s token, pins the new host\'s key, and says deploy next (it runs NixOS)', async () => {
    const knownBefore = await fs.readFile(path.join(repo.dir, 'known_hosts'), 'utf8')
    const r = await runCli(
      ['host', 'add', 'azalab-1', '--ssh', agent.alias, '--flake-dir', agentFlake, '--node-interface', 'lo', '--server-node-interface', 'lo', '--labels', 'homelab.dev/gpu=true', '--accept-new-host-key', '--sudo-password-stdin', '--json', '--repo', repo.dir],
      {env: env(), input: `${server.sudoPassword}\n`, timeout: 180_000},
    )
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      host: 'azalab-1',
      hostKey: {fingerprint: agent.hostKeyFingerprint, pinned: true},
      next: 'homelab deploy',
      nixos: true,
      token: {server: 'azalab-0', source: 'server'},
    })
    // The token is stored encrypted and never shown.
    expect(`${r.stdout}${r.stderr}`).not.toContain(SERVER_TOKEN)
    const stored = await runCli(['secrets', 'get', 'nixos/secrets/host-secrets.sops.yaml', 'k3s.token'], {cwd: repo.dir, env: env()})
    expect(stored.stdout.trim()).toBe(SERVER_TOKEN)
    expect(await fs.readFile(path.join(repo.dir, 'nixos/secrets/host-secrets.sops.yaml'), 'utf8')).not.toContain(SERVER_TOKEN)
    expect(await fs.readFile(path.join(repo.dir, 'known_hosts'), 'utf8')).toBe(`${knownBefore}${agent.knownHostsLine}\n`)
  })

  it('homelab deploy then activates the server, then the new agent', async () => {
    // The agent's bootstrap flake lives in its test folder (host add --flake-dir).
    expect(parseDocument(await fs.readFile(path.join(repo.dir, 'homelab.yaml'), 'utf8')).getIn(['hosts', 1, 'flakeDir'])).toBe(agentFlake)
    await repo.git(['add', '-A'])
    await repo.git(['commit', '-q', '-m', 'Add the agent azalab-1 (homelab host add)'])
    const commit = await repo.git(['rev-parse', 'HEAD'])
    const r = await runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', '--json'], {env: env(), input: `${server.sudoPassword}\n`, timeout: 300_000})
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const hosts = Object.fromEntries((JSON.parse(r.stdout).hosts as Array<{host: string}>).map((h) => [h.host, h]))
    expect(hosts['azalab-0']).toMatchObject({configurationRevision: commit, ok: true, rollout: 'activated'})
    expect(hosts['azalab-1']).toMatchObject({configurationRevision: commit, ok: true, rollout: 'activated'})
    await expectServerThenAgent(logs.server, logs.agent)
  })

  it('host remove drains the node on the server, deletes it, and removes the host everywhere add wrote', async () => {
    await fs.rm(path.join(kubectlState, 'calls.log'), {force: true})
    const r = await runCli(['host', 'remove', 'azalab-1', '--yes', '--sudo-password-stdin', '--json', '--repo', repo.dir], {env: env(), input: `${server.sudoPassword}\n`, timeout: 180_000})
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({drained: true, host: 'azalab-1', tokenRemoved: true})
    const calls = (await fs.readFile(path.join(kubectlState, 'calls.log'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {argv: string[]}).argv.join(' '))
    expect(calls).toEqual(['get node azalab-1 --ignore-not-found -o name', 'drain azalab-1 --ignore-daemonsets --delete-emptydir-data --timeout=300s', 'delete node azalab-1'])
    expect(await fs.readFile(path.join(repo.dir, 'known_hosts'), 'utf8')).not.toContain(agent.knownHostsLine)
    expect(await fs.readFile(path.join(repo.dir, 'homelab.yaml'), 'utf8')).not.toContain('azalab-1')
    await expect(fs.stat(path.join(repo.dir, 'nixos/hosts/azalab-1'))).rejects.toThrow(/ENOENT/)
    const stored = await runCli(['secrets', 'get', 'nixos/secrets/host-secrets.sops.yaml', 'k3s.token'], {cwd: repo.dir, env: env()})
    expect(stored.exitCode).not.toBe(0)
  })
})
