import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {currentGeneration, flakeUpdateCommand, parseDiffClosures, parseGenerations, parseNixVersion, planHost, readFlakePin} from '../../../src/lib/deploy/index.js'
import {lockPath} from '../../../src/lib/deploy/remote.js'

describe('Nix version switch', () => {
  it('reads `nix --version` of Nix and Lix', () => {
    expect(parseNixVersion('nix (Nix) 2.8.0\n')).toEqual({major: 2, minor: 8, text: '2.8.0'})
    expect(parseNixVersion('nix (Nix) 2.28.3')).toMatchObject({major: 2, minor: 28})
    expect(parseNixVersion('nix (Lix, like Nix) 2.91.1')).toMatchObject({major: 2, minor: 91})
    expect(parseNixVersion('command not found')).toBeUndefined()
  })

  it('uses `nix flake update <input>` from 2.19 on and `nix flake lock --update-input` before', () => {
    const v = (text: string) => parseNixVersion(text)!
    expect(flakeUpdateCommand(v('2.18.9'), '/etc/nixos', 'homelab')).toBe("nix --extra-experimental-features 'nix-command flakes' flake lock --update-input homelab /etc/nixos")
    expect(flakeUpdateCommand(v('2.19.0'), '/etc/nixos', 'homelab')).toBe("nix --extra-experimental-features 'nix-command flakes' flake update homelab --flake /etc/nixos")
    expect(flakeUpdateCommand(v('3.0.1'), '/etc/nixos', 'homelab')).toContain('flake update homelab')
  })
})

describe('flake.lock, generations, diff-closures', () => {
  const lock = JSON.stringify({
    nodes: {
      'homelab_2': {locked: {lastModified: 1795508304, narHash: 'sha256-x', ref: 'main', rev: 'a'.repeat(40), type: 'git', url: 'file:///srv/homelab.git'}},
      nixpkgs: {locked: {owner: 'NixOS', repo: 'nixpkgs', rev: 'b'.repeat(40), type: 'github'}},
      root: {inputs: {homelab: 'homelab_2', nixpkgs: 'nixpkgs', follows: ['homelab', 'nixpkgs']}},
    },
    root: 'root',
    version: 7,
  })

  it('follows root inputs to the locked node', () => {
    expect(readFlakePin(lock, 'homelab')).toEqual({lastModified: 1795508304, ref: 'main', rev: 'a'.repeat(40), type: 'git', url: 'file:///srv/homelab.git'})
    expect(readFlakePin(lock, 'nixpkgs')?.rev).toBe('b'.repeat(40))
    expect(readFlakePin(lock, 'follows')).toBeUndefined()
    expect(readFlakePin(lock, 'missing')).toBeUndefined()
  })

  it('parses list-generations --json and finds the current one', () => {
    const gens = parseGenerations('[{"generation": 3, "date": "2026-11-24 08:00:00", "nixosVersion": "25.11", "kernelVersion": "6.12.58", "configurationRevision": "abc", "specialisations": [], "current": false}, {"generation": 2, "date": "x", "nixosVersion": "25.11", "kernelVersion": "6.12.58", "configurationRevision": "", "specialisations": [], "current": true}]')
    expect(currentGeneration(gens)?.generation).toBe(2)
    expect(currentGeneration(gens.map((g) => ({...g, current: false})))?.generation).toBe(3)
    expect(() => parseGenerations('{}')).toThrow()
  })

  it('parses nix store diff-closures lines (colour, ∅, ε, several versions, no size)', () => {
    const text = [
      '\u001B[1mhello\u001B[0m: 2.12.1 → 2.12.2, \u001B[31;1m+195.3 KiB\u001B[0m',
      'k3s: ∅ → 1.33.5, +210000.0 KiB',
      'nixos-system-azalab-0: 25.11.20261124.1e51d5d → 25.11.20261124.0b08329',
      'linux: 6.12.57, 6.12.58 → 6.12.58, -42.0 KiB',
      'etc: ε → ε, +1.2 KiB',
    ].join('\n')
    const changes = parseDiffClosures(text)
    expect(changes.map((c) => c.name)).toEqual(['hello', 'k3s', 'nixos-system-azalab-0', 'linux', 'etc'])
    expect(changes[0]).toMatchObject({from: ['2.12.1'], sizeKiB: 195.3, to: ['2.12.2']})
    expect(changes[1]).toMatchObject({from: ['∅'], to: ['1.33.5']})
    expect(changes[2].sizeKiB).toBeUndefined()
    expect(changes[3]).toMatchObject({from: ['6.12.57', '6.12.58'], sizeKiB: -42})
  })
})

