import {describe, expect, it} from 'vitest'

import {parseDf, parseFailedUnits, parseFlakeLock, parseGenerations, quickFactsScript, readHostFacts, splitSections} from '../../../src/lib/status/host-facts.js'

const GENERATIONS = JSON.stringify([
  {configurationRevision: '', current: false, date: '2026-11-20 09:12:03', generation: 41, kernelVersion: '6.12.58', nixosVersion: '25.11.20251118.1f2a3b4', specialisations: []},
  {configurationRevision: '696f056df216eea4f9401adbee0ff744d4df390f', current: true, date: '2026-11-24 07:02:41', generation: 42, kernelVersion: '6.12.59', nixosVersion: '25.11.20251122.5c6d7e8', specialisations: []},
])

const FLAKE_LOCK = JSON.stringify({
  nodes: {
    homelab: {locked: {lastModified: 1_795_000_000, narHash: 'sha256-x', owner: 'aidenbeaven', repo: 'homelab', rev: '696f056df216eea4f9401adbee0ff744d4df390f', type: 'github'}, original: {owner: 'aidenbeaven', repo: 'homelab', type: 'github'}},
    nixpkgs: {locked: {rev: 'e'.repeat(40)}},
    root: {inputs: {homelab: 'homelab', nixpkgs: 'nixpkgs'}},
  },
  root: 'root',
  version: 7,
})

describe('host fact parsers', () => {
  it('list-generations --json: the current generation', () => {
    expect(parseGenerations(GENERATIONS)).toEqual({builtAt: '2026-11-24 07:02:41', kernelVersion: '6.12.59', nixosVersion: '25.11.20251122.5c6d7e8', number: 42})
  })

  it('flake.lock: the input named by root.inputs, with its rev', () => {
    expect(parseFlakeLock(FLAKE_LOCK, 'homelab')).toEqual({commit: '696f056df216eea4f9401adbee0ff744d4df390f', input: 'homelab', lastModified: '2026-11-18T11:06:40.000Z'})
    expect(() => parseFlakeLock(FLAKE_LOCK, 'other')).toThrow('no locked rev for input "other"')
  })

  it('systemctl --failed and df -Pk', () => {
    expect(parseFailedUnits('kopia-backup.service loaded failed failed Kopia snapshot\n● k3s.service loaded failed failed k3s\n')).toEqual(['kopia-backup.service', 'k3s.service'])
    expect(parseFailedUnits('')).toEqual([])
    expect(parseDf('Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/nvme0n1p2  960379920 480189960 431335676      53% /\n', '/srv')).toEqual({
      availableBytes: 431_335_676 * 1024, mount: '/', path: '/srv', sizeBytes: 960_379_920 * 1024, usedBytes: 480_189_960 * 1024, usedPercent: 53,
    })
  })

  it('the quick facts script runs in sh and splits back into sections', async () => {
    const {execa} = await import('execa')
    const script = quickFactsScript({flakeDir: '/nonexistent', storageRoot: '/'})
    const r = await execa('sh', ['-c', script], {reject: false})
    const sections = splitSections(String(r.stdout))
    expect([...sections.keys()]).toEqual(['uptime', 'configuration-revision', 'flake-lock', 'failed-units', 'disk'])
    expect(sections.get('uptime')?.exitCode).toBe(0)
    expect(sections.get('flake-lock')?.exitCode).not.toBe(0)
    expect(sections.get('disk')?.output).toMatch(/^Filesystem/)
  })
})

describe('readHostFacts', () => {
  it('reads each fact and lists the ones it cannot read', async () => {
    const connection = {
      async exec(command: string) {
        if (command.startsWith('nixos-rebuild')) return {exitCode: 127, stderr: 'sh: nixos-rebuild: command not found\n', stdout: ''}
        const out = [
          '@@homelab uptime', '273645.12 1000.5', '@@homelab rc 0',
          '@@homelab configuration-revision', '696f056df216eea4f9401adbee0ff744d4df390f', '@@homelab rc 0',
          '@@homelab flake-lock', FLAKE_LOCK, '@@homelab rc 0',
          '@@homelab failed-units', 'kopia-backup.service loaded failed failed Kopia', '@@homelab rc 0',
          '@@homelab disk', 'df: /srv: No such file or directory', '@@homelab rc 1',
        ]
        return {exitCode: 0, stderr: '', stdout: out.join('\n') + '\n'}
      },
      sudo: async () => ({exitCode: 1, stderr: '', stdout: ''}),
    }
    const facts = await readHostFacts({connection, flakeDir: '/etc/nixos', flakeInput: 'homelab', storageRoot: '/srv'})
    expect(facts).toMatchObject({configurationRevision: '696f056df216eea4f9401adbee0ff744d4df390f', failedUnits: ['kopia-backup.service'], generation: null, storage: null, uptimeSeconds: 273_645})
    expect(facts.flakeLock?.commit).toBe('696f056df216eea4f9401adbee0ff744d4df390f')
    expect(facts.errors).toEqual([
      {fact: 'generation', message: 'nixos-rebuild list-generations --json: sh: nixos-rebuild: command not found'},
      {fact: 'disk', message: 'df /srv: df: /srv: No such file or directory'},
    ])
  })
})
