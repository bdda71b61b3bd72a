import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Homelab} from '../../../src/lib/config/load.js'
import {homelabConfigSchema} from '../../../src/lib/config/schema.js'
import {gatherStatus} from '../../../src/lib/status/gather.js'
import {renderStatus} from '../../../src/ui/status.js'
import {Chalk} from 'chalk'
import {azalabFixture} from '../flux/fixtures.js'

let dir: string
let commits: string[] = []
let homelab: Homelab

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', args, {cwd, env: {GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e'}})
  return String(r.stdout).trim()
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-status-'))
  await git(dir, 'init', '-q', '--bare', '-b', 'main', 'origin.git')
  const repo = path.join(dir, 'repo')
  await git(dir, 'clone', '-q', 'origin.git', 'repo')
  await git(repo, 'checkout', '-q', '-b', 'main')
  for (const subject of ['Initial tree', 'Add vaultwarden', 'Bump immich to 1.140', 'Add tuwunel']) {
    await git(repo, 'commit', '-q', '--allow-empty', '-m', subject)
    commits.push(await git(repo, 'rev-parse', 'HEAD'))
  }
  await git(repo, 'push', '-q', 'origin', 'main')
  await git(repo, 'commit', '-q', '--allow-empty', '-m', 'Local only')
  const config = homelabConfigSchema.parse({
    backup: {offsite: {bucket: 'azalab-kopia', credentialsFile: 'x.sops.yaml', endpoint: 'e'}}, cluster: {name: 'azalab-0', path: 'flux/clusters/azalab-0'},
    domain: 'aza.network', hosts: [{name: 'azalab-0', ssh: 'aiden@azalab-0'}], storage: {}, version: 1,
  })
  homelab = {config, root: repo}
})

afterAll(async () => {
  await fs.rm(dir, {force: true, recursive: true})
})

function fakeHost(fixture: string, options: {failedUnits?: string; configRev?: string; helmReleases?: boolean} = {}) {
  const commands: string[] = []
  const flakeLock = JSON.stringify({nodes: {homelab: {locked: {lastModified: 1_795_000_000, rev: commits[2]}}, root: {inputs: {homelab: 'homelab'}}}, root: 'root', version: 7})
  return {
    commands,
    async exec(command: string) {
      commands.push(command)
      if (command.includes('kubectl get')) {
        const list = JSON.parse(azalabFixture(fixture, {commit: commits[1], previous: commits[0]}))
        if (options.helmReleases) list.items.push(...JSON.parse(azalabFixture('helmreleases')).items)
        return {exitCode: 0, stderr: '', stdout: JSON.stringify(list)}
      }
      if (command.startsWith('nixos-rebuild')) return {exitCode: 0, stderr: '', stdout: JSON.stringify([{configurationRevision: commits[0], current: true, date: '2026-11-24 07:02:41', generation: 42, kernelVersion: '6.12.59', nixosVersion: '25.11.20251122.5c6d7e8', specialisations: []}])}
      const out = [
        '@@homelab uptime', '273645.12 1000.5', '@@homelab rc 0',
        '@@homelab configuration-revision', options.configRev ?? commits[0], '@@homelab rc 0',
        '@@homelab flake-lock', flakeLock, '@@homelab rc 0',
        '@@homelab failed-units', options.failedUnits ?? '', '@@homelab rc 0',
        '@@homelab disk', 'Filesystem 1024-blocks Used Available Capacity Mounted on', '/dev/sda2 1000000 530000 470000 53% /', '@@homelab rc 0',
      ]
      return {exitCode: 0, stderr: '', stdout: out.join('\n') + '\n'}
    },
    sudo: async () => ({exitCode: 1, stderr: 'no', stdout: ''}),
  }
}

const NOW = new Date('2026-11-24T08:00:00Z')
const plain = new Chalk({level: 0})

