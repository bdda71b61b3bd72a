/**
 * The nixos-anywhere flags `homelab host install` passes, each with the line of nixos-anywhere's
 * own usage text that documents it (`showUsage` in src/nixos-anywhere.sh, the text
 * docs/cli.md reproduces; github.com/nix-community/nixos-anywhere at commit 91fc9b7, 2026-07).
 * The plan test checks that every flag in a built command line is in this list, so a flag
 * nixos-anywhere does not document cannot slip in.
 *
 * Behaviour read from the same script (function names), which the plan relies on:
 * - `generateHardwareConfig` runs after kexec and before the closure is built (`main`), writing
 *   `nixos-generate-config --show-hardware-config --no-filesystems` (or `nixos-facter`) output
 *   to the local path given; so a path inside the flake being built is part of the build.
 * - `nixosInstall` copies `--extra-files` after the build and before `nixos-install`, with
 *   `tar -C DIR -cpf- . | ssh … tar -C /mnt -xf- --no-same-owner` (modes kept, owner root, the
 *   tree root's mode applied to /mnt and then reset with `chmod 755 /mnt`).
 * - the disk layout is the flake's `nixosConfigurations.<host>.config.system.build.diskoScript`
 *   (`diskoAttr="${diskoMode}Script"`, default mode `disko`: destroy, format, mount).
 */
export const NIXOS_ANYWHERE_FLAGS: Readonly<Record<string, {args: number; doc: string}>> = {
  '--extra-files': {
    args: 1,
    doc: '--extra-files <path>: contents of local <path> are recursively copied to the root (/) of the new NixOS installation. Existing files are overwritten. Copied files will be owned by root unless specified by --chown option.',
  },
  '--flake': {args: 1, doc: '-f, --flake <flake_uri>: set the flake to install the system from. i.e. nixos-anywhere --flake .#mymachine'},
  '--generate-hardware-config': {
    args: 2,
    doc: "--generate-hardware-config nixos-facter|nixos-generate-config <path>: generate a hardware-configuration.nix file using the specified backend and write it to the specified path. The backend can be either 'nixos-facter' or 'nixos-generate-config'.",
  },
  '--ssh-port': {args: 1, doc: '-p, --ssh-port <ssh_port>: set the ssh port to connect with'},
  '--target-host': {args: 1, doc: '--target-host <ssh-host>: set the SSH target host to deploy onto.'},
}

/** The hardware configuration backends `--generate-hardware-config` takes. */
export const HARDWARE_CONFIG_BACKENDS = ['nixos-generate-config', 'nixos-facter'] as const

/** One of {@link HARDWARE_CONFIG_BACKENDS}. */
export type HardwareConfigBackend = (typeof HARDWARE_CONFIG_BACKENDS)[number]

/** The flake nixos-anywhere is run from when it is not on PATH (its README: `nix run github:nix-community/nixos-anywhere -- …`). */
export const NIXOS_ANYWHERE_FLAKE = 'github:nix-community/nixos-anywhere'
