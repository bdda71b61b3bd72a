import {Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'
import type {OffsiteStatus} from '../../lib/backup/offsite.js'
import type {OffsiteTarget} from '../../lib/backup/offsite-target.js'
import {colors} from '../../ui/color.js'

/**
 * `homelab backup offsite`: checks the R2 copy of the Kopia repository from this machine, and the
 * protection in force (the marker homelab/offsite-protection.json the host's sync writes and
 * backup.json `offsiteDeleteAfterDays`); `--restore-test` reads blobs back and checks them.
 *
 * Each host syncs its own repository to its own prefix and marker (src/lib/backup/offsite-target.ts):
 * the k3s server's by default, `--host NAME` another host's.
 *
 * `--json` prints the {@link OffsiteStatus} plus `credentialsFile` and `host` (the host whose copy it is):
 * `{ok, endpoint, bucket, prefix, reachable, blobs{total, totalBytes, repository, packs,
 * metadataPacks}, newestBlob{key, lastModified, ageSeconds} | null, maxAgeSeconds,
 * protection{mode, deleteAfterDays, marker{key, mode, deleteAfterDays, updatedAt, ageSeconds,
 * pending, oldestPendingSince, recordedBlobs, uniqueID} | null}, restoreTest{…} | null, problems[],
 * credentialsFile, host}`. Exit 0 ok, 1 a problem (empty bucket, no repository, newest blob too old,
 * no protection, marker missing/other window/stale, a blob read back differs, refused
 * credentials), 2 endpoint unreachable; the same under --json.
 */
export default class BackupOffsite extends HomelabCommand {
  static override summary = 'Check the off-site copy in R2 over the S3 API: Kopia blobs, freshness, the protection in force; --restore-test reads blobs back.'

  static override description = `Decrypts the R2 credentials (r2.access_key_id, r2.secret_access_key) from the SOPS file in homelab.yaml backup.offsite.credentialsFile with your age identity (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or ~/.config/sops/age/keys.txt), then lists the bucket of nixos/backup.json under the host's prefix at backup.offsite.endpoint. Each host syncs its own Kopia repository: the k3s server to backup.json prefix (checked by default), any other host (--host NAME) to the sibling prefix <prefix without "/">-<host>/ with its own marker homelab/offsite-protection-<host>.json:
  reachable   the bucket answers with these credentials (refused credentials are one clear error)
  repository  the Kopia repository is there: kopia.repository and p/q pack blobs
  fresh       the newest blob is younger than the snapshot period + sync interval + grace
  protection  the host's sync only adds blobs and deletes a blob from R2 only after backup.json offsiteDeleteAfterDays; it says so in homelab/offsite-protection.json (the marker), which must exist, name the same window and be as fresh as the blobs. A window of 0 is no protection: a failure.

--restore-test, from this machine alone (no host): downloads <prefix>kopia.repository (it must parse and carry the marker's repository uniqueID) and a random sample of --sample p/q blobs in full, and checks each length and SHA-256 against the marker's record, written by the host from its own repository file. It proves the bytes in R2 are the bytes the host wrote, and that the blobs the marker records are all still there. It does not decrypt anything: restoring files from R2 needs kopia and the repository password (README: "Restoring without the host"):
  kopia repository connect s3 --readonly --bucket=<bucket> --prefix=<prefix> --endpoint=<account>.r2.cloudflarestorage.com --region=auto
  kopia snapshot restore <snapshot-id> /restore/target

The credentials stay in memory; nothing is written. Exit 1 when a check fails, 2 when the endpoint cannot be reached.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Check the R2 bucket and its protection with the key in ~/.config/sops/age/keys.txt.'},
    {command: 'SOPS_AGE_KEY_FILE=~/keys/homelab.agekey <%= config.bin %> <%= command.id %> --json | jq .protection', description: 'The protection in force, with another key file.'},
    {command: '<%= config.bin %> <%= command.id %> --restore-test --sample 50', description: 'Read kopia.repository and 50 random pack blobs back from R2 and check their SHA-256.'},
    {command: '<%= config.bin %> <%= command.id %> --host azalab-1', description: "The off-site copy of agent host azalab-1's own repository (prefix kopia-azalab-1/)."},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'the host of homelab.yaml whose off-site copy to check (default: the k3s server)'}),
    'restore-test': Flags.boolean({description: 'read the format blob and a sample of p/q blobs back from R2 and check them against the marker'}),
    sample: Flags.integer({description: 'p/q blobs --restore-test reads in full', default: 10, min: 1}),
  }

  async run(): Promise<OffsiteStatus & {credentialsFile: string; host: string}> {
    const {flags} = await this.parse(BackupOffsite)
    const homelab = await this.homelab(flags.repo)
    const {checkOffsite, loadBackupSettings, loadR2Credentials, offsiteTarget} = await import('../../lib/backup/index.js')
    const settings = await loadBackupSettings(homelab)
    const target: OffsiteTarget = offsiteTarget(settings, homelab, flags.host)
    const credentials = await loadR2Credentials({env: process.env, homeDir: process.env.HOME ?? os.homedir(), homelab})
    // The SDK warns on every Node < 22 start; the CLI supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    const status = await checkOffsite({
      bucket: settings.bucket,
      credentials,
      credentialsSource: credentials.file,
      endpoint: settings.endpoint,
      backupFile: settings.file,
      deleteAfterDays: settings.offsiteDeleteAfterDays,
      maxAgeSeconds: settings.offsiteStaleAfterSeconds,
      markerKey: target.markerKey,
      prefix: target.prefix,
      restoreTest: flags['restore-test'] ? {sample: flags.sample} : undefined,
    })
    const r2Host = /^([0-9a-f]+)\.r2\.cloudflarestorage\.com$/i.exec(settings.endpoint)
    if (r2Host && credentials.accountId && r2Host[1] !== credentials.accountId) {
      status.problems.push(`homelab.yaml backup.offsite.endpoint names account ${r2Host[1]} but ${credentials.file} r2.account_id is ${credentials.accountId} (the host syncs there)`)
      status.ok = false
    }

    const result = {...status, credentialsFile: credentials.file, host: target.host}
    if (!this.jsonEnabled()) {
      const {renderOffsite} = await import('../../ui/backup.js')
      this.log(renderOffsite(result, colors()))
    }

    if (!status.ok) process.exitCode = 1
    return result
  }
}
