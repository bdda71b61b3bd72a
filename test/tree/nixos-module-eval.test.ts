// The bundled homelab's whole NixOS module set, evaluated by real nix-instantiate with
// test/helpers/nixos-eval/eval.nix: the repository flake's nixosModules.default + configuration.nix,
// with the nixpkgs/sops-nix/disko options they set declared with their real types
// (test/helpers/nixos-eval/options/*.nix, each citing its source) and the module system of
// test/helpers/nixos-eval/stub-lib.nix (nixpkgs is not on a fresh machine). Checks that a typo'd
// or wrong-typed option fails, and what each of issue 12's host fixes evaluates to.
// A missing nix-instantiate skips locally and FAILS under CI=true.
// HOMELAB_NIXPKGS_LIB=/path/to/nixpkgs/lib runs the same checks with nixpkgs' own lib.evalModules
// (not on a fresh machine; the committed run uses the stub).
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {withTestNixConfig} from '../helpers/nix-config.js'
import {haveTool} from '../helpers/have-tool.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const HARNESS = path.join(ROOT, 'test/helpers/nixos-eval/eval.nix')
const CI = process.env.CI === 'true'
const REAL_LIB = process.env.HOMELAB_NIXPKGS_LIB
const tmp = mkdtempSync(path.join(os.tmpdir(), 'homelab-nixos-eval-'))
afterAll(() => rmSync(tmp, {force: true, recursive: true}))

const have = haveTool

const present = have('nix-instantiate')
/** A test that needs nix-instantiate: skipped locally when it is missing, failing under CI=true. */
function withNix(name: string, fn: () => void) {
  it.skipIf(!present && !CI)(name, () => {
    if (!present) throw new Error('nix-instantiate is not installed (scripts/install-test-tools.sh installs it)')
    fn()
  }, 120_000)
}

interface Evaluated {
  importCounts: Record<string, number>
  summary: Record<string, any>
  usedStubLib: boolean
}

/** Evaluates the module set (plus `extra`, Nix module texts written to temp files); throws nix's error. */
function evaluate(...extra: string[]): Evaluated {
  const files = extra.map((text, i) => {
    const file = path.join(tmp, `extra-${Date.now()}-${i}.nix`)
    writeFileSync(file, text)
    return file
  })
  const args = ['--eval', '--strict', '--json', HARNESS, '--arg', 'repo', ROOT]
  if (REAL_LIB) args.push('--arg', 'lib', `import ${path.resolve(REAL_LIB)}`)
  if (files.length > 0) args.push('--arg', 'extraModules', `[ ${files.join(' ')} ]`)
  try {
    const out = execFileSync('nix-instantiate', args, {encoding: 'utf8', env: {...process.env, NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)}, maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'pipe']})
    return JSON.parse(out) as Evaluated
  } catch (error) {
    throw new Error(String((error as {stderr?: string}).stderr ?? error))
  }
}

/** nix's error message for a module set that must not evaluate. */
function failure(...extra: string[]): string {
  try {
    evaluate(...extra)
  } catch (error) {
    return (error as Error).message
  }

  throw new Error('the module set evaluated, but it should have failed')
}

let cached: Evaluated | undefined
const reference = () => (cached ??= evaluate())

