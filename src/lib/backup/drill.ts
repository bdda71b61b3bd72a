import type {StorageFile} from '../config/schema.js'
import {UsageError} from '../errors.js'
import type {LastDrillSource} from './drill-state.js'
import {type BackupHost, systemdEscapePath} from './host.js'
import {startUnit} from './run-unit.js'
import type {BackupSettings} from './settings.js'
import {readHostBackupState} from './state-files.js'

/** The unit of the scheduled drill of every source (nixos/backup.nix). */
export const DRILL_UNIT = 'homelab-backup-drill.service'

/**
 * The units `homelab backup drill` starts: homelab-backup-drill.service for every source, or one
 * homelab-backup-drill@<systemd-escape --path SOURCE>.service per source given.
 */
export function drillUnitsFor(sources: string[] | undefined): string[] {
  if (sources === undefined || sources.length === 0) return [DRILL_UNIT]
  return sources.map((source) => `homelab-backup-drill@${systemdEscapePath(source)}.service`)
}

/**
 * Resolves `homelab backup drill` arguments to backup sources: an app name of the storage file
 * (its `path`), or a source path (an app path or extraBackupSources entry; a trailing `/` is
 * ignored). Duplicates are dropped, order kept.
 *
 * @throws UsageError (exit 3) naming the argument and listing the apps and sources when it is neither
 */
export function resolveDrillSources(args: string[], storage: StorageFile, settings: Pick<BackupSettings, 'sources' | 'storageFile'>): string[] {
  const out: string[] = []
  for (const arg of args) {
    const trimmed = arg.length > 1 ? arg.replace(/\/+$/, '') : arg
    const app = storage.apps.find((a) => a.name === arg)
    const source = app ? app.path.replace(/(.)\/+$/, '$1') : settings.sources.find((s) => s.replace(/(.)\/+$/, '$1') === trimmed)
    if (source === undefined)
      throw new UsageError(`${arg}: neither an app nor a backup source of ${settings.storageFile}`, {
        suggestions: [`apps: ${storage.apps.map((a) => a.name).join(', ')}`, `sources: ${settings.sources.join(', ')}`],
      })
    if (!out.includes(source)) out.push(source)
  }

  return out
}

/**
 * Result of {@link runDrill} (`homelab backup drill --json`). Times RFC 3339 UTC, durations in ms.
 * `sources` are the entries of last-drill.json this run wrote (shape: drill-state.ts
 * lastDrillSourceSchema).
 */
export interface DrillRunResult {
  /** ok: every source drilled and passed; failed: a source failed or a unit failed; skipped: a unit gave up waiting for the lock. */
  result: 'ok' | 'failed' | 'skipped'
  startedAt: string
  endedAt: string
  durationMs: number
  units: {unit: string; result: 'success' | 'failed' | 'skipped'; exitCode: number; execMainStatus: number | null}[]
  sources: LastDrillSource[]
  /** One line per problem: failed sources (their first failure), failed or skipped units. */
  problems: string[]
}

/**
 * Runs restore drills on the host: starts each unit of {@link drillUnitsFor} in turn with sudo
 * (journal streamed live to `onLine`), then reads last-drill.json and returns the entries the run
 * wrote. The drill itself (scripts/homelab-backup-drill.sh) restores each source's newest
 * snapshot into a scratch folder, checks its SQLite and PostgreSQL dumps and compares a sample of
 * files with the unchanged live data.
 *
 * @throws HomelabError when a unit is not installed (host not deployed with backup.nix) or sudo
 *   fails; the transport's errors
 */
export async function runDrill(options: {connection: BackupHost; settings: BackupSettings; units: string[]; onLine?(unit: string, line: string): void}): Promise<DrillRunResult> {
  const started = Date.now()
  const units: DrillRunResult['units'] = []
  let sinceMs: number | undefined
  for (const unit of options.units) {
    // eslint-disable-next-line no-await-in-loop
    const run = await startUnit({connection: options.connection, onLine: (line) => options.onLine?.(unit, line), unit})
    sinceMs ??= run.sinceMs
    units.push({execMainStatus: run.execMainStatus, exitCode: run.exitCode, result: run.result, unit})
  }

  const ended = Date.now()
  const state = await readHostBackupState({connection: options.connection, stateDir: options.settings.stateDir, storageRoot: options.settings.storageRoot})
  const sources = (state.lastDrill?.sources ?? []).filter((s) => Date.parse(s.start) >= (sinceMs ?? started) - 1000)
  const problems: string[] = []
  for (const s of sources) if (s.result === 'failed') problems.push(`${s.path}: ${s.error ?? 'drill failed'}`)
  for (const u of units) {
    if (u.result === 'skipped') problems.push(`${u.unit}: no drill: a snapshot or sync held the backup lock for the whole wait (see journalctl -u ${u.unit})`)
    else if (u.result === 'failed' && !sources.some((s) => s.result === 'failed'))
      problems.push(`${u.unit} failed (exit status ${u.execMainStatus ?? u.exitCode}) without a failed source in last-drill.json; see journalctl -u ${u.unit}`)
  }

  const result: DrillRunResult['result'] = sources.some((s) => s.result === 'failed') || units.some((u) => u.result === 'failed') ? 'failed' : units.some((u) => u.result === 'skipped') ? 'skipped' : 'ok'
  return {
    durationMs: ended - started,
    endedAt: new Date(ended).toISOString(),
    problems,
    result,
    sources,
    startedAt: new Date(started).toISOString(),
    units,
  }
}
