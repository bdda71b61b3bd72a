import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'

import {combineHostBackups} from '../../../src/lib/backup/hosts-status.js'
import {type BackupSettings, evaluateBackupStatus, type HostBackupState} from '../../../src/lib/backup/index.js'
import {hostBackupSources, unplacedApps} from '../../../src/lib/backup/settings.js'
import type {Homelab} from '../../../src/lib/config/load.js'
import {homelabConfigSchema, storageFileSchema} from '../../../src/lib/config/schema.js'
import {renderHostsBackupStatus} from '../../../src/ui/backup.js'

// `homelab backup status` grouped by host: which sources each host snapshots (as
// nixos/backup-settings.nix gives them), and the per-host results combined into one report.

const homelab: Homelab = {
  config: homelabConfigSchema.parse({
    backup: {offsite: {credentialsFile: 'x.sops.yaml', endpoint: 'e'}}, cluster: {name: 'azalab-0', path: 'flux/clusters/azalab-0'}, domain: 'aza.network', storage: {}, version: 1,
    hosts: [{name: 'azalab-1', role: 'agent', ssh: 'aiden@azalab-1'}, {name: 'azalab-0', role: 'server', ssh: 'aiden@azalab-0'}],
  }),
  root: '/nowhere',
}
const storage = storageFileSchema.parse({
  apps: [
    {gid: 1, mode: '0750', name: 'libsql', path: '/srv/libsql', uid: 1},
    {gid: 1, mode: '0750', name: 'immich', node: 'azalab-1', path: '/srv/immich', uid: 1},
    {gid: 1, mode: '0750', name: 'vaultwarden', node: 'azalab-0', path: '/srv/vaultwarden', uid: 1},
  ],
  extraBackupSources: ['/etc/nixos'],
})

const now = new Date('2026-12-01T12:00:00Z')
const ago = (hours: number) => new Date(now.getTime() - hours * 3600_000).toISOString()
const settings = (sources: string[]): BackupSettings => ({
  bucket: 'azalab-kopia', credentialsFile: 'x', drillPeriodSeconds: 604_800, drillSchedule: 'Sun *-*-* 04:00:00', drillStaleAfterSeconds: 604_800 + 21_600, endpoint: 'e', file: 'nixos/backup.json',
  graceHours: 6, offsiteDeleteAfterDays: 30, offsiteStaleAfterSeconds: 1, periodSeconds: 86_400, prefix: 'kopia/', repositoryPath: '/var/lib/kopia/repository', schedule: '*-*-* 02:30:00',
  sources, stateDir: '/var/lib/homelab/backup', staleAfterSeconds: 86_400 + 21_600, storageFile: 'nixos/storage.json', storageRoot: '/srv', syncEveryHours: 6, syncStaleAfterSeconds: 43_200,
})
/** A host's backup state: each source snapshotted `hours` ago (default 1), a good sync an hour ago. */
const state = (sources: string[], hours: Record<string, number> = {}): HostBackupState => ({
  failures: [],
  lastDrill: undefined,
  lastRun: undefined,
  lastSync: {bucket: 'azalab-kopia', end: ago(1), endpoint: 'e', error: null, exitCode: 0, prefix: 'kopia/', result: 'success', start: ago(1), version: 1},
  snapshots: sources.map((p, i) => ({
    endTime: ago(hours[p] ?? 1), id: `id${i}`, rootEntry: {name: 'x', obj: 'kabc', summ: {files: 2, numFailed: 0, size: 2048}, type: 'd'}, source: {host: 'h', path: p, userName: 'root'}, startTime: ago(hours[p] ?? 1),
  })) as HostBackupState['snapshots'],
  storageFolders: [],
  storageRootExists: false,
  timers: {},
  unreadable: [],
})
const plain = new Chalk({level: 0})
const [agent, server] = homelab.config.hosts

describe('hostBackupSources', () => {
  it('each host: the apps on its node (no node = the k3s server), then every extra source', () => {
    expect(hostBackupSources(homelab, storage, 'azalab-0')).toEqual(['/srv/libsql', '/srv/vaultwarden', '/etc/nixos'])
    expect(hostBackupSources(homelab, storage, 'azalab-1')).toEqual(['/srv/immich', '/etc/nixos'])
    expect(hostBackupSources(homelab, storage, 'azalab-9')).toEqual(['/etc/nixos'])
  })
})

