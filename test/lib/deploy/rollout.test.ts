// The ordered, health-gated rollout across hosts (src/lib/deploy/rollout.ts, runRollout in
// deploy.ts), with fake host deploys and fake connections: which host activates when, what stops
// the rollout, the gate's checks and the cordon around an agent's switch. The SSH path of one
// host (prepare, activate, confirm, gate on the confirmation connection) is covered end to end
// in test/e2e/deploy.test.ts.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {Homelab} from '../../../src/lib/config/load.js'
import type {HostConfig} from '../../../src/lib/config/schema.js'
import type {ActivationHooks} from '../../../src/lib/deploy/deploy-host.js'
import {runRollout, type RolloutRun} from '../../../src/lib/deploy/deploy.js'
import {activationWaves, healthGate, nodeReady} from '../../../src/lib/deploy/rollout.js'
import type {DeployCallbacks, DeployHostResult} from '../../../src/lib/deploy/types.js'
import type {HostConnection} from '../../../src/lib/ssh/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const host = (name: string, role: 'agent' | 'server'): HostConfig => ({flakeDir: '/etc/nixos', flakeInput: 'homelab', labels: {}, name, role, ssh: name, tags: []})
const HOSTS = [host('azalab-0', 'server'), host('azalab-1', 'agent'), host('azalab-2', 'agent'), host('azalab-3', 'agent')]
const homelab = (hosts: HostConfig[]) => ({config: {hosts}}) as unknown as Homelab
// A Node as k3s reports it (test/fixtures/flux/azalab-0/not-ready.json, from the fixture README's source).
const NODE_FIXTURE = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/flux/azalab-0/not-ready.json'), 'utf8')) as {items: {kind: string}[]}).items.find((i) => i.kind === 'Node')!
const node = (name: string, ready: 'False' | 'True' | 'Unknown') => {
  const n = structuredClone(NODE_FIXTURE) as unknown as {metadata: {name: string}; status: {conditions: {type: string; status: string; reason: string}[]}}
  n.metadata.name = name
  const c = n.status.conditions.find((x) => x.type === 'Ready')!
  c.status = ready
  if (ready !== 'True') c.reason = 'KubeletNotReady'
  return n
}

/** The cluster as the fake connections see it: k3s state per host, node readiness, kubectl calls. */
class Cluster {
  k3s = new Map<string, string>()
  ready = new Map<string, 'False' | 'True' | 'Unknown'>()
  apiUp = true
  kubectl: string[] = []
  /** Seconds since each node's kubelet last renewed its Lease (default 0: renewing). */
  leaseAge = new Map<string, number>()
  /** k3s.service's NRestarts and start time (epoch s; default an hour ago) per host. */
  restarts = new Map<string, number>()
  startedAt = new Map<string, number>()

  conn(name: string): HostConnection {
    const exec = async (command: string) => {
      if (command.startsWith('systemctl show k3s.service ')) {
        // As systemd 257 prints it with --timestamp=unix, then `date +%s`.
        const now = Math.floor(Date.now() / 1000)
        return {exitCode: 0, stderr: '', stdout: `ActiveState=${this.k3s.get(name) ?? 'active'}\nNRestarts=${this.restarts.get(name) ?? 0}\nExecMainStartTimestamp=@${this.startedAt.get(name) ?? now - 3600}\n${now}\n`}
      }

      const m = /k3s kubectl (.*)$/.exec(command.replace(/; else exit 97; fi$/, ''))
      if (!m) return {exitCode: 127, stderr: `unexpected command ${command}`, stdout: ''}
      const args = m[1]
      this.kubectl.push(`${name}: ${args}`)
      if (args === 'get --raw=/readyz') return this.apiUp ? {exitCode: 0, stderr: '', stdout: 'ok'} : {exitCode: 1, stderr: 'The connection to the server 127.0.0.1:6443 was refused\n', stdout: ''}
      const get = /^get node (\S+) -o json$/.exec(args)
      if (get) {
        const state = this.ready.get(get[1])
        if (!state) return {exitCode: 1, stderr: `Error from server (NotFound): nodes "${get[1]}" not found\n`, stdout: ''}
        return {exitCode: 0, stderr: '', stdout: JSON.stringify(node(get[1], state))}
      }

      const lease = /^get lease (\S+) -n kube-node-lease -o json$/.exec(args)
      if (lease) {
        const renewTime = new Date(Date.now() - (this.leaseAge.get(lease[1]) ?? 0) * 1000).toISOString()
        return {exitCode: 0, stderr: '', stdout: JSON.stringify({apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: {name: lease[1], namespace: 'kube-node-lease'}, spec: {holderIdentity: lease[1], leaseDurationSeconds: 40, renewTime}})}
      }

      if (/^(label|annotate) node /.test(args)) return {exitCode: 0, stderr: '', stdout: `node/${args.split(' ')[2]} ${args.startsWith('label') ? 'labeled' : 'annotated'}\n`}
      const verb = /^(cordon|uncordon|drain) (\S+)/.exec(args)
      if (verb) return {exitCode: 0, stderr: '', stdout: `node/${verb[2]} ${verb[1]}ed\n`}
      return {exitCode: 1, stderr: `unexpected kubectl ${args}`, stdout: ''}
    }

    return {close: async () => {}, exec, sudo: exec} as unknown as HostConnection
  }
}

