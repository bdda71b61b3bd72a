import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {HostsBackupStatus} from '../../lib/backup/hosts-status.js'
import type {BackupStatus} from '../../lib/backup/status.js'
import {selectHosts, serverHost} from '../../lib/config/hosts.js'
import type {HostConfig} from '../../lib/config/schema.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup status`: are all backup sources of every host snapshotted and synced off-site?
 *
 * `--json` prints the {@link HostsBackupStatus} (src/lib/backup/hosts-status.ts): the
 * {@link BackupStatus} shape plus `host` and `hosts[{name, role, ssh, error, status}]`, each
 * source carrying its `host`: `{host, ok, checkedAt, schedule,
 * graceHours, syncEveryHours, staleAfterSeconds, sources[{path, state:
 * "ok"|"stale"|"failed"|"never"|"uncovered", lastSnapshot{id, time, ageSeconds, size, files,
 * errors} | null, lastRun{time, exitCode, error} | null, problems[]}], lastRun{start, end, result,
 * error} | null, sync{state: "ok"|"failed"|"stale"|"never", start, end, result, ageSeconds, error,
 * bucket, prefix}, timers{backup{next, last}, sync{next, last}, drill{next, last}}, problems[]}`,
 * and the restore drills: per source `drill{state: "ok"|"failed"|"stale"|"never", time,
 * ageSeconds, result, durationMs, snapshotId, error} | null`, overall `drill{state, schedule,
 * staleAfterSeconds, start, end, result}`, and `warnings[]` (stale or missing drills).
 * `ok`, `sources`, `problems`, `warnings` cover every selected host; `host`, `lastRun`, `sync`,
 * `drill`, `timers` are the k3s server's (or the first reachable host's); `hosts[].status` is
 * each host's own BackupStatus (null when it could not be reached: `error` says why).
 * Exit 0 ok (warnings allowed), 1 anything stale, failed, never backed up or uncovered, a
 * failed restore drill, or one of several hosts unreachable; 2 no selected host reachable.
 */
export default class BackupStatusCommand extends HomelabCommand {
  static override summary = 'Show per host and backup source the newest Kopia snapshot, whether it is stale, the last R2 sync and the next runs.'

  static override description = `Grouped by host (every host of homelab.yaml, or those of --host/--on; connected in parallel): each host snapshots its own sources, the apps whose storage node (storage.json apps[].node, default the k3s server) is that host, and the extraBackupSources (its own /etc/nixos).
Reads over SSH (no sudo) what each host's backup units wrote (last-run.json, snapshots.json, last-sync.json in the state folder of nixos/backup.json), the folders under the storage root, and the timers' next runs. Per source (every app path and extra source of the storage file):
  ok         newest snapshot younger than the schedule's period + backup.graceHours, no failed entries
  stale      newest snapshot older than that
  failed     the last run of the source failed, or its newest snapshot has failed entries
  never      no snapshot at all
  uncovered  a folder under the storage root that is no backup source
The R2 sync is stale after syncEveryHours + graceHours, and failed when it went to another prefix than the host's own (the k3s server: backup.json prefix; any other host: the sibling <prefix>-<host>/): deploy that host.
DRILL is each source's last restore drill (homelab backup drill, and weekly by timer at backup.json drillSchedule): ok, failed, stale (older than the drill schedule's period + graceHours) or never.
Exit 1 when anything above is not ok, including a failed restore drill. A stale or missing drill is a warning only (listed, exit code unaffected): it says nothing is known to be wrong, only that the proof is old.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'One line per source, the R2 sync and the next runs.'},
    {command: "<%= config.bin %> <%= command.id %> --json | jq '.sources[] | select(.state != \"ok\")'", description: 'The sources that need attention, as JSON (each names its host).'},
    {command: '<%= config.bin %> <%= command.id %> --on @storage', description: 'Only the hosts tagged storage in homelab.yaml.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'name of the one host in homelab.yaml to read (default: every host)', exclusive: ['on']}),
    on: Flags.string({description: 'the hosts as names, globs or @tags of homelab.yaml (default: every host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<HostsBackupStatus> {
    const {flags} = await this.parse(BackupStatusCommand)
    const homelab = await this.homelab(flags.repo)
    const hosts = selectHosts(homelab, {host: flags.host, on: flags.on})
    const [{combineHostBackups}, {loadBackupSettings, readBackupStatus}, {unplacedApps}, {loadStorageFile}, {openHostConnection}] = await Promise.all([
      import('../../lib/backup/hosts-status.js'),
      import('../../lib/backup/index.js'),
      import('../../lib/backup/settings.js'),
      import('../../lib/config/load.js'),
      import('../../ui/host-connection.js'),
    ])
    const connectionOptions = this.hostConnectionOptions(flags)
    const now = new Date()
    // Each host over its own connection, all at once (a `connecting…` line only for a single host).
    const readOne = async (host: HostConfig): Promise<BackupStatus> => {
      const settings = await loadBackupSettings(homelab, {host: host.name})
      const connection = await openHostConnection({...connectionOptions, homelab, host, progress: hosts.length === 1 ? connectionOptions.progress : undefined})
      try {
        return await readBackupStatus({connection, homelab, host: host.name, now, settings})
      } finally {
        await connection.close()
      }
    }

    const settled = await Promise.allSettled(hosts.map(async (host) => readOne(host)))
    const results = settled.map((r, i) => ({error: r.status === 'rejected' ? (r.reason as Error).message.split('\n')[0] : null, host: hosts[i], status: r.status === 'fulfilled' ? r.value : null}))
    // Apps whose storage node is no host: named when every host is read (with --host/--on they are another host's matter).
    const unplaced = flags.host === undefined && flags.on === undefined ? unplacedApps(homelab, await loadStorageFile(homelab)) : []
    const status = combineHostBackups(results, serverHost(homelab).name, unplaced)
    // No host could be read: its error as it is (a host unreachable is exit 2, a bad file exit 1 …).
    if (!status) throw (settled.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason
    if (!this.jsonEnabled()) {
      const {renderHostsBackupStatus} = await import('../../ui/backup.js')
      this.log(renderHostsBackupStatus(status, colors()))
    }

    if (!status.ok) process.exitCode = 1
    return status
  }
}
