import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Homelab} from './load.js'
import type {HostConfig} from './schema.js'

/** The shared values file every host imports (and the first host's own configuration). */
export const SHARED_CONFIGURATION = 'nixos/configuration.nix'

/** Where `homelab host add` puts an added host's files (its values file and bootstrap flake). */
export function hostDir(name: string): string {
  return `nixos/hosts/${name}`
}

/** One host as nixos/hosts.json lists it (read by flake.nix and nixos/homelab-module.nix). */
export interface HostsFileEntry {
  name: string
  role: 'agent' | 'server'
  /** What the other nodes connect to: `address`, else the host part of `ssh`. */
  address: string
  labels: Record<string, string>
  nodeInterfaces: string[]
  /** The host's NixOS values file, repo-relative: `nixos/hosts/<name>/configuration.nix`, or the shared `nixos/configuration.nix`. */
  configuration: string
}

const COMMENT =
  'The homelab\'s hosts as Nix reads them, written by the homelab CLI from homelab.yaml hosts: (homelab host add|remove); never edit by hand: `homelab validate` checks it matches homelab.yaml. Read by ../flake.nix (one nixosConfigurations.<name> per host, from its configuration file) and ./homelab-module.nix (k3s role, the server\'s address for agents, node labels, the interfaces the node ports open on).'

/** The host part of an SSH target `[user@]host[:port]`. */
export function sshHostPart(ssh: string): string {
  return ssh.replace(/^[^@]*@/, '').replace(/:\d+$/, '')
}

/**
 * The nixos/hosts.json entries for `hosts`; `hasOwnConfiguration(name)` says whether
 * `nixos/hosts/<name>/configuration.nix` exists (else the host uses the shared file).
 */
export function hostsFileEntries(hosts: readonly HostConfig[], hasOwnConfiguration: (name: string) => boolean): HostsFileEntry[] {
  return hosts.map((h) => ({
    address: h.address ?? sshHostPart(h.ssh),
    configuration: hasOwnConfiguration(h.name) ? `${hostDir(h.name)}/configuration.nix` : SHARED_CONFIGURATION,
    labels: Object.fromEntries(Object.entries(h.labels).sort(([a], [b]) => a.localeCompare(b))),
    name: h.name,
    nodeInterfaces: h.nodeInterfaces ?? [],
    role: h.role,
  }))
}

/** The text of nixos/hosts.json for `entries`: one host per line, newline-terminated. */
export function renderHostsFile(entries: readonly HostsFileEntry[]): string {
  const lines = entries.map((e) => `    ${JSON.stringify(e, ['name', 'role', 'address', 'labels', ...Object.keys(e.labels), 'nodeInterfaces', 'configuration']).replaceAll(/([,:])(?=["[{])/g, '$1 ').replaceAll(/^\{/g, '{ ').replaceAll(/\}$/g, ' }')}`)
  return `{\n  "$comment": ${JSON.stringify(COMMENT)},\n  "hosts": [\n${lines.join(',\n')}\n  ]\n}\n`
}

/** The nixos/hosts.json text `homelab.yaml` calls for, with host files looked up in the repository at `root`. */
export function expectedHostsFile(homelab: Homelab, hosts: readonly HostConfig[] = homelab.config.hosts): string {
  return renderHostsFile(hostsFileEntries(hosts, (name) => existsSync(path.join(homelab.root, hostDir(name), 'configuration.nix'))))
}
