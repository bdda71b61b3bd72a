import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {VerifyReport} from '../../lib/backup/verify.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup verify [--percent N]`: can the snapshots be read back?
 *
 * `--json` prints the {@link VerifyReport}: `{ok, percent, problems[], sources[{path, snapshotId,
 * ok, verify{errorCount, errors[], expectedFiles, processedObjects, readFiles} | null,
 * restore{state: "match"|"mismatch"|"failed"|"skipped", file, bytes, sha256, detail}}]}`.
 * Exit 0 every source verified, 1 otherwise, 2 host unreachable.
 */
export default class BackupVerify extends HomelabCommand {
  static override summary = 'Verify each source\'s newest snapshot: kopia snapshot verify with a sample, and a test restore compared by hash.'

  static override description = `For every backup source, on the host with sudo (through homelab-kopia, which nixos/backup.nix installs):
  1. kopia snapshot verify --verify-files-percent N --sources <path>: every object is there, N% of the file contents are downloaded and decrypted
  2. a test restore: one file not modified since the snapshot started, picked at random, restored into a temp folder on the host and compared by SHA-256 with the live file; the temp folder is removed
Reports per source. Exit 1 when a verify error, a failed restore or a hash mismatch is found.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Verify with 5% of file contents read.'},
    {command: '<%= config.bin %> <%= command.id %> --percent 100 --json', description: 'Read every file back, report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    percent: Flags.integer({description: 'percent of file contents kopia downloads and decrypts', default: 5, min: 0, max: 100}),
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    ...connectionFlags,
  }

  async run(): Promise<VerifyReport> {
    const {flags} = await this.parse(BackupVerify)
    const homelab = await this.homelab(flags.repo)
    const [{loadBackupSettings, pickHost, verifyBackups}, {openHostConnection}] = await Promise.all([
      import('../../lib/backup/index.js'),
      import('../../ui/host-connection.js'),
    ])
    const settings = await loadBackupSettings(homelab)
    const host = pickHost(homelab, flags.host)
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const report = await verifyBackups({connection, percent: flags.percent, settings})
      if (!this.jsonEnabled()) {
        const {renderVerify} = await import('../../ui/backup.js')
        this.log(renderVerify(report, colors()))
      }

      if (!report.ok) process.exitCode = 1
      return report
    } finally {
      await connection.close()
    }
  }
}