describe('NixOS module set (stub lib, declared options)', () => {
  withNix('evaluates with no failed assertion, each module file imported once', () => {
    const {importCounts, summary, usedStubLib} = reference()
    expect(usedStubLib).toBe(!REAL_LIB)
    expect(summary.failedAssertions).toEqual([])
    if (REAL_LIB) return // nixpkgs' lib does not count imports
    for (const file of ['homelab-module.nix', 'disko.nix', 'backup.nix', 'git-access.nix', 'configuration.nix'])
      expect(importCounts[path.join(ROOT, 'nixos', file)], file).toBe(1)
  })

  withNix('an option that does not exist fails (a typo of services.k3s.tokenFile)', () => {
    expect(failure('{ services.k3s.tokenfile = "/run/secrets/k3s"; }')).toContain("The option `services.k3s.tokenfile' does not exist")
    expect(failure('{ homelab.diskdevice = "/dev/sda"; }')).toContain("The option `homelab.diskdevice' does not exist")
  })

  withNix('a value of the wrong type fails (bool, str, int, listOf, attrsOf, enum)', () => {
    const notOfType = (text: string, option: string) => expect(failure(text), text).toContain(`A definition for option \`${option}' is not of type`)
    notOfType('{ users.mutableUsers = "false"; }', 'users.mutableUsers')
    notOfType('{ lib, ... }: { networking.hostName = lib.mkForce 7; }', 'networking.hostName')
    notOfType('{ boot.loader.systemd-boot.configurationLimit = "10"; }', 'boot.loader.systemd-boot.configurationLimit')
    notOfType('{ networking.networkmanager.unmanaged = "interface-name:cni0"; }', 'networking.networkmanager.unmanaged')
    notOfType('{ services.k3s.disable = [ 1 ]; }', REAL_LIB ? 'services.k3s.disable."[definition 2-entry 1]"' : 'services.k3s.disable.[0]')
    notOfType('{ programs.ssh.knownHosts = [ ]; }', 'programs.ssh.knownHosts')
    notOfType('{ lib, ... }: { services.k3s.role = lib.mkForce "master"; }', 'services.k3s.role')
    expect(failure('{ time.timeZone = "UTC"; }')).toContain("The option `time.timeZone' has conflicting definition values")
  })

  withNix('NetworkManager leaves the k3s interfaces alone; boot entries bounded; nix collects garbage', () => {
    const {summary} = reference()
    expect(summary.networkmanager).toEqual({enable: true, unmanaged: ['interface-name:cni0', 'interface-name:flannel.*', 'interface-name:veth*']})
    expect(summary.systemdBoot).toEqual({configurationLimit: 10, enable: true})
    expect(summary.nix.gc).toEqual({automatic: true, dates: 'weekly', options: '--delete-older-than 30d'})
    expect(summary.nix.settings).toEqual({'auto-optimise-store': true, 'experimental-features': ['nix-command', 'flakes']})
    expect(summary.systemPackages).toEqual(expect.arrayContaining(['fluxcd', 'git', 'sops', 'age', 'kopia']))
  })

  withNix('the admin password is the sops-nix secret admin/password_hash, needed for users; users are immutable', () => {
    const {summary} = reference()
    expect(summary.sops.secrets['admin/password_hash']).toMatchObject({key: 'admin/password_hash', neededForUsers: true, path: '/run/secrets-for-users/admin/password_hash'})
    expect(summary.users.users.aiden).toMatchObject({extraGroups: ['wheel', 'networkmanager', 'docker'], hashedPasswordFile: '/run/secrets-for-users/admin/password_hash', isNormalUser: true, shell: 'fish'})
    expect(summary.users.mutableUsers).toBe(false)
  })

  withNix('deploy-key access: the forge host keys pinned, root-only Match block with the secret key', () => {
    const {summary} = reference()
    const keys = Object.values(summary.ssh.knownHosts) as Array<{hostNames: string[]; publicKey: string}>
    expect(Object.keys(summary.ssh.knownHosts).sort()).toEqual(['github.com/ecdsa-sha2-nistp256', 'github.com/ssh-ed25519', 'github.com/ssh-rsa'])
    for (const k of keys) expect(k.hostNames).toEqual(['github.com'])
    expect(keys.map((k) => k.publicKey)).toContain('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl')
    expect(summary.sops.secrets['git/deploy_key']).toMatchObject({mode: '0400', neededForUsers: false, path: '/run/secrets/git/deploy_key'})
    expect(summary.ssh.extraConfig).toMatch(/^Match host github\.com localuser root\n {2}IdentityFile \/run\/secrets\/git\/deploy_key\n {2}IdentitiesOnly yes\n {2}StrictHostKeyChecking yes\n/)
    expect(summary.sops.secrets['git/access_tokens']).toBeUndefined()
    expect(summary.nix.extraOptions).toBe('')
  })

  withNix('token access: access-tokens from a sops-nix template that nix.conf !includes', () => {
    const file = path.join(tmp, 'git-access-token.json')
    writeFileSync(file, JSON.stringify({forge: 'github.com', forgeHostKeys: [], method: 'token'}))
    const {summary} = evaluate(`{ homelab.gitAccessFile = ${file}; }`)
    expect(summary.failedAssertions).toEqual([])
    expect(summary.sops.secrets['git/access_tokens']).toMatchObject({key: 'git/access_tokens', path: '/run/secrets/git/access_tokens'})
    expect(summary.sops.secrets['git/deploy_key']).toBeUndefined()
    expect(summary.sops.templates['nix-access-tokens.conf']).toEqual({content: 'access-tokens = <SOPS:git/access_tokens:PLACEHOLDER>\n', path: '/run/secrets/rendered/nix-access-tokens.conf'})
    expect(summary.nix.extraOptions).toBe('!include /run/secrets/rendered/nix-access-tokens.conf\n')
    expect(summary.ssh.extraConfig).toBe('')
  })

  withNix('a git-access.json with an unknown method is a failed assertion naming the file', () => {
    const file = path.join(tmp, 'git-access-bad.json')
    writeFileSync(file, JSON.stringify({forge: 'github.com', forgeHostKeys: [], method: 'password'}))
    expect(evaluate(`{ homelab.gitAccessFile = ${file}; }`).summary.failedAssertions).toEqual([`homelab: ${file}: method must be "deploy-key" or "token", not "password"`])
  })

  withNix('the module declares exactly these host secrets (all must be in host-secrets.sops.yaml)', () => {
    expect(Object.keys(reference().summary.sops.secrets).sort()).toEqual([
      'admin/password_hash',
      'git/deploy_key',
      'kopia/repository_password',
      'r2/access_key_id',
      'r2/account_id',
      'r2/secret_access_key',
    ])
  })

  withNix('k3s uses the module options (disable, nodeName), disko partitions homelab.diskDevice', () => {
    const {summary} = reference()
    expect(summary.k3s).toEqual({
      clusterInit: false,
      disable: ['traefik'],
      enable: true,
      extraFlags: ['--write-kubeconfig-mode=0600', '--secrets-encryption'],
      nodeName: 'azalab-0',
      role: 'server',
      serverAddr: '',
      tokenFile: null,
    })
    expect(summary.disko.main.device).toBe('/dev/nvme0n1')
    expect(summary.disko.main.content.partitions.ESP).toMatchObject({content: {format: 'vfat', mountpoint: '/boot'}, size: '1G', type: 'EF00'})
    expect(summary.disko.main.content.partitions.root).toMatchObject({content: {format: 'ext4', mountpoint: '/'}, size: '100%'})
    expect(evaluate('{ lib, ... }: { homelab.diskDevice = lib.mkForce "/dev/disk/by-id/ata-X"; }').summary.disko.main.device).toBe('/dev/disk/by-id/ata-X')
  })

  withNix('the host keeps its policy: firewall, key-only SSH, sops-nix key file, storage folders, source, revision', () => {
    const {summary} = reference()
    expect(summary.firewall).toEqual({allowedTCPPorts: [22, 6443], allowedUDPPorts: [], enable: true, interfaces: {}, trustedInterfaces: ['cni0', 'flannel.1']})
    expect(summary.openssh.settings).toEqual({KbdInteractiveAuthentication: false, PasswordAuthentication: false, PermitRootLogin: 'no'})
    expect(summary.sops.ageKeyFile).toBe('/var/lib/sops-nix/key.txt')
    expect(summary.tmpfiles).toContain('d /srv/immich 0750 1000 1000 -')
    expect(summary.etc['homelab/source']).toBe(ROOT)
    expect(summary.revision).toMatch(/^[0-9a-f]{40}$/)
    expect(summary.systemdTimers.sort()).toEqual(['homelab-backup-drill', 'kopia-backup', 'kopia-r2-sync'])
  })
})
