import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {type BackupSettings, evaluateBackupStatus, type HostBackupState, offsiteTarget} from '../../../src/lib/backup/index.js'
import type {Homelab} from '../../../src/lib/config/load.js'
import {homelabConfigSchema} from '../../../src/lib/config/schema.js'
import {UsageError} from '../../../src/lib/errors.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {haveTool} from '../../helpers/have-tool.js'
import {withTestNixConfig} from '../../helpers/nix-config.js'

// Each host's off-site copy in its own key prefix and marker (issue 14 follow-up): the CLI's
// offsiteTarget, the same rule in nixos/backup-settings.nix (evaluated with real nix-instantiate),
// and `homelab backup status` flagging a sync that went to another prefix.

const homelabOf = (hosts: Array<{name: string; role?: 'agent' | 'server'}>): Homelab => ({
  config: homelabConfigSchema.parse({
    backup: {offsite: {credentialsFile: 'x.sops.yaml', endpoint: 'e'}}, cluster: {name: 'azalab-0', path: 'flux/clusters/azalab-0'}, domain: 'aza.network', storage: {}, version: 1,
    hosts: hosts.map((h) => ({...h, ssh: `aiden@${h.name}`})),
  }),
  root: '/nowhere',
})
// The server listed second: "the server" is the role, not the position.
const two = homelabOf([{name: 'azalab-1', role: 'agent'}, {name: 'azalab-0', role: 'server'}])

describe('offsiteTarget', () => {
  it('the k3s server keeps backup.json prefix and homelab/offsite-protection.json (the single-host layout)', () => {
    expect(offsiteTarget({prefix: 'kopia/'}, two, 'azalab-0')).toEqual({host: 'azalab-0', markerKey: 'homelab/offsite-protection.json', prefix: 'kopia/', server: true})
    // No host named: the server.
    expect(offsiteTarget({prefix: 'kopia/'}, two)).toEqual({host: 'azalab-0', markerKey: 'homelab/offsite-protection.json', prefix: 'kopia/', server: true})
    expect(offsiteTarget({prefix: ''}, homelabOf([{name: 'azalab-0'}]))).toEqual({host: 'azalab-0', markerKey: 'homelab/offsite-protection.json', prefix: '', server: true})
  })

  it('any other host: a sibling prefix (never under the server\'s) and its own marker', () => {
    expect(offsiteTarget({prefix: 'kopia/'}, two, 'azalab-1')).toEqual({host: 'azalab-1', markerKey: 'homelab/offsite-protection-azalab-1.json', prefix: 'kopia-azalab-1/', server: false})
    expect(offsiteTarget({prefix: ''}, two, 'azalab-1').prefix).toBe('azalab-1/')
    expect(offsiteTarget({prefix: 'homelab/kopia/'}, two, 'azalab-1').prefix).toBe('homelab/kopia-azalab-1/')
    const sibling = offsiteTarget({prefix: 'kopia/'}, two, 'azalab-1').prefix
    expect(sibling.startsWith('kopia/')).toBe(false)
  })

  it('a host homelab.yaml does not list: a usage error naming the hosts', () => {
    expect(() => offsiteTarget({prefix: 'kopia/'}, two, 'azalab-9')).toThrow(UsageError)
    expect(() => offsiteTarget({prefix: 'kopia/'}, two, 'azalab-9')).toThrow('homelab.yaml has no host "azalab-9" (hosts: azalab-1, azalab-0)')
  })
})

const CI = process.env.CI === 'true'
const nix = haveTool('nix-instantiate')