type Plan = {prepareFails?: boolean; activateFails?: boolean; k3sRestarts?: boolean; onActivate?: () => void}

/** A fake HostDeploy: records prepare/activate/abandon in `log`; its gate runs on the cluster's fake connection. */
function fakeRun(name: string, cluster: Cluster, log: string[], plan: Plan = {}): RolloutRun {
  const result: DeployHostResult = {action: 'switch', activation: 'none', closureChanges: [], connections: 0, host: name, magicRollback: 'not-armed', ok: false, steps: []}
  return {
    async abandonPrepared(reason: string, exitCode = 1) {
      log.push(`abandon ${name}`)
      result.error = {exitCode, lastLines: [], message: reason, notStarted: true, step: 'activate', suggestions: []}
      return result
    },
    async activate(hooks: ActivationHooks = {}) {
      if (hooks.beforeActivate) await hooks.beforeActivate(cluster.conn(name))
      log.push(`activate ${name}`)
      plan.onActivate?.()
      await new Promise((resolve) => setTimeout(resolve, 20))
      if (plan.activateFails) {
        result.error = {exitCode: 1, lastLines: [], message: 'nixos-rebuild switch exited with status 4', step: 'activate', suggestions: []}
      } else if (hooks.gate) {
        try {
          await hooks.gate(cluster.conn(name))
          log.push(`gate ${name} ok`)
        } catch (error) {
          log.push(`gate ${name} failed`)
          result.rolledBack = true
          result.error = {exitCode: 1, lastLines: [], message: `health gate failed: ${(error as Error).message}`, step: 'gate', suggestions: []}
        }
      }

      result.ok = !result.error
      log.push(`done ${name}`)
      return result
    },
    async prepare() {
      log.push(`build ${name}`)
      result.k3sRestarts = plan.k3sRestarts ?? false
      if (plan.prepareFails) result.error = {exitCode: 1, lastLines: [], message: 'nixos-rebuild build exited with status 1', step: 'build', suggestions: []}
      return !plan.prepareFails
    },
    result,
  }
}

async function rollout(hosts: HostConfig[], plans: Record<string, Plan>, options: {maxUnavailable?: number; drain?: boolean; gate?: boolean; cluster?: Cluster; onInterrupted?: DeployCallbacks['onInterrupted']} = {}) {
  const cluster = options.cluster ?? new Cluster()
  for (const h of hosts) if (!cluster.ready.has(h.name)) cluster.ready.set(h.name, 'True')
  const log: string[] = []
  const runs = hosts.map((h) => fakeRun(h.name, cluster, log, plans[h.name]))
  await runRollout(
    {
      action: 'switch',
      connectServer: async (server) => cluster.conn(server.name),
      homelab: homelab(hosts),
      hosts,
      onInterrupted: options.onInterrupted,
      rollout: {drain: options.drain ?? false, gate: options.gate ?? true, gateTimeoutSeconds: 1, maxUnavailable: options.maxUnavailable ?? 1, pollSeconds: 0.05},
    },
    runs,
  )
  return {cluster, log, results: Object.fromEntries(runs.map((r) => [r.result.host, r.result]))}
}

describe('activationWaves', () => {
  it('puts the server first, alone, then the agents in chunks of --max-unavailable, in homelab.yaml order', () => {
    const agentsFirst = [HOSTS[2], HOSTS[0], HOSTS[1], HOSTS[3]]
    expect(activationWaves(agentsFirst, 1).map((w) => w.map((h) => h.name))).toEqual([['azalab-0'], ['azalab-2'], ['azalab-1'], ['azalab-3']])
    expect(activationWaves(HOSTS, 2).map((w) => w.map((h) => h.name))).toEqual([['azalab-0'], ['azalab-1', 'azalab-2'], ['azalab-3']])
    expect(activationWaves([HOSTS[1], HOSTS[2]], 5).map((w) => w.map((h) => h.name))).toEqual([['azalab-1', 'azalab-2']])
  })
})