describe('remote commands', () => {
  it('names the lock after the flake dir', () => {
    expect(lockPath('/etc/nixos')).toBe('/run/lock/homelab-deploy-etc-nixos.lock')
  })

  it('plans every step of a switch, and of a rollback, without contacting anything', () => {
    const host = {flakeDir: '/etc/nixos', flakeInput: 'homelab', labels: {}, name: 'azalab-0', role: 'server' as const, ssh: 'aiden@azalab-0', tags: []}
    const steps = planHost({action: 'switch', confirmTimeoutSeconds: 60, holder: 'me@laptop', host})
    expect(steps.map((s) => s.step)).toEqual(['connect', 'lock', 'fetch-check', 'inspect', 'flake-update', 'build', 'closure-diff', 'arm-rollback', 'activate', 'confirm'])
    expect(steps.find((s) => s.step === 'arm-rollback')!.commands[0]).toContain('sleep 60;')
    expect(planHost({action: 'boot', confirmTimeoutSeconds: 60, holder: 'x', host}).map((s) => s.step)).not.toContain('arm-rollback')
    expect(planHost({action: 'rollback', confirmTimeoutSeconds: 60, holder: 'x', host}).map((s) => s.step)).toEqual(['connect', 'lock', 'inspect', 'rollback', 'confirm'])
  })
})

