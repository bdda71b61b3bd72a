import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'
import type {OffsiteStatus} from '../../lib/backup/offsite.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup offsite`: checks the R2 copy of the Kopia repository from this machine.
 *
 * `--json` prints the {@link OffsiteStatus} plus `credentialsFile`:
 * `{ok, endpoint, bucket, prefix, reachable, blobs{total, totalBytes, repository, packs,
 * metadataPacks}, newestBlob{key, lastModified, ageSeconds} | null, maxAgeSeconds, problems[],
 * credentialsFile}`. Exit 0 ok, 1 a problem (empty bucket, no repository, newest blob too old,
 * refused credentials), 2 endpoint unreachable; the same under --json.
 */
export default class BackupOffsite extends HomelabCommand {
  static override summary = 'Check the off-site copy in R2 directly over the S3 API: bucket, Kopia blobs, newest blob age.'

  static override description = `Decrypts the R2 credentials (r2.access_key_id, r2.secret_access_key) from the SOPS file in homelab.yaml backup.offsite.credentialsFile with your age identity (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or ~/.config/sops/age/keys.txt), then lists the bucket of nixos/backup.json under its prefix at backup.offsite.endpoint:
  reachable   the bucket answers with these credentials (refused credentials are one clear error)
  repository  the Kopia repository is there: kopia.repository and p/q pack blobs
  fresh       the newest blob is younger than the snapshot period + sync interval + grace
The credentials stay in memory; nothing is written. Exit 1 when a check fails, 2 when the endpoint cannot be reached.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Check the R2 bucket with the key in ~/.config/sops/age/keys.txt.'},
    {command: 'SOPS_AGE_KEY_FILE=~/keys/homelab.agekey <%= config.bin %> <%= command.id %> --json | jq .newestBlob', description: 'The newest blob in the bucket, with another key file.'},
  ]

  static override enableJsonFlag = true

  async run(): Promise<OffsiteStatus & {credentialsFile: string}> {
    const {flags} = await this.parse(BackupOffsite)
    const homelab = await this.homelab(flags.repo)
    const {checkOffsite, loadBackupSettings, loadR2Credentials} = await import('../../lib/backup/index.js')
    const settings = await loadBackupSettings(homelab)
    const credentials = await loadR2Credentials({env: process.env, homeDir: process.env.HOME ?? os.homedir(), homelab})
    // The SDK warns on every Node < 22 start; the CLI supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    const status = await checkOffsite({
      bucket: settings.bucket,
      credentials,
      credentialsSource: credentials.file,
      endpoint: settings.endpoint,
      maxAgeSeconds: settings.offsiteStaleAfterSeconds,
      prefix: settings.prefix,
    })
    const r2Host = /^([0-9a-f]+)\.r2\.cloudflarestorage\.com$/i.exec(settings.endpoint)
    if (r2Host && credentials.accountId && r2Host[1] !== credentials.accountId) {
      status.problems.push(`homelab.yaml backup.offsite.endpoint names account ${r2Host[1]} but ${credentials.file} r2.account_id is ${credentials.accountId} (the host syncs there)`)
      status.ok = false
    }

    const result = {...status, credentialsFile: credentials.file}
    if (!this.jsonEnabled()) {
      const {renderOffsite} = await import('../../ui/backup.js')
      this.log(renderOffsite(result, colors()))
    }

    if (!status.ok) process.exitCode = 1
    return result
  }
}
