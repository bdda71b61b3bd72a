// The health gate of `homelab deploy` end to end on the e2e test host (the k3s server):
// real sshd, sudo, git and nix for the deploy; the gate asks, on the confirmation connection,
// `systemctl is-active k3s.service` (stand-in systemctl: the unit's state file), the API's
// /readyz and the node's Ready condition (stand-in k3s kubectl: STANDIN_K3S_NODES, a file this
// test writes, is what the kubelet reports). A failing gate switches the host back at once.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo
let nodesFile: string

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
  const objects = path.join(host.hostRoot, 'flux-objects.json')
  nodesFile = path.join(host.hostRoot, 'k3s-nodes.json')
  await fs.writeFile(objects, azalabFixture('healthy', {commit: await repo.git(['rev-parse', 'HEAD'])}))
  await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True'}))
  await host.setScenario({STANDIN_K3S_NODES: nodesFile, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
  await k3sState('active')
}, 180_000)
afterAll(async () => host?.stop())

/** The stand-in systemctl's state of k3s.service (what `systemctl is-active` reads). */
async function k3sState(state: string): Promise<void> {
  const dir = path.join(host.binDir, 'systemd-standin/state')
  await host.runOnHost(`mkdir -p '${dir}' && printf 'ActiveState=${state}\\n' > '${dir}/k3s.service' && chmod -R a+rX '${path.join(host.binDir, 'systemd-standin')}'`)
}

const deploy = (args: string[]) =>
  runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', ...args], {env: host.env, input: `${host.sudoPassword}\n`, timeout: 240_000})
const running = () => host.runOnHost('readlink -f /run/current-system')
const flakeLock = () => fs.readFile(path.join(repo.flakeDir, 'flake.lock'), 'utf8')

type HostJson = {ok: boolean; rollout: string; rolledBack?: boolean; k3sRestarts: boolean; magicRollback: string; generation: number; previousGeneration: number; steps: {step: string; ok: boolean}[]; error?: {step: string; message: string; stillOnPreviousGeneration: boolean; flakeLockRestored: boolean}}

describe('homelab deploy health gate', {timeout: 300_000}, () => {
  it('--gate: the switch is kept once k3s is active, the API ready and the node Ready; k3sRestarts read from the closures', async () => {
    await host.setScenario({STANDIN_K3S_NODES: nodesFile, STANDIN_UNITS: 'k3s.service:2 sshd.service:1', STANDIN_KUBECTL_OBJECTS: path.join(host.hostRoot, 'flux-objects.json'), STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
    await repo.commit('docs/gate.md', 'gate\n', 'A change behind the health gate')
    const r = await deploy(['--gate', '--json'])
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const result = JSON.parse(r.stdout) as {hosts: HostJson[]}
    const h = result.hosts[0]
    expect(h).toMatchObject({k3sRestarts: true, magicRollback: 'armed-and-confirmed', ok: true, rollout: 'activated'})
    expect(h.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['confirm', 'gate']))
    expect(h.generation).toBe(h.previousGeneration + 1)
    const text = await deploy(['--gate'])
    expect(text.exitCode, text.stderr).toBe(0)
    // Nothing new to build: no activation, so no gate either; the unit is unchanged.
    expect(text.stdout).not.toContain('health gate')
  })

  it('a node that stays NotReady fails the gate: the host switches back at once and flake.lock is put back', async () => {
    const before = await running()
    const lockBefore = await flakeLock()
    await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'False'}))
    try {
      await repo.commit('docs/gate2.md', 'gate 2\n', 'A change whose node never gets Ready')
      const r = await deploy(['--gate', '--gate-timeout', '5s', '--confirm-timeout', '600', '--json'])
      expect(r.exitCode, r.stderr).toBe(1)
      const h = (JSON.parse(r.stdout).error?.result ?? JSON.parse(r.stdout)).hosts[0] as HostJson
      expect(h).toMatchObject({ok: false, rolledBack: true, rollout: 'rolled-back'})
      expect(h.error).toMatchObject({flakeLockRestored: true, step: 'gate', stillOnPreviousGeneration: true})
      expect(h.error!.message).toContain('health gate failed: node azalab-0 is not Ready (Ready=False (KubeletNotReady): container runtime network not ready) after 5 s; switched back to the previous generation (magic rollback)')
      // Switched back now, not after the 600 s confirm timeout.
      expect(await running()).toBe(before)
      expect(await flakeLock()).toBe(lockBefore)
    } finally {
      await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True'}))
    }
  })

  it('a node still Ready whose kubelet stopped renewing its Lease (a stale Ready) fails the gate', async () => {
    const before = await running()
    const scenario = {STANDIN_K3S_NODES: nodesFile, STANDIN_KUBECTL_OBJECTS: path.join(host.hostRoot, 'flux-objects.json'), STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')}
    await host.setScenario({...scenario, STANDIN_K3S_LEASE_STALE: 'azalab-0'})
    try {
      await repo.commit('docs/gate-lease.md', 'gate lease\n', 'A change whose kubelet does not come back, its Ready not yet expired')
      const r = await deploy(['--gate', '--gate-timeout', '4s', '--confirm-timeout', '600'])
      expect(r.exitCode, r.stderr).toBe(1)
      expect(r.stdout).toMatch(/health gate failed: node azalab-0's kubelet has not renewed its Lease in the last 15 s \(last renewal (59|60|61) s ago\) after 4 s; switched back to the previous generation \(magic rollback\)/)
      expect(await running()).toBe(before)
    } finally {
      await host.setScenario(scenario)
    }
  })

  it('k3s.service not active fails the gate the same way, and the report says the host was switched back', async () => {
    const before = await running()
    await k3sState('failed')
    try {
      await repo.commit('docs/gate3.md', 'gate 3\n', 'A change whose k3s does not come back')
      const r = await deploy(['--gate', '--gate-timeout', '3s', '--confirm-timeout', '600'])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('health gate failed: k3s.service is failed on azalab-0 after 3 s; switched back to the previous generation (magic rollback)')
      expect(r.stdout).toContain('still on its previous generation: yes')
      expect(await running()).toBe(before)
    } finally {
      await k3sState('active')
    }
  })
})
