/**
 * The host side of `homelab diff`: parsing of `nix store diff-closures` and `nix path-info -S`
 * output, the unit-file listing (run for real with sh on a folder shaped like a NixOS system's
 * etc/systemd/system), the override URL, the build command, and whether a commit is on the remote
 * (real git).
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {readInputSource} from '../../../src/lib/deploy/fetch-check.js'
import {
  closureSizeCommand,
  commitOnRemote,
  compareSystems,
  diffBuildCommand,
  diffUnits,
  hostChanged,
  overrideUrl,
  packageChanges,
  parseClosureSizes,
  parseUnitListing,
  skippedHost,
  unitListingCommand,
} from '../../../src/lib/diff/host.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {force: true, recursive: true})
})
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'homelab-diff-host-'))
  dirs.push(d)
  return d
}

describe('nix output parsing', () => {
  it('diff-closures lines become package changes; ∅ is an empty list, ε stays, sizes in KiB', () => {
    // The example of nix3-store-diff-closures(1), with the colour nix prints on a terminal.
    const text = [
      'acpi-call: 2020-04-07-5.8.16 → 2020-04-07-5.8.18',
      'bluez-qt: +12.6 KiB',
      '\u001B[1mdolphin\u001B[0m: 20.08.1 → 20.08.2, \u001B[31;1m+13.9 KiB\u001B[0m',
      'kdeconnect: 20.08.2 → ∅, -6597.8 KiB',
      'kdeconnect-kde: ∅ → 20.08.2, +6599.7 KiB',
      'unit-k3s.service: ∅ → ε',
      'glibc: 2.39-52, 2.39-5 → 2.40-36',
    ].join('\n')
    expect(packageChanges(text)).toEqual([
      {from: ['2020-04-07-5.8.16'], name: 'acpi-call', to: ['2020-04-07-5.8.18']},
      {from: [], name: 'bluez-qt', sizeKiB: 12.6, to: []},
      {from: ['20.08.1'], name: 'dolphin', sizeKiB: 13.9, to: ['20.08.2']},
      {from: ['20.08.2'], name: 'kdeconnect', sizeKiB: -6597.8, to: []},
      {from: [], name: 'kdeconnect-kde', sizeKiB: 6599.7, to: ['20.08.2']},
      {from: [], name: 'unit-k3s.service', to: ['ε']},
      {from: ['2.39-52', '2.39-5'], name: 'glibc', to: ['2.40-36']},
    ])
  })

  it('nix path-info -S: path and closure size per line (padded), other lines ignored', () => {
    const text = '/nix/store/aaa-nixos-system-a\t   123456\n/nix/store/bbb-nixos-system-b\t 99\nwarning: something\n'
    expect(parseClosureSizes(text)).toEqual(
      new Map([
        ['/nix/store/aaa-nixos-system-a', 123_456],
        ['/nix/store/bbb-nixos-system-b', 99],
      ]),
    )
    expect(closureSizeCommand(['/run/current-system', '/nix/store/x'])).toBe("nix --extra-experimental-features 'nix-command flakes' path-info -S /run/current-system /nix/store/x")
  })
})

describe('unit changes', () => {
  /** A system folder with etc/systemd/system: each entry a symlink into a fake store. */
  function system(root: string, name: string, units: Record<string, string>): string {
    const sys = path.join(root, name)
    const etc = path.join(sys, 'etc/systemd/system')
    mkdirSync(etc, {recursive: true})
    for (const [unit, content] of Object.entries(units)) {
      const store = path.join(root, 'store', `${content}-${unit.replaceAll('/', '-')}`)
      mkdirSync(path.dirname(store), {recursive: true})
      writeFileSync(store, content)
      mkdirSync(path.dirname(path.join(etc, unit)), {recursive: true})
      symlinkSync(store, path.join(etc, unit))
    }

    return sys
  }

  const list = (sys: string) => execFileSync('sh', ['-c', unitListingCommand(sys)], {encoding: 'utf8'})

  it('added, removed, and changed by unit file or drop-in; .wants folders ignored', () => {
    const root = tmp()
    const before = system(root, 'old', {'k3s.service': 'a', 'kopia.timer': 'a', 'multi-user.target.wants/k3s.service': 'a', 'sshd.service': 'a', 'sshd.service.d/overrides.conf': 'a'})
    const after = system(root, 'new', {'k3s.service': 'a', 'k3s.service.d/overrides.conf': 'b', 'kopia.timer': 'b', 'multi-user.target.wants/postgres.service': 'b', 'postgresql.service': 'b', 'sshd.service': 'a', 'sshd.service.d/overrides.conf': 'a'})
    const old = parseUnitListing(list(before))
    expect([...old.keys()].sort()).toEqual(['k3s.service', 'kopia.timer', 'sshd.service'])
    expect(old.get('sshd.service')).toEqual([`sshd.service.d/overrides.conf=${root}/store/a-sshd.service.d-overrides.conf`, `sshd.service=${root}/store/a-sshd.service`])
    expect(diffUnits(old, parseUnitListing(list(after)))).toEqual({added: ['postgresql.service'], changed: ['k3s.service', 'kopia.timer'], removed: []})
    expect(diffUnits(parseUnitListing(list(after)), old)).toEqual({added: [], changed: ['k3s.service', 'kopia.timer'], removed: ['postgresql.service']})
    expect(diffUnits(old, parseUnitListing(list(before)))).toEqual({added: [], changed: [], removed: []})
  })

  it('a system without etc/systemd/system lists nothing (exit 0)', () => {
    expect(list(tmp())).toBe('')
  })

  it('compareSystems puts the three results together (size delta from path-info)', async () => {
    const root = tmp()
    const a = system(root, 'a', {'k3s.service': 'a'})
    const b = system(root, 'b', {'k3s.service': 'b', 'x.service': 'b'})
    const runner = {
      exec: async (cmd: string) => ({exitCode: 0, stderr: '', stdout: execFileSync('sh', ['-c', cmd], {encoding: 'utf8'})}),
      sudo: async (cmd: string) => ({exitCode: 0, stderr: '', stdout: cmd.includes('diff-closures') ? 'hello: 2.12.1 → 2.12.2, +195.3 KiB\n' : `${a}\t1000\n${b}\t 201000\n`}),
    }
    const change = await compareSystems(runner, a, b)
    expect(change).toMatchObject({packages: [{from: ['2.12.1'], name: 'hello', sizeKiB: 195.3, to: ['2.12.2']}], sizeDeltaBytes: 200_000, units: {added: ['x.service'], changed: ['k3s.service'], removed: []}})
    await expect(compareSystems({...runner, sudo: async () => ({exitCode: 1, stderr: 'error: path is not valid', stdout: ''})}, a, b)).rejects.toThrow('nix store diff-closures exited with status 1: error: path is not valid')
  })
})

