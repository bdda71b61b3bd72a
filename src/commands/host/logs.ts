import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import {PRIORITIES} from '../../lib/diagnose/names.js'
import {UsageError} from '../../lib/errors.js'

/** `homelab host logs --json` (schemas/host-logs.schema.json): journalctl's lines (short-iso) and exit status. */
export interface HostLogsResult {
  schemaVersion: 1
  host: string
  /** The unit asked for; null for the whole journal. */
  unit: string | null
  exitCode: number
  lines: string[]
  stderr: string[]
}

/**
 * `homelab host logs [UNIT]`: the host's systemd journal through `journalctl` over SSH.
 * Exit: journalctl's status; 130 after Ctrl-C; 2 host unreachable; 3 usage (a bad unit name).
 */
export default class HostLogs extends HomelabCommand {
  static override summary = "Show (or follow) the host's systemd journal, all units or one."

  static override description = `Runs \`journalctl --no-pager -o short-iso [-u UNIT] [--since -1h] [-p PRIORITY] [-n N] [-f]\` on the host over SSH, as the login user (NixOS lets members of wheel and systemd-journal read the whole journal; --sudo otherwise).
The unit name is checked against systemd's unit name characters before anything runs; with -f it follows until Ctrl-C, which ends the remote journalctl too.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> k3s --since 1h', description: "The last hour of k3s's journal."},
    {command: '<%= config.bin %> <%= command.id %> --priority err --since 1d', description: 'Every error of the last day, all units.'},
    {command: '<%= config.bin %> <%= command.id %> kopia-backup.service -f', description: 'Follow the backup unit until Ctrl-C.'},
    {command: '<%= config.bin %> <%= command.id %> k3s -n 50 --json', description: 'The last 50 lines as JSON (schemaVersion 1; not with -f).'},
  ]

  static override enableJsonFlag = true

  static override args = {
    unit: Args.string({description: 'systemd unit (e.g. k3s, kopia-backup.service); all units when left out', ignoreStdin: true}),
  }

  static override flags = {
    since: Flags.string({description: 'only entries newer than this: 30s, 15m, 1h, 2d'}),
    follow: Flags.boolean({char: 'f', description: 'keep streaming new entries until Ctrl-C', default: false}),
    priority: Flags.string({char: 'p', description: 'only entries of this priority or more severe', options: [...PRIORITIES]}),
    lines: Flags.integer({char: 'n', description: 'show the last N entries', min: 0}),
    sudo: Flags.boolean({description: 'run journalctl as root through sudo (password from HOMELAB_SUDO_PASSWORD or a prompt)', default: false}),
    host: Flags.string({description: 'host in homelab.yaml (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as --on @tag or name (homelab.yaml tags; must select exactly one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<HostLogsResult | void> {
    const {args, flags} = await this.parse(HostLogs)
    if (flags.follow && this.jsonEnabled()) throw new UsageError('-f cannot be combined with --json (JSON is printed once journalctl ends)')
    const [{journalctlCommand}, {parseSince}] = await Promise.all([import('../../lib/diagnose/host.js'), import('../../lib/diagnose/names.js')])
    const command = journalctlCommand({
      follow: flags.follow,
      lines: flags.lines,
      priority: flags.priority as (typeof PRIORITIES)[number] | undefined,
      since: flags.since === undefined ? undefined : parseSince(flags.since).journalctl,
      unit: args.unit,
    })
    const homelab = await this.homelab(flags.repo)
    const [{oneHost}, {openHostConnection}, {streamOnHost}] = await Promise.all([import('../../lib/config/one-host.js'), import('../../ui/host-connection.js'), import('../../stream-command.js')])
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'host logs')
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const collect = this.jsonEnabled() ? {stderr: [] as string[], stdout: [] as string[]} : undefined
      const status = await streamOnHost(connection, command, {collect, sudo: flags.sudo})
      if (status !== 0) process.exitCode = status
      if (collect) return {exitCode: status, host: host.name, lines: collect.stdout, schemaVersion: 1, stderr: collect.stderr, unit: args.unit ?? null}
    } finally {
      await connection.close()
    }
  }
}
