// The ordered rollout of `homelab deploy` across TWO test hosts on loopback, each its own sshd,
// mount namespace, host key, forge and generations: azalab-0 is the k3s server, azalab-1 an
// agent. Real sshd, sudo, git and nix for both deploys. Stand-ins (test/e2e/stand-ins, named as
// such): nixos-rebuild logs each activation with a timestamp (STANDIN_ACTIVATION_LOG, what the
// hosts' journals would show), the server's k3s kubectl reports the nodes' readiness from a file
// this test writes (STANDIN_K3S_NODES), systemctl reports k3s.service's state on each host.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli, startCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import type {TestHost, TestRepo} from './host/test-host.js'
import {activations, expectServerThenAgent, startServerAndAgent} from './host/two-hosts.js'

let server: TestHost
let agent: TestHost
let repo: TestRepo
let agentFlake: string
let nodesFile: string
const logs = {agent: '', server: ''}
let scenario: {agent: Record<string, string>; server: Record<string, string>}

async function k3sActive(host: TestHost): Promise<void> {
  const dir = path.join(host.binDir, 'systemd-standin')
  await host.runOnHost(`mkdir -p '${dir}/state' && printf 'ActiveState=active\\n' > '${dir}/state/k3s.service' && chmod -R a+rX '${dir}'`)
}

beforeAll(async () => {
  // One operator reaching both hosts (test/e2e/host/two-hosts.ts).
  ;({agent, agentFlake, repo, server} = await startServerAndAgent())
  const doc = parseDocument(await fs.readFile(path.join(repo.dir, 'homelab.yaml'), 'utf8'))
  doc.setIn(['hosts', 0, 'role'], 'server')
  doc.addIn(['hosts'], doc.createNode({flakeDir: agentFlake, flakeInput: 'homelab', labels: {'homelab.dev/gpu': 'true'}, name: 'azalab-1', role: 'agent', ssh: agent.alias}))
  await fs.writeFile(path.join(repo.dir, 'homelab.yaml'), doc.toString())
  await fs.appendFile(path.join(repo.dir, 'known_hosts'), `${agent.knownHostsLine}\n`)
  await repo.git(['commit', '-q', '-am', 'Add the agent azalab-1'])

  logs.server = path.join(server.hostRoot, 'activations.log')
  logs.agent = path.join(agent.hostRoot, 'activations.log')
  nodesFile = path.join(server.hostRoot, 'k3s-nodes.json')
  const objects = path.join(server.hostRoot, 'flux-objects.json')
  await fs.writeFile(objects, azalabFixture('healthy', {commit: await repo.git(['rev-parse', 'HEAD'])}))
  scenario = {
    agent: {STANDIN_ACTIVATION_LOG: logs.agent, STANDIN_ACTIVATION_SECONDS: '2'},
    server: {STANDIN_ACTIVATION_LOG: logs.server, STANDIN_ACTIVATION_SECONDS: '2', STANDIN_K3S_NODES: nodesFile, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: path.join(server.hostRoot, 'kubectl-state')},
  }
  await Promise.all([server.setScenario(scenario.server), agent.setScenario(scenario.agent), k3sActive(server), k3sActive(agent)])
  await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
}, 300_000)
afterAll(async () => Promise.all([server?.stop(), agent?.stop()]))

const deploy = (args: string[] = []) =>
  runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', '--json', ...args], {env: server.env, input: `${server.sudoPassword}\n`, timeout: 300_000})
type HostJson = {host: string; ok: boolean; nodeLabels?: string; rollout: string; steps: {step: string; ok: boolean}[]; generation?: number; previousGeneration?: number; configurationRevision?: string; error?: {step: string; message: string; notStarted?: boolean; flakeLockRestored?: boolean; stillOnPreviousGeneration?: boolean}}
const hostsOf = (stdout: string) => {
  const json = JSON.parse(stdout)
  return Object.fromEntries(((json.error?.result ?? json).hosts as HostJson[]).map((h) => [h.host, h])) as Record<string, HostJson>
}

const running = (host: TestHost) => host.runOnHost('readlink -f /run/current-system')
const generation = async (host: TestHost) => (JSON.parse(await host.runOnHost('nixos-rebuild list-generations --json')) as {generation: number; current: boolean}[]).find((g) => g.current)!.generation

