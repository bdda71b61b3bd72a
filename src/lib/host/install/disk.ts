import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {ConfigError} from '../../errors.js'

/** The host values file of the homelab module (reference homelab: `nixos/configuration.nix`). */
export const HOST_VALUES_FILE = 'nixos/configuration.nix'

/**
 * The disk the install ERASES: `homelab.diskDevice` of the host values file (the disko layout in
 * nixos/disko.nix partitions it). Evaluated with `nix-instantiate --eval` when nix can (the file
 * called with `{}` or nulls for its named arguments; only that value is forced), else read with a
 * strict pattern: exactly one `diskDevice = "/dev/…";`.
 *
 * @param root the repository root
 * @returns an absolute device path such as `/dev/nvme0n1`
 * @throws ConfigError naming the file when it has no single diskDevice under /dev/
 */
export async function readDiskDevice(root: string, file = HOST_VALUES_FILE): Promise<string> {
  const abs = path.join(root, file)
  let text: string
  try {
    text = await fs.readFile(abs, 'utf8')
  } catch {
    throw new ConfigError(`${file}: missing; it holds homelab.diskDevice, the disk the install erases`)
  }

  const fromNix = await evalDiskDevice(abs)
  // `diskDevice = "/dev/…";`, also as a default a host file may override (`lib.mkDefault "…"`).
  const matches = [...text.matchAll(/^\s*(?:homelab\.)?diskDevice\s*=\s*(?:(?:lib\.)?(?:mkDefault|mkForce)\s+)?"([^"$\\]+)"\s*;/gm)].map((m) => m[1])
  const value = fromNix ?? (matches.length === 1 ? matches[0] : undefined)
  if (value === undefined || !/^\/dev\/\S+$/.test(value))
    throw new ConfigError(`${file}: no single homelab.diskDevice = "/dev/…"; set the disk the install erases (e.g. diskDevice = "/dev/nvme0n1";)`)
  return value
}

async function evalDiskDevice(abs: string): Promise<string | undefined> {
  // Named arguments are null, except `lib`: the priority wrappers a values file may use
  // (nixpkgs lib/modules.nix mkDefault/mkForce/mkOverride) as the plain value.
  const lib = '{ mkDefault = x: x; mkForce = x: x; mkOverride = _: x: x; }'
  const expr = `let f = import ${JSON.stringify(abs)}; v = if builtins.isFunction f then f (builtins.mapAttrs (n: _: if n == "lib" then ${lib} else null) (builtins.functionArgs f)) else f; in v.homelab.diskDevice`
  try {
    const {exitCode, stdout} = await execa('nix-instantiate', ['--eval', '--strict', '--json', '-E', expr], {reject: false, timeout: 20_000})
    if (exitCode !== 0) return undefined
    const value: unknown = JSON.parse(stdout)
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
