import {z} from 'zod'

import {parseSnapshotList, type SnapshotManifest} from '../kopia/index.js'
import {BACKUP_MODES} from '../config/schema.js'
import {HomelabError} from '../errors.js'
import {type LastDrill, lastDrillSchema} from './drill-state.js'
import {type BackupHost, shellQuote} from './host.js'
import {parseTimers, type TimerTimes, TIMER_UNITS} from './timers.js'

/**
 * The status files the host's backup scripts write (scripts/kopia-backup.sh,
 * scripts/kopia-r2-sync.sh, scripts/homelab-backup-failed.sh) in the state folder, all
 * atomically. Times are RFC 3339 UTC; sizes in bytes.
 */
export const lastRunSourceSchema = z.looseObject({
  path: z.string(),
  snapshotId: z.string().nullable(),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
  size: z.number().nullable(),
  files: z.number().nullable(),
  dirs: z.number().nullable().optional(),
  /** Failed entries (rootEntry.summ.numFailed). */
  errors: z.number().nullable(),
  /** kopia's exit code; null when kopia did not run (source folder missing). */
  exitCode: z.number().nullable(),
  error: z.string().nullable(),
  runStart: z.string(),
  runEnd: z.string(),
  /**
   * The consistent capture before the snapshot (storage.json `apps[].backup`): mode, whether it
   * worked, its error, and its duration in milliseconds (for `stop`: how long the workloads were
   * down). Null when it did not run (source folder missing); absent in files of older scripts.
   * A failed capture means no snapshot was taken for the source in that run.
   */
  capture: z
    .looseObject({
      mode: z.enum(BACKUP_MODES),
      ok: z.boolean(),
      error: z.string().nullable(),
      ms: z.number(),
    })
    .nullable()
    .optional(),
})

/** `last-run.json`: the last backup run, and per source the last result (a --source run keeps the others). */
export const lastRunSchema = z.looseObject({
  version: z.literal(1),
  start: z.string(),
  end: z.string(),
  result: z.enum(['success', 'partial', 'failed']),
  error: z.string().nullable(),
  sources: z.array(lastRunSourceSchema),
})

/** `last-sync.json`: the last `kopia repository sync-to s3`. */
export const lastSyncSchema = z.looseObject({
  version: z.literal(1),
  start: z.string(),
  end: z.string(),
  result: z.enum(['success', 'failed']),
  exitCode: z.number(),
  bucket: z.string(),
  prefix: z.string(),
  endpoint: z.string(),
  error: z.string().nullable(),
})

/** `failures/<unit>.json`: written by homelab-backup-failed@<unit>.service (OnFailure=). */
export const failureMarkSchema = z.looseObject({version: z.literal(1), unit: z.string(), time: z.string()})

export type LastRun = z.infer<typeof lastRunSchema>
export type LastRunSource = z.infer<typeof lastRunSourceSchema>
export type LastSync = z.infer<typeof lastSyncSchema>
export type FailureMark = z.infer<typeof failureMarkSchema>

/** What the host says about its backups, read in one SSH command. */
export interface HostBackupState {
  lastRun: LastRun | undefined
  lastSync: LastSync | undefined
  /** `last-drill.json` (scripts/homelab-backup-drill.sh); undefined before the first drill. */
  lastDrill: LastDrill | undefined
  /** `kopia snapshot list --json` as of the last run; undefined before the first run. */
  snapshots: SnapshotManifest[] | undefined
  failures: FailureMark[]
  /** Folders directly under the storage root (absolute paths). */
  storageFolders: string[]
  /** Whether the storage root exists on the host. */
  storageRootExists: boolean
  timers: Record<string, TimerTimes>
  /** Files that were present but unreadable as their format (one line each). */
  unreadable: string[]
}

const MARK = '@@homelab-backup '

/**
 * Reads the backup status files, the folders under the storage root and the timers' next runs
 * from the host in one command (no sudo: the files are world-readable, the timers public).
 *
 * @throws HomelabError when the command itself fails (the SSH transport's errors pass through)
 */
export async function readHostBackupState(options: {connection: BackupHost; stateDir: string; storageRoot: string}): Promise<HostBackupState> {
  const d = shellQuote(options.stateDir)
  const root = shellQuote(options.storageRoot)
  const script = [
    `for f in last-run.json last-sync.json snapshots.json last-drill.json; do echo "${MARK}$f"; if [ -r ${d}/"$f" ]; then cat ${d}/"$f"; echo; fi; done`,
    `for f in ${d}/failures/*.json; do [ -r "$f" ] || continue; echo "${MARK}failure"; cat "$f"; echo; done`,
    `echo "${MARK}storage-root"; if [ -d ${root} ]; then echo exists; find ${root} -mindepth 1 -maxdepth 1 -type d 2>/dev/null; fi`,
    `echo "${MARK}timers"; systemctl show ${TIMER_UNITS.join(' ')} -p Id -p NextElapseUSecRealtime -p LastTriggerUSec --timestamp=unix 2>/dev/null || true`,
  ].join('\n')
  const result = await options.connection.exec(script)
  if (result.exitCode !== 0)
    throw new HomelabError(`reading the backup status on the host failed (exit ${result.exitCode}): ${result.stderr.trim().split('\n').at(-1) ?? ''}`)

  const sections: {name: string; body: string[]}[] = []
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith(MARK)) sections.push({body: [], name: line.slice(MARK.length).trim()})
    else sections.at(-1)?.body.push(line)
  }

  const unreadable: string[] = []
  const parse = <T>(name: string, schema: z.ZodType<T>): T | undefined => {
    const text = sections.find((s) => s.name === name)?.body.join('\n').trim()
    if (!text) return undefined
    try {
      const parsed = schema.safeParse(JSON.parse(text))
      if (parsed.success) return parsed.data
      unreadable.push(`${options.stateDir}/${name}: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`)
    } catch (error) {
      unreadable.push(`${options.stateDir}/${name}: not JSON (${(error as Error).message})`)
    }

    return undefined
  }

  let snapshots: SnapshotManifest[] | undefined
  const listText = sections.find((s) => s.name === 'snapshots.json')?.body.join('\n').trim()
  if (listText) {
    try {
      snapshots = parseSnapshotList(listText, `${options.stateDir}/snapshots.json`)
    } catch (error) {
      unreadable.push((error as Error).message)
    }
  }

  const failures: FailureMark[] = []
  for (const section of sections.filter((s) => s.name === 'failure')) {
    try {
      const parsed = failureMarkSchema.safeParse(JSON.parse(section.body.join('\n')))
      if (parsed.success) failures.push(parsed.data)
    } catch {
      unreadable.push(`${options.stateDir}/failures: a mark is not JSON`)
    }
  }

  const rootLines = (sections.find((s) => s.name === 'storage-root')?.body ?? []).map((l) => l.trim()).filter(Boolean)
  return {
    failures,
    lastDrill: parse('last-drill.json', lastDrillSchema),
    lastRun: parse('last-run.json', lastRunSchema),
    lastSync: parse('last-sync.json', lastSyncSchema),
    snapshots,
    storageFolders: rootLines.slice(1).sort(),
    storageRootExists: rootLines[0] === 'exists',
    timers: parseTimers((sections.find((s) => s.name === 'timers')?.body ?? []).join('\n')),
    unreadable,
  }
}
