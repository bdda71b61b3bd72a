import {kopiaTime, parseSnapshotList, type SnapshotManifest, snapshotFigures} from '../../kopia/index.js'
import {HomelabError, UsageError} from '../../errors.js'
import {type BackupHost, shellQuote} from '../host.js'

/** One snapshot of a source as `homelab backup restore --list` shows it. Times RFC 3339 UTC, sizes in bytes. */
export interface SnapshotSummary {
  /** Kopia's manifest ID (what `--snapshot` takes, or a unique prefix of it). */
  id: string
  /** When the snapshot started: the moment its data is from. */
  time: string
  endTime: string
  size: number | null
  files: number | null
  /** Object ID of the root directory (what `kopia snapshot restore` takes). */
  rootObject: string
}

/** Summary of a complete manifest with a root entry; undefined for others (incomplete checkpoints). */
function summarize(manifest: SnapshotManifest): SnapshotSummary | undefined {
  if (manifest.incomplete || !manifest.rootEntry) return undefined
  const figures = snapshotFigures(manifest)
  return {
    endTime: manifest.endTime,
    files: figures.files ?? null,
    id: manifest.id,
    rootObject: manifest.rootEntry.obj,
    size: figures.size ?? null,
    time: manifest.startTime,
  }
}

/**
 * The complete snapshots of one source, newest first: `homelab-kopia snapshot list PATH --json`
 * as root on the host (the wrapper nixos/backup.nix installs; the repository password stays in its
 * environment file).
 *
 * @throws HomelabError when the list cannot be read (sudo, homelab-kopia missing); KopiaOutputError when kopia prints something else
 */
export async function listSourceSnapshots(connection: BackupHost, source: string): Promise<SnapshotSummary[]> {
  const r = await connection.sudo(`homelab-kopia snapshot list ${shellQuote(source)} --json`)
  if (r.exitCode !== 0)
    throw new HomelabError(`homelab-kopia snapshot list ${source} failed on the host (exit ${r.exitCode}): ${r.stderr.trim().split('\n').at(-1) ?? ''}`, {
      suggestions: ['homelab-kopia comes with nixos/backup.nix: deploy the host first'],
    })
  return parseSnapshotList(r.stdout)
    .filter((m) => m.source.path === source)
    .map((m) => summarize(m))
    .filter((s): s is SnapshotSummary => s !== undefined)
    .sort((a, b) => kopiaTime(b.time) - kopiaTime(a.time))
}

/**
 * `--at TIME` as milliseconds since the epoch: RFC 3339 (`2026-01-24T02:30:00Z`, a space for the
 * `T` and no seconds allowed, an offset instead of `Z`), or a date `2026-01-24`, meaning the end of
 * that day in UTC (the newest snapshot taken on or before that day).
 * @throws UsageError for anything else
 */
export function parseAtTime(text: string): number {
  const date = /^(\d{4})-(\d\d)-(\d\d)$/.exec(text)
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), 23, 59, 59, 999)
    if (!Number.isNaN(ms) && new Date(ms).getUTCDate() === Number(date[3])) return ms
  } else if (/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(text)) {
    const ms = Date.parse(text.replace(' ', 'T'))
    if (!Number.isNaN(ms)) return ms
  }

  throw new UsageError(`--at ${text}: not a time; give RFC 3339 (2026-01-24T02:30:00Z) or a date (2026-01-24, the end of that day in UTC)`)
}

/**
 * Picks the snapshot to restore from `snapshots` (newest first): `id` (the full ID or a prefix
 * matching exactly one), else the newest at or before `at` (by start time), else the newest.
 *
 * @param source the source path, for messages
 * @throws UsageError (exit 3) when there is no snapshot, no match, or an ambiguous prefix
 */
export function pickSnapshot(snapshots: SnapshotSummary[], source: string, options: {id?: string; at?: number} = {}): SnapshotSummary {
  if (snapshots.length === 0)
    throw new UsageError(`${source} has no snapshot to restore`, {suggestions: [`take one with \`homelab backup run --source ${source}\``]})
  if (options.id !== undefined) {
    const exact = snapshots.find((s) => s.id === options.id)
    if (exact) return exact
    const matches = snapshots.filter((s) => s.id.startsWith(options.id!))
    if (matches.length === 1) return matches[0]
    if (matches.length === 0)
      throw new UsageError(`--snapshot ${options.id}: no snapshot of ${source} has that ID`, {suggestions: [`list them with \`homelab backup restore ${source} --list\``]})
    throw new UsageError(`--snapshot ${options.id}: ${matches.length} snapshots of ${source} start with it (${matches.map((s) => s.id).join(', ')}); give more of the ID`)
  }

  if (options.at !== undefined) {
    const found = snapshots.find((s) => kopiaTime(s.time) <= options.at!)
    if (!found)
      throw new UsageError(`--at ${new Date(options.at).toISOString()}: ${source} has no snapshot at or before it (the oldest is from ${snapshots.at(-1)!.time})`)
    return found
  }

  return snapshots[0]
}