describe('nixos/backup-settings.nix gives each host the same prefix and marker key as offsiteTarget', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homelab-offsite-target-'))
  afterAll(() => rmSync(dir, {force: true, recursive: true}))

  it.skipIf(!nix && !CI)('for the server, an agent, and the prefixes "kopia/", "" and "a/b/"', () => {
    if (!nix) throw new Error('nix-instantiate is not installed (scripts/install-test-tools.sh installs it)')
    const hostsFile = path.join(dir, 'hosts.json')
    // hosts.json as the CLI writes it (nixos/hosts.json shape); the server second.
    writeFileSync(hostsFile, JSON.stringify({hosts: [{name: 'azalab-1', role: 'agent'}, {name: 'azalab-0', role: 'server'}]}))
    const backup = JSON.parse(readFileSync(path.join(REPO_ROOT, 'nixos/backup.json'), 'utf8'))
    for (const prefix of ['kopia/', '', 'a/b/']) {
      const backupFile = path.join(dir, `backup-${prefix.replaceAll('/', '_')}.json`)
      writeFileSync(backupFile, JSON.stringify({...backup, prefix}))
      for (const host of ['azalab-0', 'azalab-1']) {
        const expr = `let s = import ${path.join(REPO_ROOT, 'nixos/backup-settings.nix')} { backupFile = ${backupFile}; hostsFile = ${hostsFile}; hostName = "${host}"; }; in { inherit (s) prefix syncPrefix markerKey; }`
        const out = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', expr], {encoding: 'utf8', env: {...process.env, NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)}, stdio: ['ignore', 'pipe', 'pipe']})
        const target = offsiteTarget({prefix}, two, host)
        expect(JSON.parse(out), `${host} with prefix ${JSON.stringify(prefix)}`).toEqual({markerKey: target.markerKey, prefix, syncPrefix: target.prefix})
      }
    }
  }, 120_000)
})

describe('backup status: a host whose last sync went to another prefix', () => {
  const now = new Date('2026-12-01T12:00:00Z')
  const ago = (hours: number) => new Date(now.getTime() - hours * 3600_000).toISOString()
  const settings: BackupSettings = {
    bucket: 'azalab-kopia', credentialsFile: 'x', drillPeriodSeconds: 604_800, drillSchedule: 'Sun *-*-* 04:00:00', drillStaleAfterSeconds: 604_800 + 21_600, endpoint: 'e', file: 'nixos/backup.json',
    graceHours: 6, offsiteDeleteAfterDays: 30, offsiteStaleAfterSeconds: 1, periodSeconds: 86_400, prefix: 'kopia/', repositoryPath: '/var/lib/kopia/repository', schedule: '*-*-* 02:30:00',
    sources: [], stateDir: '/var/lib/homelab/backup', staleAfterSeconds: 86_400 + 21_600, storageFile: 'nixos/storage.json', storageRoot: '/srv', syncEveryHours: 6, syncStaleAfterSeconds: 43_200,
  }
  const state = (prefix: string): HostBackupState => ({
    failures: [], lastDrill: undefined, lastRun: undefined,
    lastSync: {bucket: 'azalab-kopia', end: ago(1), endpoint: 'e', error: null, exitCode: 0, prefix, result: 'success', start: ago(1), version: 1},
    snapshots: [], storageFolders: [], storageRootExists: false, timers: {}, unreadable: [],
  })

  it('an agent that still syncs to the server\'s prefix: the sync is failed, with what to do', () => {
    const s = evaluateBackupStatus(state('kopia/'), settings, now, offsiteTarget(settings, two, 'azalab-1'))
    expect(s.ok).toBe(false)
    expect(s.sync).toMatchObject({prefix: 'kopia/', state: 'failed'})
    expect(s.problems).toEqual([
      "R2 sync went to s3://azalab-kopia/kopia/ but azalab-1's own prefix is s3://azalab-kopia/kopia-azalab-1/ (another host's repository may share that prefix): deploy it with `homelab deploy --host azalab-1`, then `homelab backup sync --host azalab-1`",
    ])
  })

  it('the agent on its own prefix, and the server on backup.json\'s: ok', () => {
    expect(evaluateBackupStatus(state('kopia-azalab-1/'), settings, now, offsiteTarget(settings, two, 'azalab-1'))).toMatchObject({ok: true, problems: [], sync: {prefix: 'kopia-azalab-1/', state: 'ok'}})
    expect(evaluateBackupStatus(state('kopia/'), settings, now, offsiteTarget(settings, two, 'azalab-0'))).toMatchObject({ok: true, problems: [], sync: {state: 'ok'}})
  })

  it('no sync yet: the prefix shown is the host\'s own', () => {
    const s = evaluateBackupStatus({...state('x/'), lastSync: undefined}, settings, now, offsiteTarget(settings, two, 'azalab-1'))
    expect(s.sync).toMatchObject({prefix: 'kopia-azalab-1/', state: 'never'})
  })
})
