import {describe, expect, it} from 'vitest'

import {NIXOS_ANYWHERE_FLAGS} from '../../../src/lib/host/install/nixos-anywhere-flags.js'
import {buildFlakeText, buildInstallPlan, formatMode} from '../../../src/lib/host/install/plan.js'

const base = {
  hardwareConfig: 'nixos-generate-config' as const,
  host: 'azalab-0',
  runner: {command: 'nixos-anywhere', kind: 'path' as const},
  sources: {ageIdentity: '/home/me/keys.txt:3', bootstrapFlake: 'nixos/flake.nix'},
  target: 'root@192.168.1.50',
  workDir: '/tmp/w',
}

/** Every `--flag` of nixos-anywhere's own arguments, skipping each flag's documented number of values. */
function flagsOf(args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const spec = NIXOS_ANYWHERE_FLAGS[args[i]]
    expect(spec, `${args[i]} at ${i} is not a documented nixos-anywhere flag`).toBeDefined()
    out.push(args[i])
    i += spec.args
  }

  return out
}

describe('buildInstallPlan', () => {
  it('builds the nixos-anywhere command line from documented flags only', () => {
    const plan = buildInstallPlan(base)
    expect(plan.argv).toEqual([
      'nixos-anywhere',
      '--flake',
      '/tmp/w/build#azalab-0',
      '--target-host',
      'root@192.168.1.50',
      '--generate-hardware-config',
      'nixos-generate-config',
      '/tmp/w/extra/etc/nixos/hardware-configuration.nix',
      '--extra-files',
      '/tmp/w/extra',
    ])
    expect(flagsOf(plan.nixosAnywhereArgs)).toEqual(['--flake', '--target-host', '--generate-hardware-config', '--extra-files'])
  })

  it('runs nixos-anywhere through nix run when it is not on PATH, and passes a port', () => {
    const plan = buildInstallPlan({...base, port: 2222, runner: {kind: 'nix-run', nix: 'nix'}})
    expect(plan.argv.slice(0, 6)).toEqual(['nix', '--extra-experimental-features', 'nix-command flakes', 'run', 'github:nix-community/nixos-anywhere', '--'])
    expect(plan.argv.slice(6)).toEqual(plan.nixosAnywhereArgs)
    expect(flagsOf(plan.nixosAnywhereArgs)).toContain('--ssh-port')
    expect(plan.commandLine).toContain("--extra-experimental-features 'nix-command flakes' run github:nix-community/nixos-anywhere --")
  })

  it('lists the extra files with modes, owner root and sources, secrets only by source', () => {
    const plan = buildInstallPlan(base)
    expect(plan.extraFiles.map((f) => [f.path, formatMode(f.mode), f.owner, f.secret])).toEqual([
      ['var/lib/sops-nix/key.txt', '0600', 'root:root', true],
      ['etc/ssh/ssh_host_ed25519_key', '0600', 'root:root', true],
      ['etc/ssh/ssh_host_ed25519_key.pub', '0644', 'root:root', false],
      ['etc/nixos/flake.nix', '0644', 'root:root', false],
      ['etc/nixos/hardware-configuration.nix', '0644', 'root:root', false],
    ])
    expect(plan.extraFiles[0].source).toBe('age identity from /home/me/keys.txt:3')
    expect(plan.extraFiles.find((f) => f.path.endsWith('hardware-configuration.nix'))?.writtenByNixosAnywhere).toBe(true)
  })

  it('with nixos-facter, writes facter.json and a hardware-configuration.nix that reads it', () => {
    const plan = buildInstallPlan({...base, hardwareConfig: 'nixos-facter'})
    expect(plan.hardwareConfigPath).toBe('/tmp/w/extra/etc/nixos/facter.json')
    expect(plan.nixosAnywhereArgs).toContain('nixos-facter')
    expect(plan.extraFiles.map((f) => f.path)).toContain('etc/nixos/facter.json')
    expect(plan.extraFiles.find((f) => f.path === 'etc/nixos/hardware-configuration.nix')?.writtenByNixosAnywhere).toBe(false)
  })

  it('wraps the bootstrap flake with its homelab input overridden to the work tree', () => {
    const text = buildFlakeText('/tmp/w/extra/etc/nixos', 'git+file:///src/lab', 'homelab')
    expect(text).toContain('inputs.host.url = "path:/tmp/w/extra/etc/nixos";')
    expect(text).toContain('inputs.host.inputs.homelab.url = "git+file:///src/lab";')
    expect(text).toContain('outputs = { host, ... }: { inherit (host) nixosConfigurations; };')
  })
})
