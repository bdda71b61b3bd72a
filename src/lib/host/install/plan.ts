import path from 'node:path'

import {shellJoin} from '../../ssh/shell.js'
import {type HardwareConfigBackend, NIXOS_ANYWHERE_FLAKE} from './nixos-anywhere-flags.js'

/** Where the host's sops-nix identity goes (sops-nix `sops.age.keyFile`, nixos/homelab-module.nix). */
export const HOST_AGE_KEY_PATH = 'var/lib/sops-nix/key.txt'
/** The host's ed25519 SSH host key; NixOS's sshd-keygen generates one only when it is missing or empty (nixpkgs nixos/modules/services/networking/ssh/sshd.nix: `if ! [ -s "${k.path}" ]`). */
export const HOST_SSH_KEY_PATH = 'etc/ssh/ssh_host_ed25519_key'
/** The host bootstrap flake's folder on the host (homelab.yaml hosts[].flakeDir default). */
export const HOST_FLAKE_DIR = 'etc/nixos'

/** One file of the `--extra-files` tree: its path on the host (relative to /), mode, owner and where its content comes from. */
export interface ExtraFile {
  /** Path under / on the installed host, e.g. `var/lib/sops-nix/key.txt`. */
  path: string
  /** Octal mode, e.g. 0o600. */
  mode: number
  /** Always `root:root` (nixos-anywhere extracts with `tar --no-same-owner` as root). */
  owner: 'root:root'
  /** What fills it, for people: a repository file, an identity's source, `generated …`. Never a secret value. */
  source: string
  /** True when the content is secret (shown only by its source). */
  secret: boolean
  /** True when nixos-anywhere writes it (the hardware configuration), not homelab. */
  writtenByNixosAnywhere: boolean
}

/** What {@link buildInstallPlan} needs: all values, no I/O. */
export interface InstallPlanInput {
  /** nixosConfigurations.<host> of the host flake. */
  host: string
  /** SSH target of the running installer (`root@address`), as nixos-anywhere's --target-host takes it. */
  target: string
  /** SSH port of the installer, when not the default. */
  port?: number
  /** The private working folder (0700) holding `extra/` (the --extra-files tree) and `build/` (the flake built). */
  workDir: string
  hardwareConfig: HardwareConfigBackend
  /** How nixos-anywhere is started: the binary on PATH, or `nix run` of its flake. */
  runner: {kind: 'path'; command: string} | {kind: 'nix-run'; nix: string}
  /** Source descriptions for the listing. */
  sources: {ageIdentity: string; bootstrapFlake: string; bootstrapFlakeLock?: string}
}

/** The command line and files of one install. */
export interface InstallPlan {
  /** The program and its arguments (argv[0] is the program). */
  argv: string[]
  /** argv as one shell-quoted line. */
  commandLine: string
  /** The arguments given to nixos-anywhere itself (after `--` with nix run). */
  nixosAnywhereArgs: string[]
  /** The --extra-files tree (absolute, inside workDir). */
  extraFilesDir: string
  /** The flake nixos-anywhere builds (absolute folder, inside workDir): see {@link buildFlakeText}. */
  buildFlakeDir: string
  /** Where nixos-anywhere writes the generated hardware report (absolute, inside the extra-files tree). */
  hardwareConfigPath: string
  extraFiles: ExtraFile[]
}

/**
 * Builds the nixos-anywhere command line and the list of extra files for one host install. Pure.
 *
 * The host bootstrap flake (nixos/flake.nix) is copied verbatim to `extra/etc/nixos/flake.nix`,
 * so the installed host has its /etc/nixos. nixos-anywhere writes the generated hardware report
 * into that same folder (`--generate-hardware-config`, run before the build), so it is both built
 * and installed. The flake it builds is a small wrapper in `build/` whose input `host` is that
 * folder, with the nested input `host/homelab` overridden to this repository's work tree: the
 * install builds the local tree (the password hash and keys just written) instead of fetching the
 * `homelab` URL, which may not hold them yet.
 *
 * nixos-facter writes JSON, not Nix: with it the report is `facter.json` and
 * `hardware-configuration.nix` is one line pointing `hardware.facter.reportPath` at it.
 */
