import {z} from 'zod'

import {formatAge} from './status.js'

/**
 * Key of the protection marker in the bucket, at its root (outside the Kopia prefix, so kopia
 * never lists it as a blob). Written by scripts/kopia-r2-sync.sh after every sync: this is the k3s
 * server's; every other host writes `homelab/offsite-protection-<host>.json` (offsite-target.ts).
 */
export const OFFSITE_MARKER_KEY = 'homelab/offsite-protection.json'

const blobRecordSchema = z.object({
  /** Bytes. */
  length: z.number().int().nonnegative(),
  /** Lower-case hex SHA-256 of the blob's bytes, from the host's repository file. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
})

/**
 * The marker `homelab/offsite-protection.json` as scripts/kopia-r2-sync.sh writes it (its header
 * documents the same shape): the deletion window in force, the ledger's size and oldest entry,
 * and one `{length, sha256}` record per blob in the bucket (keyed by blob ID, without the prefix).
 * Times RFC 3339 UTC.
 */
export const offsiteMarkerSchema = z.object({
  version: z.literal(1),
  mode: z.string(),
  deleteAfterDays: z.number().int().nonnegative(),
  updatedAt: z.string(),
  bucket: z.string().optional(),
  prefix: z.string().optional(),
  /** The repository's uniqueID from its kopia.repository (format blob), or null. */
  uniqueID: z.string().nullable().optional(),
  pending: z.number().int().nonnegative(),
  oldestPendingSince: z.string().nullable(),
  blobs: z.record(z.string(), blobRecordSchema),
})

export type OffsiteMarker = z.infer<typeof offsiteMarkerSchema>
export type BlobRecord = z.infer<typeof blobRecordSchema>

/**
 * What protects the off-site copy (`homelab backup offsite --json` `protection`). Times RFC 3339
 * UTC, ages in seconds.
 */
export interface OffsiteProtection {
  /** "delayed-delete" while the window is above 0, "none" when backup.json says 0. */
  mode: 'delayed-delete' | 'none'
  /** backup.json `offsiteDeleteAfterDays`: days a blob deleted on the host stays in R2. */
  deleteAfterDays: number
  /** The marker the host's last sync wrote, or null when the bucket has none. */
  marker: {
    key: string
    mode: string
    deleteAfterDays: number
    updatedAt: string
    ageSeconds: number
    /** Blobs missing on the host, still in R2, waiting for the window. */
    pending: number
    oldestPendingSince: string | null
    /** Blobs with a {length, sha256} record. */
    recordedBlobs: number
    uniqueID: string | null
  } | null
}

/**
 * Judges the protection: one problem line per failed condition (window 0, marker missing or
 * unreadable, another window than backup.json, marker older than `maxAgeSeconds`).
 *
 * @param options.marker the parsed marker, null when absent, or an Error when it did not parse
 * @param options.where `s3://<bucket>/` for the messages
 * @param options.backupFile the backup file (repo-relative) for the messages
 */
export function judgeProtection(options: {
  marker: OffsiteMarker | null | Error
  deleteAfterDays: number
  backupFile: string
  where: string
  /** The host's marker key (default {@link OFFSITE_MARKER_KEY}, the k3s server's; src/lib/backup/offsite-target.ts). */
  markerKey?: string
  maxAgeSeconds: number
  now: Date
}): {protection: OffsiteProtection; problems: string[]} {
  const {backupFile, deleteAfterDays, marker, maxAgeSeconds, where} = options
  const key = `${where}${options.markerKey ?? OFFSITE_MARKER_KEY}`
  const problems: string[] = []
  const protection: OffsiteProtection = {deleteAfterDays, marker: null, mode: deleteAfterDays > 0 ? 'delayed-delete' : 'none'}
  if (deleteAfterDays === 0)
    problems.push(`${backupFile} offsiteDeleteAfterDays is 0: a deletion or corruption on the host reaches R2 at the next sync (no protection); set it to 30 and deploy`)

  if (marker instanceof Error) {
    problems.push(`${key} is not a protection marker (${marker.message}): run \`homelab backup sync\` to rewrite it`)
    return {problems, protection}
  }

  if (!marker) {
    problems.push(`${key} is missing: no kopia-r2-sync with the deletion window has run (deploy nixos/backup.nix, then \`homelab backup sync\`)`)
    return {problems, protection}
  }

  const updated = Date.parse(marker.updatedAt)
  const ageSeconds = Number.isNaN(updated) ? Number.POSITIVE_INFINITY : Math.max(0, Math.round((options.now.getTime() - updated) / 1000))
  protection.marker = {
    ageSeconds: Number.isFinite(ageSeconds) ? ageSeconds : -1,
    deleteAfterDays: marker.deleteAfterDays,
    key,
    mode: marker.mode,
    oldestPendingSince: marker.oldestPendingSince,
    pending: marker.pending,
    recordedBlobs: Object.keys(marker.blobs).length,
    uniqueID: marker.uniqueID ?? null,
    updatedAt: marker.updatedAt,
  }
  if (marker.mode !== 'delayed-delete') problems.push(`${key} says mode ${JSON.stringify(marker.mode)}, not "delayed-delete": the host runs another kopia-r2-sync.sh (deploy)`)
  else if (marker.deleteAfterDays !== deleteAfterDays && deleteAfterDays > 0)
    problems.push(`${key} says deletions reach R2 after ${marker.deleteAfterDays} days but ${backupFile} offsiteDeleteAfterDays is ${deleteAfterDays}: the host runs another configuration (deploy it)`)
  if (ageSeconds > maxAgeSeconds)
    problems.push(`${key} was written ${Number.isFinite(ageSeconds) ? `${formatAge(ageSeconds)} ago` : `at an unreadable time (${marker.updatedAt})`} (expected within ${formatAge(maxAgeSeconds)}): kopia-r2-sync has not completed since`)
  return {problems, protection}
}
