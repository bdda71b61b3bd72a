import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import type {UnitRunResult} from '../../lib/backup/run-unit.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup sync`: copy the Kopia repository to R2 now.
 *
 * `--json` prints the {@link UnitRunResult} with `sync` = last-sync.json of this run
 * (`{version, start, end, result: "success"|"failed", exitCode, bucket, prefix, endpoint, error}`)
 * and `snapshots: []`; the journal lines go to stderr. Exit 0 success or skipped (a sync was
 * already running), 1 failed, 2 host unreachable.
 */
export default class BackupSync extends HomelabCommand {
  static override summary = 'Sync the Kopia repository to R2 now, showing the unit\'s journal live.'

  static override description = `Starts kopia-r2-sync.service on the host with sudo (kopia repository sync-to s3 to <account>.r2.cloudflarestorage.com), streams its journal while it runs, then prints the result it recorded. Two syncs never overlap: when one is already running this one is reported as skipped. Ctrl-C stops watching; the unit keeps running on the host.
The sudo password comes from HOMELAB_SUDO_PASSWORD or a prompt.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Sync now and watch it.'},
    {command: '<%= config.bin %> <%= command.id %> --json 2>/dev/null | jq .sync', description: 'Only the recorded result, as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
  }

  async run(): Promise<UnitRunResult> {
    const {flags} = await this.parse(BackupSync)
    const homelab = await this.homelab(flags.repo)
    const [{loadBackupSettings, pickHost, runBackupUnit}, {openHostConnection}] = await Promise.all([
      import('../../lib/backup/index.js'),
      import('../../ui/host-connection.js'),
    ])
    const settings = await loadBackupSettings(homelab)
    const host = pickHost(homelab, flags.host)
    const connection = await openHostConnection({canPrompt: this.canPrompt(), homelab, host})
    try {
      const c = colors()
      if (!this.jsonEnabled()) this.log(c.dim(`starting kopia-r2-sync.service on ${host.name}…`))
      const result = await runBackupUnit({
        connection,
        onLine: (line) => (this.jsonEnabled() ? process.stderr.write(`${line}\n`) : this.log(c.dim(`│ ${line}`))),
        settings,
        unit: 'kopia-r2-sync.service',
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
