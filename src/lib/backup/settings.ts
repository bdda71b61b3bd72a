import {promises as fs} from 'node:fs'
import path from 'node:path'
import {z} from 'zod'

import {serverHost} from '../config/hosts.js'
import {backupSources, CONFIG_FILE, type Homelab, loadStorageFile, parseYamlWithSchema} from '../config/load.js'
import {ConfigError} from '../errors.js'
import {schedulePeriodSeconds} from './schedule.js'

const absolutePath = z.string().regex(/^\/\S*$/, 'must be an absolute path')

/** The restore drill's schedule when the backup file names none (nixos/backup-settings.nix has the same). */
export const DEFAULT_DRILL_SCHEDULE = 'Sun *-*-* 04:00:00'

/**
 * The backup file (`nixos/backup.json`, named by homelab.yaml `backup.file`): the host's backup
 * values, JSON so nixos/backup.nix reads them with builtins.fromJSON and the CLI reads the same.
 */
export const backupFileSchema = z.strictObject({
  $comment: z.string().optional(),
  /** systemd OnCalendar expression of the kopia-backup timer, e.g. "*-*-* 02:30:00". */
  schedule: z.string().min(1),
  /** systemd OnCalendar expression of homelab-backup-drill.timer (the restore drill); weekly by default. */
  drillSchedule: z.string().min(1).default(DEFAULT_DRILL_SCHEDULE),
  /** Hours between two kopia-r2-sync runs. */
  syncEveryHours: z.number().int().positive().max(24),
  /** The host's Kopia filesystem repository. */
  repositoryPath: absolutePath,
  /** Folder of last-run.json, snapshots.json, last-sync.json and failures/ on the host. */
  stateDir: absolutePath,
  /** R2 bucket of the off-site copy. */
  bucket: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
  /** Object key prefix of the Kopia repository in the bucket ("" or ending in "/"). */
  prefix: z.string().default(''),
  /**
   * Days a blob missing from the host's repository stays in the bucket before kopia-r2-sync
   * deletes it there (scripts/kopia-r2-sync.sh ledger). 0 = deletions reach R2 at once: no
   * protection, which `homelab backup offsite` reports as a failure.
   */
  offsiteDeleteAfterDays: z.number().int().min(0).max(3650).default(30),
})

export type BackupFile = z.infer<typeof backupFileSchema>

/** Everything the backup commands need, from homelab.yaml, the backup file and the storage file. */
export interface BackupSettings extends Omit<BackupFile, '$comment'> {
  /** The backup file, relative to the repository root. */
  file: string
  /** Hours past the schedule before a snapshot is stale (homelab.yaml backup.graceHours). */
  graceHours: number
  /** Seconds between two scheduled snapshots, derived from `schedule`. */
  periodSeconds: number
  /** Seconds after which a source's newest snapshot is stale: period + grace. */
  staleAfterSeconds: number
  /** Seconds between two scheduled restore drills, derived from `drillSchedule`. */
  drillPeriodSeconds: number
  /** Seconds after which a source's last restore drill is stale: drill period + grace. */
  drillStaleAfterSeconds: number
  /** Seconds after which the last R2 sync is stale: syncEveryHours + grace. */
  syncStaleAfterSeconds: number
  /**
   * Seconds within which the newest blob in the bucket must have been written: new blobs appear
   * once per snapshot period and reach the bucket at the next sync, so period + sync interval + grace.
   */
  offsiteStaleAfterSeconds: number
  /** S3 endpoint of the off-site copy (homelab.yaml backup.offsite.endpoint). */
  endpoint: string
  /** SOPS file (repo-relative) with r2.access_key_id and r2.secret_access_key. */
  credentialsFile: string
  /** Host folder holding every app's data (homelab.yaml storage.root). */
  storageRoot: string
  /** The storage file (repo-relative), e.g. nixos/storage.json. */
  storageFile: string
  /** Every backup source: each app's storage path, then extraBackupSources. */
  sources: string[]
}

