import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {FailedUnit} from '../../lib/diagnose/host.js'
import {HomelabError, UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'

/** `homelab host units --failed --json`: `{schemaVersion: 1, host, failed: [{unit, load, active, sub, description}]}` (schemas/host-units.schema.json). */
export interface HostUnitsResult {
  schemaVersion: 1
  /** The host's name in homelab.yaml. */
  host: string
  failed: FailedUnit[]
}

/**
 * `homelab host units --failed`: the host's failed systemd units (`systemctl list-units --failed`).
 * Exit 0 none failed, 1 some failed, 2 host unreachable, 3 without --failed.
 */
export default class HostUnits extends HomelabCommand {
  static override summary = "List the host's failed systemd units."

  static override description = `Runs \`systemctl list-units --failed --all --plain --no-legend --no-pager\` on the host over SSH (no sudo) and lists UNIT, LOAD, ACTIVE, SUB and DESCRIPTION of each failed unit.
Exit 0 when none failed, 1 when some did (read why with \`homelab host logs UNIT\`).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --failed', description: 'The failed units, one per line.'},
    {command: "<%= config.bin %> <%= command.id %> --failed --json | jq -r '.failed[].unit'", description: 'Their names, as JSON (schemaVersion 1).'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    failed: Flags.boolean({description: 'list the failed units (the only listing so far; required)', default: false}),
    host: Flags.string({description: 'host in homelab.yaml (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as --on @tag or name (homelab.yaml tags; must select exactly one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<HostUnitsResult> {
    const {flags} = await this.parse(HostUnits)
    if (!flags.failed) throw new UsageError('say which units: --failed (the only listing so far)')
    const homelab = await this.homelab(flags.repo)
    const [{FAILED_UNITS_COMMAND, parseUnitList}, {oneHost}, {openHostConnection}] = await Promise.all([
      import('../../lib/diagnose/host.js'),
      import('../../lib/config/one-host.js'),
      import('../../ui/host-connection.js'),
    ])
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'host units')
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    let stdout: string
    try {
      const r = await connection.exec(FAILED_UNITS_COMMAND, {timeoutMs: 60_000})
      if (r.exitCode !== 0) throw new HomelabError(`${host.name}: systemctl list-units --failed exited with ${r.exitCode}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`)
      stdout = r.stdout
    } finally {
      await connection.close()
    }

    const result: HostUnitsResult = {failed: parseUnitList(stdout), host: host.name, schemaVersion: 1}
    if (!this.jsonEnabled()) {
      const c = colors()
      if (result.failed.length === 0) this.log(`${c.green('✓')} no failed units on ${host.name}`)
      else {
        const {renderTable} = await import('../../ui/table.js')
        this.log(renderTable(['UNIT', 'LOAD', 'ACTIVE', 'SUB', 'DESCRIPTION'], result.failed.map((u) => [u.unit, u.load, c.red(u.active), u.sub, u.description])))
        this.log(`${result.failed.length} failed unit${result.failed.length === 1 ? '' : 's'} on ${host.name}: see why with \`homelab host logs UNIT\``)
      }
    }

    if (result.failed.length > 0) process.exitCode = 1
    return result
  }
}
