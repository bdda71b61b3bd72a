import type {Homelab} from '../config/load.js'
import {kopiaTime, latestByPath, snapshotFigures} from '../kopia/index.js'
import type {BackupHost} from './host.js'
import {type BackupSettings, loadBackupSettings} from './settings.js'
import {type HostBackupState, readHostBackupState} from './state-files.js'

/**
 * State of one backup source:
 * - `ok`: newest snapshot within schedule + grace, no failed entries, last run succeeded
 * - `stale`: newest snapshot older than schedule + grace
 * - `failed`: the last run of this source failed, or its newest snapshot has failed entries
 * - `never`: no snapshot at all
 * - `uncovered`: a folder under the storage root that is no backup source
 */
export type SourceState = 'ok' | 'stale' | 'failed' | 'never' | 'uncovered'

/** One backup source (or uncovered folder) in {@link BackupStatus}. */
export interface SourceStatus {
  /** Absolute path on the host. */
  path: string
  state: SourceState
  /** The newest complete snapshot of the source, if any. */
  lastSnapshot: {
    id: string
    /** When the snapshot finished, RFC 3339 UTC. */
    time: string
    /** Seconds between `time` and the check. */
    ageSeconds: number
    /** Bytes. */
    size: number | null
    files: number | null
    /** Failed entries. */
    errors: number
  } | null
  /** The source's result in the last run (last-run.json), if it ran. */
  lastRun: {time: string; exitCode: number | null; error: string | null} | null
  /** One line per problem; empty when `state` is ok. */
  problems: string[]
}

/** The R2 sync's state: ok, failed (last sync failed), stale (older than interval + grace), never. */
export type SyncState = 'ok' | 'failed' | 'stale' | 'never'

/**
 * Result of {@link readBackupStatus}: what `homelab backup status --json` prints and the backup
 * lines of `homelab status`. Times RFC 3339 UTC, ages in seconds, sizes in bytes.
 */
export interface BackupStatus {
  /** True when no source is stale, failed, never backed up or uncovered and the sync is ok. */
  ok: boolean
  /** When the check ran. */
  checkedAt: string
  schedule: string
  graceHours: number
  syncEveryHours: number
  /** A snapshot older than this many seconds is stale (schedule period + grace). */
  staleAfterSeconds: number
  /** Backup sources first (storage.json order), then uncovered folders. */
  sources: SourceStatus[]
  /** The last backup run (last-run.json), if any. */
  lastRun: {start: string; end: string; result: 'success' | 'partial' | 'failed'; error: string | null} | null
  sync: {
    state: SyncState
    /** The last sync (last-sync.json), if any. */
    start: string | null
    end: string | null
    result: 'success' | 'failed' | null
    ageSeconds: number | null
    error: string | null
    bucket: string
    prefix: string
  }
  /** Next and last trigger of the timers, RFC 3339 UTC or null (no systemd answer). */
  timers: {
    backup: {next: string | null; last: string | null}
    sync: {next: string | null; last: string | null}
  }
  /** Every problem, one line each (the sources' and the sync's, unreadable status files, failed units). */
  problems: string[]
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString())
const trimPath = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, '') : p)

/**
 * Judges the host's backup state against the settings at `now` (pure; see {@link readBackupStatus}).
 */
