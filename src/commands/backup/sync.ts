import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {UnitRunResult} from '../../lib/backup/run-unit.js'

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
    ...connectionFlags,
  }

  async run(): Promise<UnitRunResult> {
    const {flags} = await this.parse(BackupSync)
    const {watchBackupUnit} = await import('../../ui/backup-unit.js')
    const unit = () => 'kopia-r2-sync.service'
    const result = await watchBackupUnit({connection: this.hostConnectionOptions(flags), homelab: await this.homelab(flags.repo), hostName: flags.host, json: this.jsonEnabled(), log: (l) => this.log(l), unit})
    if (result.result === 'failed') process.exitCode = 1
    return result
  }
}