describe('combineHostBackups', () => {
  const serverSources = hostBackupSources(homelab, storage, 'azalab-0')
  const agentSources = hostBackupSources(homelab, storage, 'azalab-1')

  it('two hosts: every source carries its host, problems are prefixed, the server is the top-level host, exit state from all', () => {
    const combined = combineHostBackups(
      [
        {error: null, host: agent, status: evaluateBackupStatus(state(agentSources, {'/srv/immich': 50}), settings(agentSources), now)},
        {error: null, host: server, status: evaluateBackupStatus(state(serverSources), settings(serverSources), now)},
      ],
      'azalab-0',
    )!
    expect(combined.host).toBe('azalab-0')
    expect(combined.ok).toBe(false)
    expect(combined.sources.map((s) => `${s.host}:${s.path}:${s.state}`)).toEqual([
      'azalab-1:/srv/immich:stale', 'azalab-1:/etc/nixos:ok', 'azalab-0:/srv/libsql:ok', 'azalab-0:/srv/vaultwarden:ok', 'azalab-0:/etc/nixos:ok',
    ])
    expect(combined.problems).toEqual(['azalab-1: /srv/immich: newest snapshot is 2d 2h old (stale after 1d 6h)'])
    expect(combined.warnings.every((w) => /^azalab-[01]: /.test(w))).toBe(true)
    expect(combined.hosts.map((h) => [h.name, h.role, h.status?.ok])).toEqual([['azalab-1', 'agent', false], ['azalab-0', 'server', true]])

    const text = renderHostsBackupStatus(combined, plain)
    const at = text.indexOf('\n\nazalab-0 (')
    expect(at).toBeGreaterThan(0)
    const [first, second] = [text.slice(0, at), text.slice(at + 2)]
    expect(first.split('\n')[0]).toBe('azalab-1 (aiden@azalab-1)')
    expect(first).toMatch(/\/srv\/immich +stale/)
    expect(first).not.toContain('/srv/libsql')
    expect(second.split('\n')[0]).toBe('azalab-0 (aiden@azalab-0)')
    expect(second).toMatch(/\/srv\/libsql +ok/)
    expect(second).not.toContain('/srv/immich')
  })

  it('one host unreachable: a heading saying so, not ok; the other shown; none reachable: null', () => {
    const combined = combineHostBackups(
      [
        {error: 'azalab-1 (aiden@azalab-1): ssh: connect to host azalab-1 port 22: Connection refused', host: agent, status: null},
        {error: null, host: server, status: evaluateBackupStatus(state(serverSources), settings(serverSources), now)},
      ],
      'azalab-0',
    )!
    expect(combined.ok).toBe(false)
    expect(combined.problems).toEqual(['azalab-1: unreachable: azalab-1 (aiden@azalab-1): ssh: connect to host azalab-1 port 22: Connection refused'])
    expect(combined.sources.every((s) => s.host === 'azalab-0')).toBe(true)
    expect(renderHostsBackupStatus(combined, plain)).toMatch(/^azalab-1 \(aiden@azalab-1\)\n✗ unreachable: azalab-1 \(aiden@azalab-1\): ssh: connect to host azalab-1 port 22: Connection refused\n\nazalab-0 \(aiden@azalab-0\)\nSOURCE +STATE/)
    expect(combineHostBackups([{error: 'down', host: server, status: null}], 'azalab-0')).toBeNull()
  })

  it('an app whose storage node is no host: a problem, not ok', () => {
    expect(hostBackupSources(homelab, storageFileSchema.parse({apps: [{gid: 1, mode: '0750', name: 'x', node: 'gone-0', path: '/srv/x', uid: 1}], extraBackupSources: []}), 'azalab-0')).toEqual([])
    const unplaced = unplacedApps(homelab, storageFileSchema.parse({apps: [...storage.apps, {gid: 1, mode: '0750', name: 'x', node: 'gone-0', path: '/srv/x', uid: 1}], extraBackupSources: []}))
    expect(unplaced).toEqual([{node: 'gone-0', path: '/srv/x'}])
    const combined = combineHostBackups([{error: null, host: server, status: evaluateBackupStatus(state(serverSources), settings(serverSources), now)}], 'azalab-0', unplaced)!
    expect(combined.ok).toBe(false)
    expect(combined.problems).toEqual(['/srv/x: its storage node gone-0 is no host of homelab.yaml, so no host snapshots it: set apps[].node in the storage file to a host'])
  })

  it('one host: the report as before plus the heading and `hosts`; problems not prefixed', () => {
    const status = evaluateBackupStatus(state(serverSources, {'/srv/libsql': 50}), settings(serverSources), now)
    const combined = combineHostBackups([{error: null, host: server, status}], 'azalab-0')!
    expect(combined.problems).toEqual(status.problems)
    expect({...combined, hosts: undefined, sources: combined.sources.map(({host: _host, ...s}) => s)}).toEqual({...status, host: 'azalab-0', hosts: undefined})
    expect(renderHostsBackupStatus(combined, plain).split('\n')[0]).toBe('azalab-0 (aiden@azalab-0)')
  })
})
