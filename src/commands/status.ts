import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {selectHosts, serverHost} from '../lib/config/hosts.js'
import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {UsageError} from '../lib/errors.js'
import type {HostConnection} from '../lib/ssh/index.js'
import type {BackupReader, HostFactsReader} from '../lib/status/gather.js'
import type {StatusReport} from '../lib/status/types.js'
import {colors} from '../ui/color.js'

/**
 * `homelab status`: is the cluster running what the branch says, are the nodes Ready, and do the
 * hosts run the branch head?
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
 * nodes[{name, ready, reason, message, since, roles[], kubeletVersion, host}] | null,
 * hosts[{name, role, ssh, state: "current"|"behind"|"unknown"|"unreachable", error, generation,
 * revision{input, commit, lastModified}, configurationRevision, branchHead, behindBy, node, errors[]}],
 * errors[{fact, message}]}` (src/lib/status/types.ts NodeStatus, HostStatus).
 * `host`, `source`, `objects`, `drift`, `system`, `backups` and `nodes` come from the k3s server;
 * `hosts` from every selected host (--host/--on, default all), each over its own connection.
 * Exit 0 healthy, 1 degraded (also: a selected host other than the server unreachable), 2 the
 * server unreachable (also under --json).
 */
export default class Status extends HomelabCommand {
  static override summary = 'Show whether Flux applied the branch head, whether every node is Ready and which hosts run the branch head.'

  static override description = `Gathers in parallel over ONE SSH connection to the k3s server (plus a git fetch here):
  Source   the GitRepository's revision against ${'`<remote>/<branch>`'} and local HEAD: in sync, behind by N commits (named), or failing to fetch
  Flux     every Kustomization and HelmRelease: Ready, reason, message, applied revision, since when; suspended ones marked; failures first
  Drift    the three revisions that must agree: the remote branch head, what Flux last applied, and the commit the running NixOS generation was built from (system.configurationRevision), each with how far behind
  Host     NixOS generation and build time, the commit the host flake.lock pins against HEAD, uptime, failed systemd units, k3s node Ready, disk use of the storage root
  Backups  one line per backup source of the server
  Nodes    every Kubernetes node: Ready since when (or the reason it is not), roles, kubelet version; a node without a homelab.yaml host is flagged
and, meanwhile, over one connection per other host (all of homelab.yaml, or those of --host/--on):
  Hosts    per host: the NixOS generation and its date, the commit its host flake pins, and whether that is the branch head ("behind: runs abc1234, main is def5678"); a host without a node, or that cannot be reached, is flagged

Flux state is read with one \`k3s kubectl get … -A -o json\` (through sudo when the SSH user cannot read /etc/rancher/k3s/k3s.yaml; the sudo password comes from HOMELAB_SUDO_PASSWORD or a prompt).
Degraded means: the source cannot fetch, a Kustomization/HelmRelease is not Ready (failed, stalled, dependency not ready), a node is not Ready, a selected host cannot be reached, a systemd unit failed on the server, the storage root is 90% full or more, a backup source is not ok, or a fact could not be read. Progressing objects, commits not yet applied, hosts behind the branch head and nodes without a host (or hosts without a node) are shown but do not degrade.
Exit status: 0 healthy, 1 degraded, 2 the k3s server unreachable.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'One screen: source, Flux objects, drift, host, backups.'},
    {command: '<%= config.bin %> <%= command.id %> --json | jq .drift', description: 'The drift line as JSON (stable shape, schemaVersion 1).'},
    {command: '<%= config.bin %> <%= command.id %> --watch --interval 10', description: 'Refresh in place every 10 seconds until Ctrl-C.'},
    {command: "<%= config.bin %> <%= command.id %> --on @storage --json | jq '.hosts[] | select(.state != \"current\")'", description: 'The hosts tagged storage that do not run the branch head.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'the one host of homelab.yaml whose facts the Hosts section shows (default: every host); the cluster part always comes from the k3s server', exclusive: ['on']}),
    on: Flags.string({description: 'the hosts of the Hosts section as names, globs or @tags of homelab.yaml (default: every host)', exclusive: ['host']}),
    watch: Flags.boolean({char: 'w', description: 'refresh in place until interrupted (not with --json)', default: false}),
    interval: Flags.integer({description: 'seconds between refreshes with --watch', default: 5, min: 1}),
    fetch: Flags.boolean({description: 'git fetch the remote branch first (--no-fetch: use the last fetched head)', default: true, allowNo: true}),
    ...connectionFlags,
  }

  async run(): Promise<StatusReport> {
    const {flags} = await this.parse(Status)
    if (flags.watch && this.jsonEnabled()) throw new UsageError('--watch cannot be combined with --json')
    const homelab = await this.homelab(flags.repo)
    const hosts = selectHosts(homelab, {host: flags.host, on: flags.on})
    const host = serverHost(homelab)
    const [{gatherStatus, readHostFacts}, {renderStatus}, {openHostConnection}] = await Promise.all([
      import('../lib/status/index.js'),
      import('../ui/status.js'),
      import('../ui/host-connection.js'),
    ])
    const connectionOptions = this.hostConnectionOptions(flags)
    // One connection per other selected host, opened at once (in parallel with the server's) and
    // kept for --watch; one that failed is opened again at the next refresh.
    const others = new Map<string, Promise<HostConnection>>()
    const connect = (h: HostConfig) => {
      let opening = others.get(h.name)
      if (!opening) {
        // No `connecting…` line for these: several at once would overwrite each other.
        opening = openHostConnection({...connectionOptions, homelab, host: h, progress: undefined})
        opening.catch(() => others.delete(h.name))
        others.set(h.name, opening)
      }

      return opening
    }

    for (const h of hosts) if (h.name !== host.name) connect(h)
    const closeOthers = async () => {
      await Promise.all([...others.values()].map(async (opening) => (await opening.catch(() => null))?.close()))
    }

    let connection: HostConnection
    try {
      connection = await openHostConnection({...connectionOptions, homelab, host})
    } catch (error) {
      await closeOthers()
      throw error
    }

    const readHost: HostFactsReader = async (h) =>
      readHostFacts({connection: await connect(h), flakeDir: h.flakeDir, flakeInput: h.flakeInput, storageRoot: homelab.config.storage.root})
    try {
      const backups = await backupReader(connection, homelab, host)
      const once = async () => gatherStatus({connection, env: process.env, fetch: flags.fetch, homelab, host, hosts, readBackups: backups, readHost})
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
      await Promise.all([connection.close(), closeOthers()])
    }
  }
}


/** The backup lines of the server's own sources through the backup status reader (src/lib/backup), over the same connection. */
async function backupReader(connection: HostConnection, homelab: Homelab, host: HostConfig): Promise<BackupReader> {
  const [{readBackupStatus}, {loadBackupSettings}, {backupLines}] = await Promise.all([
    import('../lib/backup/status.js'),
    import('../lib/backup/settings.js'),
    import('../lib/status/backups.js'),
  ])
  return async (now) => backupLines(await readBackupStatus({connection, homelab, host: host.name, now, settings: await loadBackupSettings(homelab, {host: host.name})}))
}