describe('detached runs', () => {
  it('uses systemd-run (with the caller PATH) when the host has systemd, else setsid with a pid file', async () => {
    const {cancelDetached, startDetached} = await import('../../../src/lib/deploy/remote.js')
    const sd = startDetached('homelab-rollback-x', 'nixos-rebuild switch --rollback', 'systemd-run', 60)
    expect(sd).toContain('systemd-run --quiet --collect --unit=homelab-rollback-x --on-active=60s "--setenv=PATH=$PATH" sh -c ')
    // A timer runs its script only after taking its token; cancelling takes the token instead
    // (rename is atomic: one of them wins), then stops the waiting timer without waiting for processes.
    expect(sd).toContain('echo systemd-run > /run/homelab/homelab-rollback-x.pending')
    expect(sd).toContain('mv /run/homelab/homelab-rollback-x.pending /run/homelab/homelab-rollback-x.fired 2>/dev/null || exit 0; nixos-rebuild switch --rollback')
    const sdCancel = cancelDetached('homelab-rollback-x', 'systemd-run')
    expect(sdCancel).toContain('if ! mv "/run/homelab/$n.pending" "/run/homelab/$n.cancelled" 2>/dev/null; then')
    expect(sdCancel.indexOf('mv "/run/homelab/$n.pending"')).toBeLessThan(sdCancel.indexOf('systemctl stop "$n.timer"'))
    // POSIX kill of the process group (dash's built-in kill rejects `--`), and no polling of
    // `kill -0`, which counts finished-but-unreaped processes (zombies) as alive.
    const ssCancel = cancelDetached('homelab-rollback-x', 'setsid')
    expect(ssCancel).toContain('kill -TERM -"$p"')
    expect(ssCancel).not.toContain('kill -TERM --')
    expect(ssCancel).not.toContain('kill -0')
    expect(ssCancel.indexOf('mv "/run/homelab/$n.pending"')).toBeLessThan(ssCancel.indexOf('kill -TERM'))
    const ss = startDetached('homelab-deploy-x', 'nixos-rebuild switch', 'setsid')
    expect(ss).toContain('setsid nohup sh -c ')
    expect(ss).toContain("echo $! > /run/homelab/homelab-deploy-x.pid")
  })

  it('rolls back only the system its own run activated, and lists pending rollbacks of earlier runs', async () => {
    const {parsePendingRollbacks, rollbackScript} = await import('../../../src/lib/deploy/remote.js')
    expect(rollbackScript('/nix/store/abc-nixos-system-x')).toContain('if [ "$(readlink -f /run/current-system)" = /nix/store/abc-nixos-system-x ]; then nixos-rebuild switch --rollback')
    // Knowing the generation it replaced, it goes back to exactly that one (after an earlier
    // rollback the numerically previous generation is the earlier failed system).
    const exact = rollbackScript('/nix/store/abc-nixos-system-x', {generation: 7, system: '/nix/store/def-nixos-system-w'})
    expect(exact).toContain('if [ "$(readlink -f /nix/var/nix/profiles/system-7-link)" = /nix/store/def-nixos-system-w ]; then echo "switching back to generation 7"; nix-env --profile /nix/var/nix/profiles/system --switch-generation 7 && /nix/var/nix/profiles/system/bin/switch-to-configuration switch;')
    expect(exact).toContain('else echo "generation 7 no longer holds the previous system: nixos-rebuild switch --rollback"; nixos-rebuild switch --rollback; fi')
    expect(parsePendingRollbacks('pending setsid homelab-rollback-20261124T094737-57f870\nrunning systemd-run homelab-rollback-a.b\nnoise\npending setsid other-thing\n')).toEqual([
      {mode: 'setsid', name: 'homelab-rollback-20261124T094737-57f870', state: 'pending'},
      {mode: 'systemd-run', name: 'homelab-rollback-a.b', state: 'running'},
    ])
  })

  it('the setsid timer protocol under dash: listed pending, cancelled once (a second cancel fails), listed running while its script runs, gone after', async () => {
    const {cancelDetached, PENDING_ROLLBACKS, startDetached} = await import('../../../src/lib/deploy/remote.js')
    const {execa} = await import('execa')
    const {mkdtempSync} = await import('node:fs')
    const os = await import('node:os')
    const state = mkdtempSync(path.join(os.tmpdir(), 'homelab-state-'))
    // The commands name /run/homelab; here they run in a temp folder, with the shell NixOS and Debian use for sh.
    const sh = async (cmd: string) => execa('dash', ['-c', cmd.replaceAll('/run/homelab', state)], {reject: false})
    const list = async () => (await sh(PENDING_ROLLBACKS)).stdout.trim()

    expect((await sh(startDetached('homelab-rollback-a', 'echo ran-a', 'setsid', 30))).exitCode).toBe(0)
    expect(await list()).toBe('pending setsid homelab-rollback-a')
    expect((await sh(cancelDetached('homelab-rollback-a', 'setsid'))).exitCode).toBe(0)
    expect(await list()).toBe('')
    const again = await sh(cancelDetached('homelab-rollback-a', 'setsid'))
    expect(again.exitCode).toBe(1)
    expect(again.stderr).toContain('not pending')

    expect((await sh(startDetached('homelab-rollback-b', 'sleep 2', 'setsid', 1))).exitCode).toBe(0)
    const deadline = Date.now() + 10_000
    while (!(await list()).startsWith('running') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(await list()).toBe('running setsid homelab-rollback-b')
    const late = await sh(cancelDetached('homelab-rollback-b', 'setsid'))
    expect(late.exitCode).toBe(1)
    expect(late.stderr).toContain('already started')
    while ((await list()) !== '' && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 100))
    expect(await list()).toBe('')
    expect(readFileSync(path.join(state, 'homelab-rollback-b.exit'), 'utf8').trim()).toBe('0')
    expect(readFileSync(path.join(state, 'homelab-rollback-a.log'), 'utf8')).not.toContain('ran-a')
  })
})