/**
 * Loads the backup settings of a homelab: the backup file (schedule, sync interval, repository,
 * status folder, bucket, prefix), homelab.yaml's grace and off-site endpoint, and the backup
 * sources of the storage file (with `options.host`: only that host's, see {@link hostBackupSources}).
 *
 * @throws ConfigError when the backup file is missing or invalid (file:line: key: message), or
 *   when homelab.yaml still sets one of its values to something else (one place per value)
 */
export async function loadBackupSettings(homelab: Homelab, options: {host?: string} = {}): Promise<BackupSettings> {
  const {backup, storage} = homelab.config
  const rel = backup.file
  let text: string
  try {
    text = await fs.readFile(path.join(homelab.root, rel), 'utf8')
  } catch {
    throw new ConfigError(`${rel}: missing (homelab.yaml backup.file names it)`, {
      suggestions: ['create it with {"schedule": "*-*-* 02:30:00", "syncEveryHours": 6, "repositoryPath": "/var/lib/kopia/repository", "stateDir": "/var/lib/homelab/backup", "bucket": "…", "prefix": "kopia/"}'],
    })
  }

  const file = parseYamlWithSchema(text, rel, backupFileSchema)
  const legacy: [string, unknown, unknown][] = [
    ['backup.schedule', backup.schedule, file.schedule],
    ['backup.syncEveryHours', backup.syncEveryHours, file.syncEveryHours],
    ['backup.offsite.bucket', backup.offsite.bucket, file.bucket],
    ['backup.offsite.prefix', backup.offsite.prefix, file.prefix],
  ]
  for (const [key, inYaml, inFile] of legacy) {
    if (inYaml !== undefined && inYaml !== inFile)
      throw new ConfigError(`${CONFIG_FILE}: ${key} is ${JSON.stringify(inYaml)} but ${rel} says ${JSON.stringify(inFile)}`, {
        suggestions: [`the value lives in ${rel} (the host reads it there): remove ${key} from ${CONFIG_FILE}`],
      })
  }

  const periodSeconds = schedulePeriodSeconds(file.schedule)
  const drillPeriodSeconds = schedulePeriodSeconds(file.drillSchedule)
  const {$comment: _comment, ...values} = file
  return {
    ...values,
    credentialsFile: backup.offsite.credentialsFile,
    drillPeriodSeconds,
    drillStaleAfterSeconds: drillPeriodSeconds + backup.graceHours * 3600,
    endpoint: backup.offsite.endpoint,
    file: rel,
    graceHours: backup.graceHours,
    offsiteStaleAfterSeconds: periodSeconds + (file.syncEveryHours + backup.graceHours) * 3600,
    periodSeconds,
    sources: options.host === undefined ? backupSources(await loadStorageFile(homelab)) : hostBackupSources(homelab, await loadStorageFile(homelab), options.host),
    staleAfterSeconds: periodSeconds + backup.graceHours * 3600,
    storageFile: storage.file,
    storageRoot: storage.root,
    syncStaleAfterSeconds: (file.syncEveryHours + backup.graceHours) * 3600,
  }
}

/**
 * The backup sources host `host` snapshots (as nixos/backup-settings.nix gives that host): the
 * path of every app whose storage node (storage.json `apps[].node`, absent = the k3s server) is
 * the host, then every extraBackupSources entry (each host's own /etc/nixos …), in file order.
 */
export function hostBackupSources(homelab: Homelab, storage: Awaited<ReturnType<typeof loadStorageFile>>, host: string): string[] {
  const server = serverHost(homelab).name
  return [...storage.apps.filter((app) => (app.node ?? server) === host).map((app) => app.path), ...storage.extraBackupSources]
}

/**
 * The apps no host snapshots: those whose storage node (storage.json `apps[].node`) names no
 * host of homelab.yaml (`homelab validate` reports them too). Each as `{path, node}`.
 */
export function unplacedApps(homelab: Homelab, storage: Awaited<ReturnType<typeof loadStorageFile>>): Array<{path: string; node: string}> {
  const hosts = new Set(homelab.config.hosts.map((h) => h.name))
  return storage.apps.flatMap((app) => (app.node !== undefined && !hosts.has(app.node) ? [{node: app.node, path: app.path}] : []))
}