describe('building another commit on the host', () => {
  const lock = (original: object) => JSON.stringify({nodes: {homelab: {locked: {rev: 'a'.repeat(40), type: 'git'}, original}, root: {inputs: {homelab: 'homelab'}}}, root: 'root', version: 7})
  const sha = 'b'.repeat(40)

  it('the override URL keeps the source and its ref and adds the rev (git), or puts the rev in place of the ref (github)', () => {
    expect(overrideUrl(readInputSource(lock({ref: 'main', type: 'git', url: 'ssh://git@github.com/aza/homelab'}), 'homelab')!, sha)).toBe(`git+ssh://git@github.com/aza/homelab?ref=main&rev=${sha}`)
    expect(overrideUrl(readInputSource(lock({type: 'git', url: 'https://example.org/homelab.git'}), 'homelab')!, sha)).toBe(`git+https://example.org/homelab.git?rev=${sha}`)
    expect(overrideUrl(readInputSource(lock({owner: 'aza', ref: 'main', repo: 'homelab', type: 'github'}), 'homelab')!, sha)).toBe(`github:aza/homelab/${sha}`)
    expect(() => overrideUrl(readInputSource(lock({path: '/srv/homelab', type: 'path'}), 'homelab')!, sha)).toThrow('is not fetched from a remote')
  })

  it('the build command overrides the input, never writes flake.lock and builds in a temp folder', () => {
    const cmd = diffBuildCommand({flakeDir: '/etc/nixos', flakeInput: 'homelab', name: 'azalab-0'}, `git+ssh://git@github.com/aza/homelab?ref=main&rev=${sha}`)
    expect(cmd).toBe(
      `d=$(mktemp -d) && cd "$d" && nixos-rebuild build --flake '/etc/nixos#azalab-0' --override-input homelab 'git+ssh://git@github.com/aza/homelab?ref=main&rev=${sha}' --no-write-lock-file && echo "__HOMELAB_RESULT__ $(readlink -f result)"; rc=$?; cd /; rm -rf "$d"; exit $rc`,
    )
  })

  it('a commit is on the remote when it is the head or an ancestor of it; a newer or unknown head is not', async () => {
    const dir = tmp()
    const git = (args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {cwd: dir, encoding: 'utf8'}).trim()
    git(['init', '-q', '-b', 'main'])
    git(['commit', '-q', '--allow-empty', '-m', 'one'])
    const one = git(['rev-parse', 'HEAD'])
    git(['commit', '-q', '--allow-empty', '-m', 'two'])
    const two = git(['rev-parse', 'HEAD'])
    expect(await commitOnRemote(dir, two, two)).toBe(true)
    expect(await commitOnRemote(dir, one, two)).toBe(true)
    expect(await commitOnRemote(dir, two, one)).toBe(false)
    expect(await commitOnRemote(dir, two, 'c'.repeat(40))).toBe(false)
  })

  it('skipped and failed host parts; hostChanged counts packages and units', () => {
    expect(skippedHost('a', '--offline: not connected')).toEqual({host: 'a', message: '--offline: not connected', packages: [], sizeDeltaBytes: 0, status: 'skipped', units: {added: [], changed: [], removed: []}})
    expect(skippedHost('a', 'unreachable', 2)).toMatchObject({exitCode: 2, status: 'failed'})
    expect(hostChanged(skippedHost('a', 'x'))).toBe(false)
    expect(hostChanged({...skippedHost('a', 'x'), status: 'unchanged', units: {added: [], changed: ['k3s.service'], removed: []}})).toBe(true)
  })
})
