import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {selectHosts} from '../lib/config/hosts.js'
import {HomelabError} from '../lib/errors.js'
import type {GenerationEntry} from '../lib/generations/index.js'
import {colors} from '../ui/color.js'

/**
 * `homelab generations --json` (schemas/generations.schema.json): `{schemaVersion: 1, hosts:
 * [{host, ok, generations: [{number, date, nixosVersion, kernelVersion, configurationRevision,
 * specialisations, current}] (newest first), error?: {message, exitCode}}]}`. Exit 0 when every
 * host answered, 2 when one was unreachable, else 1.
 */
export interface GenerationsResult {
  schemaVersion: 1
  hosts: Array<{host: string; ok: boolean; generations: GenerationEntry[]; error?: {message: string; exitCode: number}}>
}

export default class Generations extends HomelabCommand {
  static override summary = 'List the NixOS generations of each host: number, date, NixOS version, the homelab commit it was built from, the running one marked.'

  static override description = `Reads \`nixos-rebuild list-generations --json\` (NixOS 24.11 or later) over one SSH connection per host. The configuration revision is system.configurationRevision, the homelab commit a generation was built from by homelab deploy. Switch to one with homelab rollback --to N.
Exit status: 0 every host answered, 1 a host could not list its generations, 2 a host unreachable, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Every host of homelab.yaml.'},
    {command: '<%= config.bin %> <%= command.id %> --on @storage --json | jq \'.hosts[].generations[] | select(.current)\'', description: 'The running generation of the hosts tagged storage, as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'only this host (default: every host)', exclusive: ['on']}),
    on: Flags.string({description: 'these hosts: names, globs and @tags from homelab.yaml, comma-separated', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<GenerationsResult> {
    const {flags} = await this.parse(Generations)
    const homelab = await this.homelab(flags.repo)
    const hosts = selectHosts(homelab, {host: flags.host, on: flags.on})
    const [{readGenerations}, {openHostConnection}, {renderGenerations}] = await Promise.all([
      import('../lib/generations/index.js'),
      import('../ui/host-connection.js'),
      import('../ui/generations.js'),
    ])
    const result: GenerationsResult = {hosts: [], schemaVersion: 1}
    for (const host of hosts) {
      try {
        const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
        try {
          result.hosts.push({generations: await readGenerations(connection), host: host.name, ok: true})
        } finally {
          await connection.close()
        }
      } catch (error) {
        // One host, or a usage error: the base command renders it.
        if (!(error instanceof HomelabError) || hosts.length === 1 || error.exitCode === 3) throw error
        result.hosts.push({error: {exitCode: error.exitCode, message: error.message}, generations: [], host: host.name, ok: false})
      }
    }

    if (!this.jsonEnabled()) this.log(renderGenerations(result.hosts, colors()))
    const failed = result.hosts.filter((h) => !h.ok)
    if (failed.length > 0) process.exitCode = failed.some((h) => h.error?.exitCode === 2) ? 2 : 1
    return result
  }
}