describe('gatherStatus', () => {
  it('source behind the remote by N named commits; drift of all three; host facts; three channels', async () => {
    const host = fakeHost('healthy')
    const report = await gatherStatus({connection: host, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(host.commands).toHaveLength(3)
    expect(report.source).toMatchObject({commit: commits[1], localHead: expect.any(String), remoteHead: commits[3], state: 'behind'})
    expect(report.source?.behind).toEqual({commits: [{commit: commits[3], subject: 'Add tuwunel'}, {commit: commits[2], subject: 'Bump immich to 1.140'}], count: 2})
    expect(report.drift).toEqual({
      agree: false, branchRef: 'origin/main',
      fluxApplied: {behind: 2, commit: commits[1]}, hostConfiguration: {behind: 3, commit: commits[0]}, remote: {behind: 0, commit: commits[3]},
    })
    expect(report.system.flakeLock).toMatchObject({behindHead: 2, commit: commits[2], input: 'homelab'})
    expect(report.system.node).toEqual({kubeletVersion: 'v1.33.5+k3s1', message: 'kubelet is posting ready status', name: 'azalab-0', ready: 'True'})
    expect(report.verdict).toBe('healthy')
    expect(report.errors).toEqual([])
    const text = renderStatus(report, plain, NOW)
    expect(text).toContain(`Source  GitRepository flux-system/flux-system serves main@${commits[1].slice(0, 7)}: behind origin/main by 2 commits`)
    expect(text).toContain(`${commits[3].slice(0, 7)} Add tuwunel`)
    expect(text).toContain(`Drift   origin/main ${commits[3].slice(0, 7)}  ·  Flux applied ${commits[1].slice(0, 7)} (2 behind)  ·  host built from ${commits[0].slice(0, 7)} (3 behind)`)
  })

  it('degraded: failures first, failed units, problems listed', async () => {
    const report = await gatherStatus({connection: fakeHost('stalled', {failedUnits: 'kopia-backup.service loaded failed failed Kopia'}), fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(report.verdict).toBe('degraded')
    expect(report.objects.map((o) => `${o.name}:${o.health}`)).toEqual(['infrastructure:stalled', 'apps:ready', 'flux-system:ready'])
    expect(report.problems).toEqual(['Kustomization flux-system/infrastructure: stalled (BuildFailed)', 'failed units: kopia-backup.service'])
  })

  it('HelmReleases and Kustomizations sorted together, failures first; suspended marked', async () => {
    const report = await gatherStatus({connection: fakeHost('healthy', {helmReleases: true}), fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(report.objects.map((o) => `${o.kind}/${o.name}:${o.health}${o.suspended ? ':suspended' : ''}`)).toEqual([
      'HelmRelease/podinfo:failed', 'HelmRelease/cert-manager:ready', 'Kustomization/apps:ready', 'Kustomization/flux-system:ready', 'Kustomization/infrastructure:ready', 'HelmRelease/weave-gitops:ready:suspended',
    ])
    expect(report.objects[0]).toMatchObject({appliedCommit: null, appliedRevision: 'podinfo@6.7.1', reason: 'UpgradeFailed'})
    const text = renderStatus(report, plain, NOW)
    expect(text).toMatch(/‖ +HelmRelease +weave-gitops\/weave-gitops \(suspended\) +True +InstallSucceeded +weave-gitops@4.0.36/)
    expect(report.problems).toEqual(['HelmRelease podinfo/podinfo: failed (UpgradeFailed)'])
  })

  it('an unset configurationRevision is named in the drift line', async () => {
    const report = await gatherStatus({connection: fakeHost('healthy', {configRev: ''}), fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(report.system.configurationRevision).toBe('')
    expect(report.drift.hostConfiguration).toEqual({behind: null, commit: null})
    expect(renderStatus(report, plain, NOW)).toContain('host built from unknown (system.configurationRevision is unset)')
  })

  it('fetch failure is a source state with the message', async () => {
    const report = await gatherStatus({connection: fakeHost('fetch-failure'), fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(report.source?.state).toBe('fetch-failing')
    expect(report.source?.message).toContain('knownhosts: key mismatch')
    expect(renderStatus(report, plain, NOW)).toContain('fetch failing: failed to checkout and determine revision')
  })

  it('a kubectl failure is an error entry and degrades, other facts still shown', async () => {
    const host = fakeHost('healthy')
    const connection = {...host, exec: async (c: string) => (c.includes('kubectl') ? {exitCode: 1, stderr: 'The connection to the server 127.0.0.1:6443 was refused', stdout: ''} : host.exec(c))}
    const report = await gatherStatus({connection, fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(report.errors.map((e) => e.fact)).toEqual(['flux'])
    expect(report.verdict).toBe('degraded')
    expect(report.system.uptimeSeconds).toBe(273_645)
    // Without the node list, no host is said to lack a node.
    expect(report.nodes).toBeNull()
    const text = renderStatus(report, plain, NOW)
    expect(text).not.toContain('Nodes\n')
    expect(text).toMatch(/Hosts\n.*\n.*azalab-0 +server +42 .* behind: runs [0-9a-f]{7}, main is [0-9a-f]{7} \(1 commit\)$/m)
    expect(text).not.toContain('no k3s node')
  })
})

describe('gatherStatus across hosts (nodes and hosts sections)', () => {
  /** The homelab with a server and two agents (azalab-2 has no node in the fixture). */
  const several = (): Homelab => ({
    ...homelab,
    config: homelabConfigSchema.parse({
      backup: {offsite: {bucket: 'azalab-kopia', credentialsFile: 'x.sops.yaml', endpoint: 'e'}}, cluster: {name: 'azalab-0', path: 'flux/clusters/azalab-0'},
      domain: 'aza.network', storage: {}, version: 1,
      hosts: [{name: 'azalab-0', role: 'server', ssh: 'aiden@azalab-0'}, {name: 'azalab-1', role: 'agent', ssh: 'aiden@azalab-1'}, {name: 'azalab-2', role: 'agent', ssh: 'aiden@azalab-2'}],
    }),
  })

  /** The server's kubectl lists azalab-0 (control-plane), azalab-1 (agent, NotReady) and stray-0 (no host). */
  function serverWithNodes() {
    const host = fakeHost('healthy')
    return {
      ...host,
      async exec(command: string) {
        const r = await host.exec(command)
        if (!command.includes('kubectl get')) return r
        const list = JSON.parse(r.stdout)
        const node = (name: string, ready: string, reason: string, message: string, since: string) => ({
          apiVersion: 'v1', kind: 'Node', metadata: {labels: {'kubernetes.io/hostname': name}, name},
          status: {conditions: [{lastTransitionTime: since, message, reason, status: ready, type: 'Ready'}], nodeInfo: {kubeletVersion: 'v1.33.5+k3s1'}},
        })
        list.items.push(node('azalab-1', 'False', 'KubeletNotReady', 'container runtime network not ready', '2026-11-24T07:55:00Z'))
        list.items.push(node('stray-0', 'True', 'KubeletReady', 'kubelet is posting ready status', '2026-11-20T08:00:00Z'))
        return {...r, stdout: JSON.stringify(list)}
      },
    }
  }

  const agentFacts = (rev: string, generation: number) => ({
    configurationRevision: rev, errors: [], failedUnits: [], storage: null, uptimeSeconds: 100,
    flakeLock: {commit: rev, input: 'homelab', lastModified: null},
    generation: {builtAt: '2026-11-23 21:14:03', kernelVersion: '6.12.59', nixosVersion: '25.11', number: generation},
  })

  it('every node with roles and Ready since; every host with generation and revision; behind, unreachable, missing node and host flagged', async () => {
    const h = several()
    const read: string[] = []
    const report = await gatherStatus({
      connection: serverWithNodes(), fetch: false, homelab: h, host: h.config.hosts[0], hosts: h.config.hosts, now: NOW,
      async readHost(host) {
        read.push(host.name)
        if (host.name === 'azalab-2') throw new Error('azalab-2 (aiden@azalab-2): ssh: connect to host azalab-2 port 22: No route to host\nmore')
        return agentFacts(commits[1], 7)
      },
    })
    expect(read.sort()).toEqual(['azalab-1', 'azalab-2'])
    expect(report.nodes).toEqual([
      {host: 'azalab-0', kubeletVersion: 'v1.33.5+k3s1', message: 'kubelet is posting ready status', name: 'azalab-0', ready: 'True', reason: 'KubeletReady', roles: ['control-plane'], since: '2026-11-24T07:00:00Z'},
      {host: 'azalab-1', kubeletVersion: 'v1.33.5+k3s1', message: 'container runtime network not ready', name: 'azalab-1', ready: 'False', reason: 'KubeletNotReady', roles: [], since: '2026-11-24T07:55:00Z'},
      {host: null, kubeletVersion: 'v1.33.5+k3s1', message: 'kubelet is posting ready status', name: 'stray-0', ready: 'True', reason: 'KubeletReady', roles: [], since: '2026-11-20T08:00:00Z'},
    ])
    // The server pins commits[2], the branch head (origin/main) is commits[3].
    expect(report.hosts.map((x) => [x.name, x.role, x.state, x.generation?.number ?? null, x.revision?.commit ?? null, x.behindBy, x.node])).toEqual([
      ['azalab-0', 'server', 'behind', 42, commits[2], 1, 'azalab-0'],
      ['azalab-1', 'agent', 'behind', 7, commits[1], 2, 'azalab-1'],
      ['azalab-2', 'agent', 'unreachable', null, null, null, null],
    ])
    expect(report.hosts[2].error).toBe('azalab-2 (aiden@azalab-2): ssh: connect to host azalab-2 port 22: No route to host')
    expect(report.system.node?.name).toBe('azalab-0')
    expect(report.problems).toEqual(['node azalab-1 not Ready', 'host azalab-2 unreachable'])
    expect(report.verdict).toBe('degraded')

    const text = renderStatus(report, plain, NOW)
    expect(text).toMatch(/Nodes\n +NODE +STATUS +SINCE +ROLES +VERSION +NOTE\n/)
    expect(text).toMatch(/✓ +azalab-0 +Ready +1h 0m ago +control-plane +v1\.33\.5\+k3s1\n/)
    expect(text).toMatch(/✗ +azalab-1 +NotReady +5m ago +<none> +v1\.33\.5\+k3s1 +KubeletNotReady: container runtime network not ready\n/)
    expect(text).toMatch(/✓ +stray-0 +Ready +4d 0h ago +<none> +v1\.33\.5\+k3s1 +no host in homelab\.yaml\n/)
    expect(text).toMatch(/Hosts\n +HOST +ROLE +GENERATION +BUILT +REVISION +NOTE\n/)
    expect(text).toContain(`azalab-0  server  42          2026-11-24 07:02:41  homelab ${commits[2].slice(0, 7)}  behind: runs ${commits[2].slice(0, 7)}, main is ${commits[3].slice(0, 7)} (1 commit)`)
    expect(text).toContain(`azalab-1  agent   7           2026-11-23 21:14:03  homelab ${commits[1].slice(0, 7)}  behind: runs ${commits[1].slice(0, 7)}, main is ${commits[3].slice(0, 7)} (2 commits)`)
    expect(text).toMatch(/✗ +azalab-2 +agent +- +- +- +unreachable: azalab-2 \(aiden@azalab-2\): ssh: connect to host azalab-2 port 22: No route to host$/m)
  })

  it('a host on the branch head is current; a host without a node is flagged but does not degrade; --host of one agent reads only it', async () => {
    const h = several()
    const report = await gatherStatus({
      connection: fakeHost('healthy'), fetch: false, homelab: h, host: h.config.hosts[0], hosts: [h.config.hosts[1]], now: NOW,
      readHost: async () => agentFacts(commits[3], 3),
    })
    expect(report.hosts).toHaveLength(1)
    expect(report.hosts[0]).toMatchObject({behindBy: 0, branchHead: commits[3], name: 'azalab-1', node: null, state: 'current'})
    expect(report.verdict).toBe('healthy')
    // The server's facts are still read (the cluster part always comes from the server).
    expect(report.system.generation?.number).toBe(42)
    const text = renderStatus(report, plain, NOW)
    expect(text).toMatch(/! +azalab-1 +agent +3 +2026-11-23 21:14:03 +homelab [0-9a-f]{7} += main; no k3s node of this name$/m)
  })

  it('one host alone (the default of a one-host homelab): the server row reuses the facts of the one connection', async () => {
    const host = fakeHost('healthy')
    const report = await gatherStatus({connection: host, fetch: false, homelab, host: homelab.config.hosts[0], now: NOW})
    expect(host.commands).toHaveLength(3)
    expect(report.hosts).toEqual([
      expect.objectContaining({error: null, name: 'azalab-0', node: 'azalab-0', revision: expect.objectContaining({commit: commits[2]}), role: 'server', state: 'behind'}),
    ])
  })
})
