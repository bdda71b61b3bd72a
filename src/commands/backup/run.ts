import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {UnitRunResult} from '../../lib/backup/run-unit.js'
import type {BackupSettings} from '../../lib/backup/settings.js'
import {UsageError} from '../../lib/errors.js'

/**
 * `homelab backup run [--source PATH]`: snapshot now.
 *
 * `--json` prints the {@link UnitRunResult}: `{unit, result: "success"|"failed"|"skipped",
 * exitCode, execMainStatus, startedAt, endedAt, durationMs, snapshots[{path, snapshotId,
 * startTime, endTime, size, files, dirs, errors, exitCode, error, runStart, runEnd}], sync: null}`;
 * the journal lines go to stderr. Exit 0 success or skipped, 1 failed, 2 host unreachable.
 */
export default class BackupRun extends HomelabCommand {
  static override summary = 'Snapshot every backup source now (or one with --source), showing the unit\'s journal live.'

  static override description = `Starts kopia-backup.service on the host with sudo (or kopia-backup-source@<path>.service for --source), streams its journal while it runs, then prints the snapshots it made: id, size, files, failed entries. A run already in progress is not doubled: the second one is reported as skipped. Ctrl-C stops watching; the unit keeps running on the host (see homelab backup status).
The sudo password comes from HOMELAB_SUDO_PASSWORD or a prompt.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Snapshot every source now.'},
    {command: '<%= config.bin %> <%= command.id %> --source /srv/vaultwarden', description: 'Snapshot one source before a risky change.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    source: Flags.string({description: 'one backup source (an app path or extra source of the storage file)'}),
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    ...connectionFlags,
  }

  async run(): Promise<UnitRunResult> {
    const {flags} = await this.parse(BackupRun)
    const [{backupUnitFor}, {watchBackupUnit}] = await Promise.all([import('../../lib/backup/index.js'), import('../../ui/backup-unit.js')])
    const source = flags.source?.replace(/(.)\/+$/, '$1')
    const unit = (settings: BackupSettings) => {
      if (source !== undefined && !settings.sources.includes(source))
        throw new UsageError(`--source ${flags.source}: not a backup source of ${settings.storageFile}`, {suggestions: [`sources: ${settings.sources.join(', ')}`]})
      return backupUnitFor(source)
    }

    const result = await watchBackupUnit({connection: this.hostConnectionOptions(flags), homelab: await this.homelab(flags.repo), hostName: flags.host, json: this.jsonEnabled(), log: (l) => this.log(l), unit})
    if (result.result === 'failed') process.exitCode = 1
    return result
  }
}
