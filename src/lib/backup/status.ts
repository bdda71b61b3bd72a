import type {Homelab} from '../config/load.js'
import {kopiaTime, latestByPath, snapshotFigures} from '../kopia/index.js'
import type {BackupHost} from './host.js'
import {offsiteTarget, type OffsiteTarget} from './offsite-target.js'
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

/**
 * State of a source's restore drill (last-drill.json):
 * - `ok`: the last drill passed and is younger than the drill period + grace
 * - `failed`: the last drill failed (a problem: `backup status` exits 1)
 * - `stale`: the last drill passed but is older than drill period + grace (a warning only)
 * - `never`: no drill of this source yet (a warning only)
 */
export type DrillState = 'ok' | 'failed' | 'stale' | 'never'

/** A source's last restore drill in {@link SourceStatus}. Times RFC 3339 UTC. */
export interface SourceDrill {
  state: DrillState
  /** When the drill of this source ended; null when never. */
  time: string | null
  /** Seconds since `time`. */
  ageSeconds: number | null
  result: 'ok' | 'failed' | null
  /** Milliseconds the drill of this source took. */
  durationMs: number | null
  /** The snapshot it restored. */
  snapshotId: string | null
  /** The first failure, when failed. */
  error: string | null
}

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
  /** The source's last restore drill; null for an uncovered folder. */
  drill: SourceDrill | null
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
  /** True when no source is stale, failed, never backed up or uncovered, no restore drill failed and the sync is ok. */
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
  /**
   * The restore drills overall: `failed` when any source's last drill failed, `never` when no
   * source was ever drilled, `stale` when any source's drill is stale or missing, else `ok`.
   */
  drill: {
    state: DrillState
    schedule: string
    /** A drill older than this many seconds is stale (drill period + grace). */
    staleAfterSeconds: number
    /** The last drill run (last-drill.json), if any. */
    start: string | null
    end: string | null
    result: 'ok' | 'failed' | null
  }
  /** Next and last trigger of the timers, RFC 3339 UTC or null (no systemd answer). */
  timers: {
    backup: {next: string | null; last: string | null}
    sync: {next: string | null; last: string | null}
    drill: {next: string | null; last: string | null}
  }
  /** Every problem, one line each (the sources' and the sync's, failed drills, unreadable status files, failed units). */
  problems: string[]
  /** Things to look at that do not fail the status: stale or missing restore drills. */
  warnings: string[]
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString())
const trimPath = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, '') : p)

/**
 * Judges the host's backup state against the settings at `now` (pure; see {@link readBackupStatus}).
 * With `target` (the host's off-site prefix, src/lib/backup/offsite-target.ts), a last sync that
 * went to another prefix is a failed sync: the host runs a configuration from before its own
 * prefix, and shares a prefix with another host's repository (deploy it).
 */