export function evaluateBackupStatus(state: HostBackupState, settings: BackupSettings, now: Date): BackupStatus {
  const nowMs = now.getTime()
  const age = (time: string) => Math.max(0, Math.round((nowMs - kopiaTime(time)) / 1000))
  const latest = latestByPath(state.snapshots ?? [])
  const runs = new Map((state.lastRun?.sources ?? []).map((s) => [trimPath(s.path), s]))
  const problems: string[] = [...state.unreadable]

  const sources: SourceStatus[] = settings.sources.map((raw) => {
    const path = trimPath(raw)
    const manifest = latest.get(path)
    const run = runs.get(path)
    const sourceProblems: string[] = []
    let lastSnapshot: SourceStatus['lastSnapshot'] = null
    if (manifest) {
      const figures = snapshotFigures(manifest)
      lastSnapshot = {
        ageSeconds: age(manifest.endTime),
        errors: figures.errors,
        files: figures.files ?? null,
        id: manifest.id,
        size: figures.size ?? null,
        time: new Date(kopiaTime(manifest.endTime)).toISOString(),
      }
    }

    let state: SourceState = 'ok'
    const runFailed = run !== undefined && (run.exitCode !== 0 || run.error !== null)
    if (!lastSnapshot) {
      state = 'never'
      sourceProblems.push(`${path}: never backed up${run?.error ? ` (${run.error})` : ''}`)
    } else if (runFailed && kopiaTime(run.runEnd) >= kopiaTime(lastSnapshot.time) - 1000) {
      state = 'failed'
      sourceProblems.push(`${path}: last run failed: ${run.error ?? `kopia exited with ${run.exitCode}`}`)
    } else if (lastSnapshot.errors > 0) {
      state = 'failed'
      sourceProblems.push(`${path}: newest snapshot has ${lastSnapshot.errors} failed entr${lastSnapshot.errors === 1 ? 'y' : 'ies'}`)
    }

    if (lastSnapshot && lastSnapshot.ageSeconds > settings.staleAfterSeconds) {
      if (state === 'ok') state = 'stale'
      sourceProblems.push(`${path}: newest snapshot is ${formatAge(lastSnapshot.ageSeconds)} old (stale after ${formatAge(settings.staleAfterSeconds)})`)
    }

    problems.push(...sourceProblems)
    return {
      lastRun: run ? {error: run.error, exitCode: run.exitCode, time: run.runEnd} : null,
      lastSnapshot,
      path,
      problems: sourceProblems,
      state,
    }
  })

  const covered = new Set(sources.map((s) => s.path))
  if (state.storageRootExists) {
    for (const folder of state.storageFolders.map(trimPath)) {
      if (covered.has(folder)) continue
      const message = `${folder}: under the storage root ${settings.storageRoot} but no backup source: add it to extraBackupSources in ${settings.storageFile} (or make it an app), or remove it`
      problems.push(message)
      sources.push({lastRun: null, lastSnapshot: null, path: folder, problems: [message], state: 'uncovered'})
    }
  }

  // Units that failed after their script last wrote its file (OnFailure= marks).
  const lastRunEnd = state.lastRun ? kopiaTime(state.lastRun.end) : 0
  const lastSyncEnd = state.lastSync ? kopiaTime(state.lastSync.end) : 0
  let syncUnitFailed: string | undefined
  for (const mark of state.failures) {
    const time = kopiaTime(mark.time)
    if (mark.unit === 'kopia-r2-sync' && time > lastSyncEnd) syncUnitFailed = mark.time
    if (mark.unit.startsWith('kopia-backup') && time > lastRunEnd)
      problems.push(`${mark.unit}.service failed at ${mark.time} without writing its status; see journalctl -u ${mark.unit}`)
  }

  if (state.lastRun?.error) problems.push(`last backup run failed: ${state.lastRun.error}`)

  const sync = state.lastSync
  let syncState: SyncState = 'ok'
  const syncAge = sync ? age(sync.end) : null
  if (syncUnitFailed) {
    syncState = 'failed'
    problems.push(`kopia-r2-sync.service failed at ${syncUnitFailed} without writing its status; see journalctl -u kopia-r2-sync`)
  } else if (!sync) {
    syncState = 'never'
    problems.push('R2 sync: never ran (no last-sync.json)')
  } else if (sync.result === 'failed') {
    syncState = 'failed'
    problems.push(`R2 sync failed at ${sync.end}: ${sync.error ?? `exit ${sync.exitCode}`}`)
  } else if (syncAge !== null && syncAge > settings.syncStaleAfterSeconds) {
    syncState = 'stale'
    problems.push(`R2 sync: last success ${formatAge(syncAge)} ago (stale after ${formatAge(settings.syncStaleAfterSeconds)})`)
  }

  const timer = (unit: string) => ({last: iso(state.timers[unit]?.last), next: iso(state.timers[unit]?.next)})
  return {
    checkedAt: now.toISOString(),
    graceHours: settings.graceHours,
    lastRun: state.lastRun ? {end: state.lastRun.end, error: state.lastRun.error, result: state.lastRun.result, start: state.lastRun.start} : null,
    ok: problems.length === 0,
    problems,
    schedule: settings.schedule,
    sources,
    staleAfterSeconds: settings.staleAfterSeconds,
    sync: {
      ageSeconds: syncAge,
      bucket: sync?.bucket ?? settings.bucket,
      end: sync?.end ?? null,
      error: sync?.error ?? null,
      prefix: sync?.prefix ?? settings.prefix,
      result: sync?.result ?? null,
      start: sync?.start ?? null,
      state: syncState,
    },
    syncEveryHours: settings.syncEveryHours,
    timers: {backup: timer('kopia-backup.timer'), sync: timer('kopia-r2-sync.timer')},
  }
}

/**
 * Reads and judges the backups of the host behind `connection`: per source the newest snapshot
 * (time, age, size, files, errors) and whether it is stale (older than the schedule's period +
 * backup.graceHours), failed or never taken; folders under the storage root that are no backup
 * source (uncovered: an error); the last R2 sync; the timers' next runs.
 * One SSH command, no sudo. Sources and schedule come from the repository (storage file, backup file).
 *
 * @param options.connection the host (a HostConnection of src/lib/ssh)
 * @param options.homelab the loaded homelab
 * @param options.now the time to judge ages against (default: now)
 * @throws ConfigError for a bad backup/storage file; the transport's errors (HostUnreachableError …)
 */
export async function readBackupStatus(options: {connection: BackupHost; homelab: Homelab; now?: Date; settings?: BackupSettings}): Promise<BackupStatus> {
  const settings = options.settings ?? (await loadBackupSettings(options.homelab))
  const state = await readHostBackupState({connection: options.connection, stateDir: settings.stateDir, storageRoot: settings.storageRoot})
  return evaluateBackupStatus(state, settings, options.now ?? new Date())
}

/** "3d 4h", "5h 12m", "42m", "17s". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m`
  return `${s}s`
}
