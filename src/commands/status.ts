import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {UsageError} from '../lib/errors.js'
import type {HostConnection} from '../lib/ssh/index.js'
import type {BackupReader} from '../lib/status/gather.js'
import type {StatusReport} from '../lib/status/types.js'
import {colors} from '../ui/color.js'
import {oneHost} from '../lib/config/one-host.js'

/**
 * `homelab status`: is the cluster running what the branch says, and is the host healthy?
 *
 * `--json` prints the {@link StatusReport} (src/lib/status/types.ts, `schemaVersion: 1`):
 * `{schemaVersion, checkedAt, verdict: "healthy"|"degraded", problems[], host{name, ssh},
 * source{namespace, name, url, branch, revision, commit, ready, reason, message,
 * state: "in-sync"|"behind"|"fetch-failing"|"unknown", behind{count, commits[{commit, subject}]},
 * localHead, remoteHead} | null, objects[{kind, namespace, name, health, ready, reason, message,
 * appliedRevision, appliedCommit, since, suspended}], drift{branchRef, remote, fluxApplied,
 * hostConfiguration: {commit, behind}, agree}, system{generation{number, builtAt, nixosVersion,
 * kernelVersion}, configurationRevision, flakeLock{input, commit, lastModified, behindHead}, uptimeSeconds,
 * failedUnits[], node{name, ready, message, kubeletVersion}, storage{path, mount, sizeBytes,
 * usedBytes, availableBytes, usedPercent}}, backups[{source, state, lastSnapshot, detail}] | null,
 * errors[{fact, message}]}`.
 * Exit 0 healthy, 1 degraded, 2 host unreachable (also under --json).
 */
export default class Status extends HomelabCommand {
  static override summary = 'Show whether Flux applied the branch head and whether the host is healthy, from one SSH connection.'

  static override description = `Gathers in parallel over ONE SSH connection (plus a git fetch here):
  Source   the GitRepository's revision against ${'`<remote>/<branch>`'} and local HEAD: in sync, behind by N commits (named), or failing to fetch
  Flux     every Kustomization and HelmRelease: Ready, reason, message, applied revision, since when; suspended ones marked; failures first
  Drift    the three revisions that must agree: the remote branch head, what Flux last applied, and the commit the running NixOS generation was built from (system.configurationRevision), each with how far behind
  Host     NixOS generation and build time, the commit the host flake.lock pins against HEAD, uptime, failed systemd units, k3s node Ready, disk use of the storage root
  Backups  one line per backup source

Flux state is read with one \`k3s kubectl get … -A -o json\` (through sudo when the SSH user cannot read /etc/rancher/k3s/k3s.yaml; the sudo password comes from HOMELAB_SUDO_PASSWORD or a prompt).
Degraded means: the source cannot fetch, a Kustomization/HelmRelease is not Ready (failed, stalled, dependency not ready), the node is not Ready, a systemd unit failed, the storage root is 90% full or more, a backup source is not ok, or a fact could not be read. Progressing objects and commits not yet applied are shown but do not degrade.
Exit status: 0 healthy, 1 degraded, 2 host unreachable.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'One screen: source, Flux objects, drift, host, backups.'},
    {command: '<%= config.bin %> <%= command.id %> --json | jq .drift', description: 'The drift line as JSON (stable shape, schemaVersion 1).'},
    {command: '<%= config.bin %> <%= command.id %> --watch --interval 10', description: 'Refresh in place every 10 seconds until Ctrl-C.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as a name, glob or @tag of homelab.yaml; it must select one host', exclusive: ['host']}),
    watch: Flags.boolean({char: 'w', description: 'refresh in place until interrupted (not with --json)', default: false}),
    interval: Flags.integer({description: 'seconds between refreshes with --watch', default: 5, min: 1}),
    fetch: Flags.boolean({description: 'git fetch the remote branch first (--no-fetch: use the last fetched head)', default: true, allowNo: true}),
    ...connectionFlags,
  }

  async run(): Promise<StatusReport> {
    const {flags} = await this.parse(Status)
    if (flags.watch && this.jsonEnabled()) throw new UsageError('--watch cannot be combined with --json')
    const homelab = await this.homelab(flags.repo)
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'status')
    const [{gatherStatus}, {renderStatus}, {openHostConnection}] = await Promise.all([
      import('../lib/status/gather.js'),
      import('../ui/status.js'),
      import('../ui/host-connection.js'),
    ])
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const backups = await backupReader(connection, homelab)
      const once = async () => gatherStatus({connection, env: process.env, fetch: flags.fetch, homelab, host, readBackups: backups})
      if (!flags.watch) {
        const report = await once()
        if (!this.jsonEnabled()) this.log(renderStatus(report, colors(), new Date()))
        if (report.verdict !== 'healthy') process.exitCode = 1
        return report
      }

      let report: StatusReport
      let previousLines = 0
      let stop = false
      const onSigint = () => {
        stop = true
      }

      process.once('SIGINT', onSigint)
      try {
        do {
          report = await once()
          const text = `${renderStatus(report, colors(), new Date())}\n\n${colors().dim(`refreshed ${new Date().toLocaleTimeString()}, every ${flags.interval}s; Ctrl-C to stop`)}`
          // Move up over the previous frame and clear it, then draw the new one (in place on a TTY).
          const clear = process.stdout.isTTY && previousLines > 0 ? `\u001B[${previousLines}F\u001B[J` : ''
          process.stdout.write(`${clear}${text}\n`)
          previousLines = text.split('\n').length
          const until = Date.now() + flags.interval * 1000
          while (!stop && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200))
        } while (!stop)
      } finally {
        process.removeListener('SIGINT', onSigint)
      }

      if (report.verdict !== 'healthy') process.exitCode = 1
      return report
    } finally {
      await connection.close()
    }
  }
}


/** The backup lines through the backup status reader (src/lib/backup), over the same connection. */
async function backupReader(connection: HostConnection, homelab: Homelab): Promise<BackupReader> {
  const [{readBackupStatus}, {backupLines}] = await Promise.all([import('../lib/backup/status.js'), import('../lib/status/backups.js')])
  return async (now) => backupLines(await readBackupStatus({connection, homelab, now}))
}
