import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {BackupStatus} from '../../lib/backup/status.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup status`: are all backup sources snapshotted and synced off-site?
 *
 * `--json` prints the {@link BackupStatus} plus `host`: `{host, ok, checkedAt, schedule,
 * graceHours, syncEveryHours, staleAfterSeconds, sources[{path, state:
 * "ok"|"stale"|"failed"|"never"|"uncovered", lastSnapshot{id, time, ageSeconds, size, files,
 * errors} | null, lastRun{time, exitCode, error} | null, problems[]}], lastRun{start, end, result,
 * error} | null, sync{state: "ok"|"failed"|"stale"|"never", start, end, result, ageSeconds, error,
 * bucket, prefix}, timers{backup{next, last}, sync{next, last}, drill{next, last}}, problems[]}`,
 * and the restore drills: per source `drill{state: "ok"|"failed"|"stale"|"never", time,
 * ageSeconds, result, durationMs, snapshotId, error} | null`, overall `drill{state, schedule,
 * staleAfterSeconds, start, end, result}`, and `warnings[]` (stale or missing drills).
 * Exit 0 ok (warnings allowed), 1 anything stale, failed, never backed up or uncovered, or a
 * failed restore drill, 2 host unreachable.
 */
export default class BackupStatusCommand extends HomelabCommand {
  static override summary = 'Show per backup source the newest Kopia snapshot, whether it is stale, the last R2 sync and the next runs.'

  static override description = `Reads over SSH (no sudo) what the host's backup units wrote (last-run.json, snapshots.json, last-sync.json in the state folder of nixos/backup.json), the folders under the storage root, and the timers' next runs. Per source (every app path and extra source of the storage file):
  ok         newest snapshot younger than the schedule's period + backup.graceHours, no failed entries
  stale      newest snapshot older than that
  failed     the last run of the source failed, or its newest snapshot has failed entries
  never      no snapshot at all
  uncovered  a folder under the storage root that is no backup source
The R2 sync is stale after syncEveryHours + graceHours.
DRILL is each source's last restore drill (homelab backup drill, and weekly by timer at backup.json drillSchedule): ok, failed, stale (older than the drill schedule's period + graceHours) or never.
Exit 1 when anything above is not ok, including a failed restore drill. A stale or missing drill is a warning only (listed, exit code unaffected): it says nothing is known to be wrong, only that the proof is old.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'One line per source, the R2 sync and the next runs.'},
    {command: "<%= config.bin %> <%= command.id %> --json | jq '.sources[] | select(.state != \"ok\")'", description: 'The sources that need attention, as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    ...connectionFlags,
  }

  async run(): Promise<BackupStatus & {host: string}> {
    const {flags} = await this.parse(BackupStatusCommand)
    const homelab = await this.homelab(flags.repo)
    const [{pickHost, readBackupStatus}, {openHostConnection}] = await Promise.all([import('../../lib/backup/index.js'), import('../../ui/host-connection.js')])
    const host = pickHost(homelab, flags.host)
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const status = {host: host.name, ...(await readBackupStatus({connection, homelab}))}
      if (!this.jsonEnabled()) {
        const {renderBackupStatus} = await import('../../ui/backup.js')
        this.log(renderBackupStatus(status, colors()))
      }

      if (!status.ok) process.exitCode = 1
      return status
    } finally {
      await connection.close()
    }
  }
}
