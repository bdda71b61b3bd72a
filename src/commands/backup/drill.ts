import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {DrillRunResult} from '../../lib/backup/drill.js'

/**
 * `homelab backup drill [SOURCE...]`: restore drill now.
 *
 * `--json` prints the {@link DrillRunResult}: `{result: "ok"|"failed"|"skipped", startedAt,
 * endedAt, durationMs, units[{unit, result, exitCode, execMainStatus}], sources[{path,
 * snapshotId, snapshotTime, result: "ok"|"failed", error, start, end, durationMs, restore{files,
 * bytes}, checks{restore{ok, error}, sqlite{checked, failed, firstFailure}, postgres{checked,
 * failed, firstFailure}, files{compared, mismatched, changedSince, firstFailure}}}], problems[]}`;
 * the journal lines go to stderr. Exit 0 passed, 1 failed or skipped, 2 host unreachable, 3 usage.
 */
export default class BackupDrill extends HomelabCommand {
  static override summary = 'Restore drill now: restore each source\'s newest snapshot into a scratch folder on the host and check it.'

  static override description = `Starts homelab-backup-drill.service on the host with sudo (or homelab-backup-drill@<path>.service per SOURCE), streams its journal while it runs, then prints per source what last-drill.json says. For each source the drill:
  1. restores the newest snapshot whole into a scratch folder (root only, removed afterwards), after checking there is room for it
  2. opens every SQLite dump under .homelab-backup/sqlite/ read-only: PRAGMA integrity_check must say ok
  3. reads every .homelab-backup/postgres/*.pgdump with pg_restore: its table of contents, then every data block
  4. compares by SHA-256 up to 20 restored files, picked at random among those whose live copy has not changed since the snapshot started (files changed since are counted, never failures)
The drill waits for a running snapshot or sync (one lock for all three). SOURCE is an app name of the storage file or a source path. The weekly timer does the same (backup.json drillSchedule); homelab backup status shows the last drill per source.
Exit 1 when a source fails, or when the drill gave up waiting for the lock (skipped).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Drill every backup source now.'},
    {command: '<%= config.bin %> <%= command.id %> vaultwarden /etc/nixos', description: 'Drill one app and one extra source.'},
    {command: "<%= config.bin %> <%= command.id %> immich --json | jq '.sources[0].checks.postgres'", description: 'Did the PostgreSQL dump of the newest immich snapshot read back?'},
  ]

  static override enableJsonFlag = true

  static override args = {
    sources: Args.string({ignoreStdin: true, description: 'app names or source paths (default: every backup source)', required: false}),
  }

  static override strict = false

  static override flags = {
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    ...connectionFlags,
  }

  async run(): Promise<DrillRunResult> {
    const {argv, flags} = await this.parse(BackupDrill)
    const {watchDrill} = await import('../../ui/backup-drill.js')
    const result = await watchDrill({
      connection: this.hostConnectionOptions(flags),
      homelab: await this.homelab(flags.repo),
      hostName: flags.host,
      json: this.jsonEnabled(),
      log: (l) => this.log(l),
      sources: argv as string[],
    })
    if (result.result !== 'ok') process.exitCode = 1
    return result
  }
}