export function buildInstallPlan(input: InstallPlanInput): InstallPlan {
  const extraFilesDir = path.join(input.workDir, 'extra')
  const buildFlakeDir = path.join(input.workDir, 'build')
  const flakeDir = path.join(extraFilesDir, HOST_FLAKE_DIR)
  const facter = input.hardwareConfig === 'nixos-facter'
  const hardwareConfigPath = path.join(flakeDir, facter ? 'facter.json' : 'hardware-configuration.nix')
  const args = [
    '--flake',
    `${buildFlakeDir}#${input.host}`,
    '--target-host',
    input.target,
    ...(input.port === undefined ? [] : ['--ssh-port', String(input.port)]),
    '--generate-hardware-config',
    input.hardwareConfig,
    hardwareConfigPath,
    '--extra-files',
    extraFilesDir,
  ]
  const argv = input.runner.kind === 'path' ? [input.runner.command, ...args] : [input.runner.nix, '--extra-experimental-features', 'nix-command flakes', 'run', NIXOS_ANYWHERE_FLAKE, '--', ...args]
  const extraFiles: ExtraFile[] = [
    file(HOST_AGE_KEY_PATH, 0o600, `age identity from ${input.sources.ageIdentity}`, true),
    file(HOST_SSH_KEY_PATH, 0o600, 'generated ed25519 SSH host key (its public half pinned in known_hosts)', true),
    file(`${HOST_SSH_KEY_PATH}.pub`, 0o644, 'generated ed25519 SSH host key, public half', false),
    file(`${HOST_FLAKE_DIR}/flake.nix`, 0o644, input.sources.bootstrapFlake, false),
    ...(input.sources.bootstrapFlakeLock ? [file(`${HOST_FLAKE_DIR}/flake.lock`, 0o644, input.sources.bootstrapFlakeLock, false)] : []),
    facter
      ? file(`${HOST_FLAKE_DIR}/hardware-configuration.nix`, 0o644, 'generated: { hardware.facter.reportPath = ./facter.json; }', false)
      : {...file(`${HOST_FLAKE_DIR}/hardware-configuration.nix`, 0o644, 'generated on the target by nixos-generate-config --show-hardware-config --no-filesystems', false), writtenByNixosAnywhere: true},
    ...(facter ? [{...file(`${HOST_FLAKE_DIR}/facter.json`, 0o644, 'generated on the target by nixos-facter', false), writtenByNixosAnywhere: true}] : []),
  ]
  return {argv, buildFlakeDir, commandLine: shellJoin(argv), extraFiles, extraFilesDir, hardwareConfigPath, nixosAnywhereArgs: args}
}

function file(p: string, mode: number, source: string, secret: boolean): ExtraFile {
  return {mode, owner: 'root:root', path: p, secret, source, writtenByNixosAnywhere: false}
}

/**
 * The wrapper flake nixos-anywhere builds (`build/flake.nix`): its `nixosConfigurations` are the
 * host bootstrap flake's (input `host`, the `extra/etc/nixos` folder), with that flake's input
 * `homelab` overridden to the repository work tree (`git+file`, tracked files as they are now,
 * uncommitted changes included). Nested input overrides: nix flake(1) "inputs.<a>.inputs.<b>"
 * (checked here with nix 2.8: the override and a file written into the `path:` input after the
 * wrapper was written are both seen).
 *
 * @param hostFlakeDir absolute folder of the copied bootstrap flake
 * @param homelabUrl the `git+file://…` URL of the repository (with `?dir=` when it is not the top folder)
 * @param inputName the bootstrap flake's input that pins the repository (homelab.yaml flakeInput)
 */
export function buildFlakeText(hostFlakeDir: string, homelabUrl: string, inputName: string): string {
  return `# Written by \`homelab host install\`: builds the host bootstrap flake (input host, copied to
# the new host's /etc/nixos) against this repository's work tree instead of its pushed URL.
{
  inputs.host.url = ${JSON.stringify(`path:${hostFlakeDir}`)};
  inputs.host.inputs.${inputName}.url = ${JSON.stringify(homelabUrl)};
  outputs = { host, ... }: { inherit (host) nixosConfigurations; };
}
`
}

/** The `hardware-configuration.nix` written with nixos-facter: the report is read by nixpkgs' hardware.facter module (as nixos-anywhere's own tests set it). */
export const FACTER_HARDWARE_CONFIGURATION = '# Written by `homelab host install`: the hardware report nixos-facter made on this machine.\n{ hardware.facter.reportPath = ./facter.json; }\n'

/** `0o600` as `0600`. */
export function formatMode(mode: number): string {
  return `0${mode.toString(8)}`
}
