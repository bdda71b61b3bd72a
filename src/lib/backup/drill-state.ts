import {z} from 'zod'

/**
 * `last-drill.json`, written atomically by scripts/homelab-backup-drill.sh in the backup state
 * folder: the last restore drill, and per source its last result (a drill of some sources keeps
 * the others' entries). Times RFC 3339 UTC, durations in ms, sizes in bytes.
 */
const checkCounts = {checked: z.number(), failed: z.number(), firstFailure: z.string().nullable()}

/** One source's drill: the snapshot restored, the checks, the first failure. */
export const lastDrillSourceSchema = z.looseObject({
  path: z.string(),
  /** The snapshot restored; null when there was none (or the list failed). */
  snapshotId: z.string().nullable(),
  /** That snapshot's startTime (Kopia manifest). */
  snapshotTime: z.string().nullable(),
  result: z.enum(['ok', 'failed']),
  /** The first failure, one line; null when ok. */
  error: z.string().nullable(),
  start: z.string(),
  end: z.string(),
  durationMs: z.number(),
  /** What the restore gave back; null when it did not run. */
  restore: z.looseObject({files: z.number().nullable(), bytes: z.number().nullable()}),
  checks: z.looseObject({
    /** Kopia restored the snapshot, with as many files as its manifest lists. */
    restore: z.looseObject({ok: z.boolean(), error: z.string().nullable()}),
    /** `.homelab-backup/sqlite/*`: SQLite header + PRAGMA integrity_check = ok. */
    sqlite: z.looseObject(checkCounts),
    /** `.homelab-backup/postgres/*.pgdump`: pg_restore --list, then every data block read. */
    postgres: z.looseObject(checkCounts),
    /** Sampled restored files whose live copy is unchanged since the snapshot, by SHA-256. */
    files: z.looseObject({compared: z.number(), mismatched: z.number(), changedSince: z.number(), firstFailure: z.string().nullable()}),
  }),
})

/** `last-drill.json`. */
export const lastDrillSchema = z.looseObject({
  version: z.literal(1),
  start: z.string(),
  end: z.string(),
  result: z.enum(['ok', 'failed']),
  sources: z.array(lastDrillSourceSchema),
})

export type LastDrill = z.infer<typeof lastDrillSchema>
export type LastDrillSource = z.infer<typeof lastDrillSourceSchema>