describe('nodeReady', () => {
  it('reads the Ready condition of a Node as k3s reports it', () => {
    expect(nodeReady(node('azalab-1', 'True'))).toEqual({ready: true, reason: 'Ready'})
    expect(nodeReady(node('azalab-1', 'Unknown'))).toEqual({ready: false, reason: 'Ready=Unknown (KubeletNotReady): kubelet is posting ready status'})
    expect(nodeReady({status: {conditions: []}})).toEqual({ready: false, reason: 'no Ready condition yet'})
  })
})

describe('healthGate', () => {
  it('waits until k3s is active and the node Ready, then says how long it took', async () => {
    const cluster = new Cluster()
    cluster.k3s.set('azalab-1', 'activating')
    cluster.ready.set('azalab-1', 'Unknown')
    setTimeout(() => cluster.k3s.set('azalab-1', 'active'), 100)
    setTimeout(() => cluster.ready.set('azalab-1', 'True'), 250)
    const detail = await healthGate({host: HOSTS[1], hostConn: cluster.conn('azalab-1'), rollout: {drain: false, gateTimeoutSeconds: 5, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('azalab-0')})
    expect(detail).toMatch(/^k3s active, node azalab-1 Ready, Lease renewed after \d+ s$/)
    // The node and its Lease were asked of the server, not of the agent.
    expect(cluster.kubectl.every((c) => /^azalab-0: get (node|lease) azalab-1/.test(c))).toBe(true)
  })

  it('a node still Ready whose kubelet has not renewed its Lease lately is not healthy (a stale Ready); one renewed before k3s restarted is not either', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-1', 'True')
    cluster.leaseAge.set('azalab-1', 60)
    const gate = (timeout: number) => healthGate({host: HOSTS[1], hostConn: cluster.conn('azalab-1'), rollout: {drain: false, gateTimeoutSeconds: timeout, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('azalab-0')})
    await expect(gate(0.2)).rejects.toThrow(/^node azalab-1's kubelet has not renewed its Lease in the last 15 s \(last renewal (59|60|61) s ago\) after 0\.2 s$/)
    // k3s restarted 5 s ago: a renewal 8 s ago is the old process's.
    cluster.leaseAge.set('azalab-1', 8)
    cluster.startedAt.set('azalab-1', Math.floor(Date.now() / 1000) - 5)
    await expect(gate(0.2)).rejects.toThrow(/^node azalab-1's kubelet has not renewed its Lease since k3s\.service started \(last renewal (7|8|9) s ago\) after 0\.2 s$/)
    cluster.leaseAge.delete('azalab-1')
    expect(await gate(5)).toMatch(/Lease renewed/)
  })

  it('k3s.service restarting between two polls (a crash loop under Restart=always) is not healthy', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-1', 'True')
    let n = 0
    const timer = setInterval(() => cluster.restarts.set('azalab-1', ++n), 20)
    try {
      await expect(healthGate({host: HOSTS[1], hostConn: cluster.conn('azalab-1'), rollout: {drain: false, gateTimeoutSeconds: 0.3, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('azalab-0')})).rejects.toThrow(
        /^k3s\.service restarted during the gate on azalab-1 \(NRestarts \d+ → \d+\) after 0\.3 s$/,
      )
    } finally {
      clearInterval(timer)
    }
  })

  it('on the server also asks the API /readyz; names what is still wrong when the time runs out', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-0', 'True')
    cluster.apiUp = false
    const gate = healthGate({host: HOSTS[0], hostConn: cluster.conn('azalab-0'), rollout: {drain: false, gateTimeoutSeconds: 0.3, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('nobody')})
    await expect(gate).rejects.toThrow(/^the k3s API does not answer \(k3s kubectl get --raw=\/readyz on the host failed: The connection to the server 127\.0\.0\.1:6443 was refused\) after 0\.3 s$/)
    cluster.k3s.set('azalab-0', 'failed')
    await expect(healthGate({host: HOSTS[0], hostConn: cluster.conn('azalab-0'), rollout: {drain: false, gateTimeoutSeconds: 0.1, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('x')})).rejects.toThrow('k3s.service is failed on azalab-0 after 0.1 s')
  })

  it('an agent whose node the server does not know yet is not healthy', async () => {
    const cluster = new Cluster()
    await expect(healthGate({host: HOSTS[1], hostConn: cluster.conn('azalab-1'), rollout: {drain: false, gateTimeoutSeconds: 0.1, maxUnavailable: 1, pollSeconds: 0.05}, server: async () => cluster.conn('azalab-0')})).rejects.toThrow(
      'node azalab-1 is not known to the server (k3s kubectl get node on the host failed: Error from server (NotFound): nodes "azalab-1" not found) after 0.1 s',
    )
  })
})

describe('runRollout', () => {
  it('builds every host first, then activates the server, then one agent at a time, each after the previous gate', async () => {
    const {log, results} = await rollout(HOSTS, {})
    expect(log.slice(0, 4).sort()).toEqual(['build azalab-0', 'build azalab-1', 'build azalab-2', 'build azalab-3'])
    expect(log.slice(4)).toEqual(['activate azalab-0', 'gate azalab-0 ok', 'done azalab-0', ...['azalab-1', 'azalab-2', 'azalab-3'].flatMap((h) => [`activate ${h}`, `gate ${h} ok`, `done ${h}`])])
    expect(Object.values(results).map((r) => r.rollout)).toEqual(['activated', 'activated', 'activated', 'activated'])
  })

  it('--max-unavailable 2 activates two agents at once, never the server beside them', async () => {
    let active = 0
    let most = 0
    const plan = {onActivate: () => {
      active++
      most = Math.max(most, active)
      setTimeout(() => active--, 15)
    }}
    const {log} = await rollout(HOSTS, {'azalab-0': plan, 'azalab-1': plan, 'azalab-2': plan, 'azalab-3': plan}, {maxUnavailable: 2})
    expect(most).toBe(2)
    expect(log.indexOf('done azalab-0')).toBeLessThan(log.indexOf('activate azalab-1'))
    expect(log.indexOf('activate azalab-2')).toBeLessThan(log.indexOf('done azalab-1'))
    expect(log.indexOf('done azalab-2')).toBeLessThan(log.indexOf('activate azalab-3'))
  })

  it('a server failing its gate is rolled back and no agent is activated (their flake.lock is put back)', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-0', 'False')
    const {log, results} = await rollout(HOSTS.slice(0, 3), {}, {cluster})
    expect(log).toContain('gate azalab-0 failed')
    expect(log.filter((l) => l.startsWith('activate'))).toEqual(['activate azalab-0'])
    expect(log).toEqual(expect.arrayContaining(['abandon azalab-1', 'abandon azalab-2']))
    expect(results['azalab-0']).toMatchObject({ok: false, rollout: 'rolled-back'})
    expect(results['azalab-0'].error!.message).toContain('node azalab-0 is not Ready (Ready=False (KubeletNotReady)')
    expect(results['azalab-1']).toMatchObject({error: {message: 'not activated: azalab-0 failed at gate; this host still runs its previous generation', notStarted: true}, rollout: 'not-started'})
  })

  it('an agent failing its gate stops the agents after it; the ones before stay activated', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-2', 'False')
    const {results} = await rollout(HOSTS, {}, {cluster})
    expect(Object.values(results).map((r) => r.rollout)).toEqual(['activated', 'activated', 'rolled-back', 'not-started'])
  })

  it('an agent that fails to build stays on its old generation while the server and the other agents activate', async () => {
    const {log, results} = await rollout(HOSTS.slice(0, 3), {'azalab-1': {prepareFails: true}})
    expect(log).not.toContain('activate azalab-1')
    expect(log).not.toContain('abandon azalab-1')
    expect(Object.values(results).map((r) => r.rollout)).toEqual(['activated', 'failed', 'activated'])
    expect(results['azalab-1'].error!.step).toBe('build')
  })

  it('a server that fails to build stops every agent', async () => {
    const {log, results} = await rollout(HOSTS.slice(0, 3), {'azalab-0': {prepareFails: true}})
    expect(log.filter((l) => l.startsWith('activate'))).toEqual([])
    expect(results['azalab-2']).toMatchObject({error: {message: 'not activated: the server azalab-0 failed at build; this host still runs its previous generation'}, rollout: 'not-started'})
  })

  it('cordons an agent whose switch restarts k3s before it, uncordons it after its gate; --drain drains', async () => {
    const {cluster, log, results} = await rollout(HOSTS.slice(0, 3), {'azalab-1': {k3sRestarts: true}})
    const verbs = cluster.kubectl.filter((c) => /cordon|drain/.test(c))
    expect(verbs).toEqual(['azalab-0: cordon azalab-1', 'azalab-0: uncordon azalab-1'])
    expect(log.indexOf('gate azalab-1 ok')).toBeLessThan(log.indexOf('done azalab-1'))
    expect(results['azalab-1'].cordon).toBe('uncordoned')
    expect(results['azalab-2'].cordon).toBeUndefined() // k3s unchanged: not cordoned
    const drained = await rollout(HOSTS.slice(0, 2), {'azalab-1': {k3sRestarts: true}}, {drain: true})
    expect(drained.cluster.kubectl.filter((c) => /cordon|drain/.test(c))).toEqual(['azalab-0: drain azalab-1 --ignore-daemonsets --delete-emptydir-data --timeout=300s', 'azalab-0: uncordon azalab-1'])
  })

  it('an agent rolled back by its gate stays cordoned (said, not hidden)', async () => {
    const cluster = new Cluster()
    cluster.ready.set('azalab-1', 'False')
    const {results} = await rollout(HOSTS.slice(0, 2), {'azalab-1': {k3sRestarts: true}}, {cluster})
    expect(results['azalab-1']).toMatchObject({cordon: 'cordoned', rollout: 'rolled-back'})
    expect(cluster.kubectl.some((c) => c.includes('uncordon'))).toBe(false)
  })

  it('--no-gate activates in the same order without gating: the cluster is asked only for the nodes\' labels, after the rollout', async () => {
    const {cluster, log} = await rollout(HOSTS.slice(0, 2), {}, {gate: false})
    expect(log.slice(2)).toEqual(['activate azalab-0', 'done azalab-0', 'activate azalab-1', 'done azalab-1'])
    expect(cluster.kubectl).toEqual(['azalab-0: get node azalab-0 -o json', 'azalab-0: get node azalab-1 -o json'])
  })

  it('after the rollout, each host\'s Node gets the labels homelab.yaml gives it (k3s sets --node-label only at registration)', async () => {
    const hosts = [HOSTS[0], {...HOSTS[1], labels: {'homelab.dev/gpu': 'true'}}]
    const {cluster, results} = await rollout(hosts, {}, {})
    expect(cluster.kubectl.filter((c) => /: (label|annotate) /.test(c))).toEqual([
      'azalab-0: label node azalab-1 --overwrite homelab.dev/gpu=true',
      'azalab-0: annotate node azalab-1 --overwrite homelab.dev/managed-labels=homelab.dev/gpu',
    ])
    expect(results['azalab-1'].nodeLabels).toBe('set homelab.dev/gpu=true')
    expect(results['azalab-0'].nodeLabels).toBeUndefined()
  })

  it('a signal while the server activates releases the waiting agents at once (exit code 130 on them), lets the server finish, then removes its handlers', async () => {
    const calls: {final: boolean; released: string[]; activating: string[]}[] = []
    const listeners = process.listenerCount('SIGINT')
    const {log, results} = await rollout(HOSTS.slice(0, 3), {'azalab-0': {onActivate: () => process.emit('SIGINT')}}, {onInterrupted: (info) => calls.push({activating: info.activating, final: info.final, released: info.released})})
    expect(calls).toEqual([{activating: ['azalab-0'], final: false, released: ['azalab-1', 'azalab-2']}])
    expect(log.slice(3)).toEqual(['activate azalab-0', 'abandon azalab-1', 'abandon azalab-2', 'gate azalab-0 ok', 'done azalab-0'])
    expect(results['azalab-0'].rollout).toBe('activated')
    for (const agent of ['azalab-1', 'azalab-2']) expect(results[agent]).toMatchObject({error: {exitCode: 130, message: 'not activated: interrupted (SIGINT); this host still runs its previous generation', notStarted: true}, rollout: 'not-started'})
    // No label changes after an interrupted rollout, and no handler left behind.
    expect(process.listenerCount('SIGINT')).toBe(listeners)
  })

  it('a second signal asks the command to exit at once, naming the host still activating', async () => {
    const calls: {final: boolean; activating: string[]}[] = []
    await rollout(HOSTS.slice(0, 2), {'azalab-0': {onActivate: () => {
      process.emit('SIGTERM')
      process.emit('SIGTERM')
    }}}, {onInterrupted: (info) => calls.push({activating: info.activating, final: info.final})})
    expect(calls).toEqual([{activating: ['azalab-0'], final: false}, {activating: ['azalab-0'], final: true}])
  })
})
