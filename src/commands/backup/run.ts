import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import type {UnitRunResult} from '../../lib/backup/run-unit.js'
import {UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'

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
  }

  async run(): Promise<UnitRunResult> {
    const {flags} = await this.parse(BackupRun)
    const homelab = await this.homelab(flags.repo)
    const [{backupUnitFor, loadBackupSettings, pickHost, runBackupUnit}, {openHostConnection}] = await Promise.all([
      import('../../lib/backup/index.js'),
      import('../../ui/host-connection.js'),
    ])
    const settings = await loadBackupSettings(homelab)
    const source = flags.source?.replace(/(.)\/+$/, '$1')
    if (source !== undefined && !settings.sources.includes(source))
      throw new UsageError(`--source ${flags.source}: not a backup source of ${settings.storageFile}`, {suggestions: [`sources: ${settings.sources.join(', ')}`]})
    const host = pickHost(homelab, flags.host)
    const connection = await openHostConnection({canPrompt: this.canPrompt(), homelab, host})
    try {
      const c = colors()
      const unit = backupUnitFor(source)
      if (!this.jsonEnabled()) this.log(c.dim(`starting ${unit} on ${host.name}…`))
      const result = await runBackupUnit({
        connection,
        onLine: (line) => (this.jsonEnabled() ? process.stderr.write(`${line}\n`) : this.log(c.dim(`│ ${line}`))),
        settings,
        unit,
      })
      if (!this.jsonEnabled()) {
        const {renderUnitRun} = await import('../../ui/backup.js')
        this.log(renderUnitRun(result, c))
      }

      if (result.result === 'failed') process.exitCode = 1
      return result
    } finally {
      await connection.close()
    }
  }
}