describe('homelab deploy across a server and an agent', {timeout: 400_000}, () => {
  it('builds both, activates the server first and the agent only after the server passed its gate', async () => {
    await fs.rm(logs.server, {force: true})
    await fs.rm(logs.agent, {force: true})
    const commit = await repo.commit('docs/rollout.md', 'rollout\n', 'A change for both hosts')
    const r = await deploy()
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const hosts = hostsOf(r.stdout)
    expect(hosts['azalab-0']).toMatchObject({configurationRevision: commit, ok: true, rollout: 'activated'})
    expect(hosts['azalab-1']).toMatchObject({configurationRevision: commit, ok: true, rollout: 'activated'})
    await expectServerThenAgent(logs.server, logs.agent)
    // Its homelab.yaml label set on its Node by the server's kubectl, once: the next deploy has nothing to set.
    expect(hosts['azalab-1'].nodeLabels).toBe('set homelab.dev/gpu=true')
    const again = hostsOf((await deploy()).stdout)
    expect(again['azalab-1'].nodeLabels).toBeUndefined()
    const labelCalls = (await fs.readFile(path.join(server.hostRoot, 'kubectl-state', 'calls.log'), 'utf8')).split('\n').filter((l) => l.includes('"label"'))
    expect(labelCalls.map((l) => (JSON.parse(l) as {argv: string[]}).argv)).toEqual([['label', 'node', 'azalab-1', '--overwrite', 'homelab.dev/gpu=true']])
  })

  it('an agent whose build fails stays on its generation; the server is activated all the same', async () => {
    const agentBefore = {gen: await generation(agent), lock: await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8'), system: await running(agent)}
    const serverGen = await generation(server)
    await agent.setScenario({...scenario.agent, STANDIN_BUILD_FAIL: '1'})
    try {
      const commit = await repo.commit('docs/rollout2.md', 'rollout 2\n', 'A change the agent cannot build')
      const r = await deploy()
      expect(r.exitCode).toBe(1)
      const hosts = hostsOf(r.stdout)
      expect(hosts['azalab-0']).toMatchObject({configurationRevision: commit, generation: serverGen + 1, ok: true, rollout: 'activated'})
      expect(hosts['azalab-1']).toMatchObject({error: {flakeLockRestored: true, step: 'build'}, ok: false, rollout: 'failed'})
      expect(await generation(agent)).toBe(agentBefore.gen)
      expect(await running(agent)).toBe(agentBefore.system)
      expect(await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8')).toBe(agentBefore.lock)
    } finally {
      await agent.setScenario(scenario.agent)
    }
  })

  it('a server failing its gate is switched back and the agent is never touched', async () => {
    const serverSystem = await running(server)
    const agentBefore = {gen: await generation(agent), lock: await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8'), system: await running(agent)}
    await fs.rm(logs.agent, {force: true})
    await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'False', 'azalab-1': 'True'}))
    try {
      await repo.commit('docs/rollout3.md', 'rollout 3\n', 'A change whose server node never gets Ready')
      const r = await deploy(['--gate-timeout', '4s'])
      expect(r.exitCode).toBe(1)
      const hosts = hostsOf(r.stdout)
      expect(hosts['azalab-0']).toMatchObject({error: {step: 'gate', stillOnPreviousGeneration: true}, ok: false, rollout: 'rolled-back'})
      expect(hosts['azalab-1']).toMatchObject({error: {flakeLockRestored: true, notStarted: true}, ok: false, rollout: 'not-started'})
      expect(hosts['azalab-1'].error!.message).toBe('not activated: azalab-0 failed at gate; this host still runs its previous generation')
      // It waited its turn: no step of its own failed.
      expect(hosts['azalab-1'].steps.every((s) => s.ok)).toBe(true)
      expect(await running(server)).toBe(serverSystem)
      expect(await activations(logs.agent)).toEqual([])
      expect(await generation(agent)).toBe(agentBefore.gen)
      expect(await running(agent)).toBe(agentBefore.system)
      expect(await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8')).toBe(agentBefore.lock)
      // The text summary says it per host.
      const text = await runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', '--gate-timeout', '4s'], {env: server.env, input: `${server.sudoPassword}\n`, timeout: 300_000})
      expect(text.exitCode).toBe(1)
      expect(text.stdout).toMatch(/azalab-0 +rolled back \(gate failed\)/)
      expect(text.stdout).toMatch(/azalab-1 +not started/)
    } finally {
      await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
    }
  })

  it('Ctrl-C while the agent waits for its turn releases it at once (flake.lock put back, never activated); the server finishes its activation', async () => {
    const serverBefore = await running(server)
    const agentBefore = {gen: await generation(agent), lock: await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8'), system: await running(agent)}
    await Promise.all([fs.rm(logs.agent, {force: true}), fs.rm(logs.server, {force: true})])
    // The server's gate cannot pass (node NotReady), so the agent waits for as long as the gate polls.
    await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'False', 'azalab-1': 'True'}))
    try {
      await repo.commit('docs/rollout4.md', 'rollout 4\n', 'A change interrupted mid-rollout')
      const child = startCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', '--json', '--gate-timeout', '20s'], {env: server.env, input: `${server.sudoPassword}\n`})
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      // The server has started activating: every host was built and the agent's flake.lock updated.
      for (let i = 0; i < 600 && !(await activations(logs.server)).some((a) => a.what === 'end'); i++) await new Promise((resolve) => setTimeout(resolve, 250))
      expect(await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8')).not.toBe(agentBefore.lock)
      child.kill('SIGINT')
      // Released at once, while the server's gate still polls.
      for (let i = 0; i < 200 && (await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8')) !== agentBefore.lock; i++) await new Promise((resolve) => setTimeout(resolve, 100))
      expect(await fs.readFile(path.join(agentFlake, 'flake.lock'), 'utf8')).toBe(agentBefore.lock)
      expect(child.exitCode).toBeNull()
      const r = await child
      expect(stderr).toContain('interrupted (SIGINT): releasing azalab-1 (not activated, previous flake.lock put back); letting azalab-0 finish activating. Press Ctrl-C again to exit at once.')
      expect(r.exitCode, stderr).toBe(130)
      const error = JSON.parse(r.stdout).error as {message: string; result: {hosts: HostJson[]}}
      // The server's gate failed on its own (NotReady): switched back, as without the signal.
      expect(error.message).toBe('interrupted (SIGINT): azalab-0 rolled back, azalab-1 released, not activated')
      const hosts = Object.fromEntries(error.result.hosts.map((h) => [h.host, h]))
      expect(hosts['azalab-1']).toMatchObject({error: {flakeLockRestored: true, notStarted: true}, rollout: 'not-started'})
      expect(await activations(logs.agent)).toEqual([])
      expect(await generation(agent)).toBe(agentBefore.gen)
      expect(await running(agent)).toBe(agentBefore.system)
      expect(await running(server)).toBe(serverBefore)
    } finally {
      await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
    }
  })
})