export function evaluateBackupStatus(state: HostBackupState, settings: BackupSettings, now: Date, target?: Pick<OffsiteTarget, 'host' | 'prefix'>): BackupStatus {
  const nowMs = now.getTime()
  const age = (time: string) => Math.max(0, Math.round((nowMs - kopiaTime(time)) / 1000))
  const latest = latestByPath(state.snapshots ?? [])
  const runs = new Map((state.lastRun?.sources ?? []).map((s) => [trimPath(s.path), s]))
  const drills = new Map((state.lastDrill?.sources ?? []).map((s) => [trimPath(s.path), s]))
  const problems: string[] = [...state.unreadable]
  const warnings: string[] = []

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
    const drilled = drills.get(path)
    let drill: SourceDrill = {ageSeconds: null, durationMs: null, error: null, result: null, snapshotId: null, state: 'never', time: null}
    if (drilled) {
      const ageSeconds = age(drilled.end)
      drill = {
        ageSeconds,
        durationMs: drilled.durationMs,
        error: drilled.error,
        result: drilled.result,
        snapshotId: drilled.snapshotId,
        state: drilled.result === 'failed' ? 'failed' : ageSeconds > settings.drillStaleAfterSeconds ? 'stale' : 'ok',
        time: drilled.end,
      }
    }

    if (drill.state === 'failed') problems.push(`${path}: restore drill failed at ${drill.time}: ${drill.error ?? 'see journalctl -u homelab-backup-drill'}`)
    else if (drill.state === 'stale')
      warnings.push(`${path}: last restore drill ${formatAge(drill.ageSeconds ?? 0)} ago (stale after ${formatAge(settings.drillStaleAfterSeconds)}); run \`homelab backup drill\``)
    else if (drill.state === 'never') warnings.push(`${path}: never restore-drilled; run \`homelab backup drill\``)

    return {
      drill,
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
      sources.push({drill: null, lastRun: null, lastSnapshot: null, path: folder, problems: [message], state: 'uncovered'})
    }
  }

  // Units that failed after their script last wrote its file (OnFailure= marks).
  const lastRunEnd = state.lastRun ? kopiaTime(state.lastRun.end) : 0
  const lastSyncEnd = state.lastSync ? kopiaTime(state.lastSync.end) : 0
  const lastDrillEnd = state.lastDrill ? kopiaTime(state.lastDrill.end) : 0
  let syncUnitFailed: string | undefined
  let drillUnitFailed = false
  for (const mark of state.failures) {
    const time = kopiaTime(mark.time)
    // A drill that fails a source writes last-drill.json and then fails its unit: marks within a
    // minute of the file are that same run.
    if (mark.unit.startsWith('homelab-backup-drill') && time > lastDrillEnd + 60_000) {
      drillUnitFailed = true
      problems.push(`${mark.unit}.service failed at ${mark.time} without writing its status; see journalctl -u ${mark.unit}`)
    }

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

  if (target && sync && syncState !== 'failed' && sync.prefix !== target.prefix) {
    syncState = 'failed'
    problems.push(
      `R2 sync went to s3://${sync.bucket}/${sync.prefix} but ${target.host}'s own prefix is s3://${settings.bucket}/${target.prefix} (another host's repository may share that prefix): deploy it with \`homelab deploy --host ${target.host}\`, then \`homelab backup sync --host ${target.host}\``,
    )
  }

  const timer = (unit: string) => ({last: iso(state.timers[unit]?.last), next: iso(state.timers[unit]?.next)})
  const drillStates = sources.flatMap((s) => (s.drill ? [s.drill.state] : []))
  const drillState: DrillState =
    drillUnitFailed || drillStates.includes('failed')
      ? 'failed'
      : drillStates.every((d) => d === 'never')
        ? 'never'
        : drillStates.some((d) => d !== 'ok')
          ? 'stale'
          : 'ok'
  return {
    checkedAt: now.toISOString(),
    drill: {
      end: state.lastDrill?.end ?? null,
      result: state.lastDrill?.result ?? null,
      schedule: settings.drillSchedule,
      staleAfterSeconds: settings.drillStaleAfterSeconds,
      start: state.lastDrill?.start ?? null,
      state: drillState,
    },
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
      prefix: sync?.prefix ?? target?.prefix ?? settings.prefix,
      result: sync?.result ?? null,
      start: sync?.start ?? null,
      state: syncState,
    },
    syncEveryHours: settings.syncEveryHours,
    timers: {backup: timer('kopia-backup.timer'), drill: timer('homelab-backup-drill.timer'), sync: timer('kopia-r2-sync.timer')},
    warnings,
  }
}

/**
 * Reads and judges the backups of the host behind `connection`: per source the newest snapshot
 * (time, age, size, files, errors) and whether it is stale (older than the schedule's period +
 * backup.graceHours), failed or never taken; folders under the storage root that are no backup
 * source (uncovered: an error); the last R2 sync; per source the last restore drill (failed: an
 * error; stale or never: a warning, see {@link DrillState}); the timers' next runs.
 * One SSH command, no sudo. Sources and schedule come from the repository (storage file, backup file).
 *
 * @param options.connection the host (a HostConnection of src/lib/ssh)
 * @param options.homelab the loaded homelab
 * @param options.host the homelab.yaml host behind `connection`: its last sync must have gone to
 *   its own off-site prefix (src/lib/backup/offsite-target.ts); without it, not checked
 * @param options.now the time to judge ages against (default: now)
 * @throws ConfigError for a bad backup/storage file; the transport's errors (HostUnreachableError …)
 */
export async function readBackupStatus(options: {connection: BackupHost; homelab: Homelab; host?: string; now?: Date; settings?: BackupSettings}): Promise<BackupStatus> {
  const settings = options.settings ?? (await loadBackupSettings(options.homelab))
  const state = await readHostBackupState({connection: options.connection, stateDir: settings.stateDir, storageRoot: settings.storageRoot})
  const target = options.host === undefined ? undefined : offsiteTarget(settings, options.homelab, options.host)
  return evaluateBackupStatus(state, settings, options.now ?? new Date(), target)
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
