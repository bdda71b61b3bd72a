import {type BackupStatus, formatAge} from './status.js'

/** One backup line of `homelab status` (the STATUS report's BackupLine shape). */
export interface BackupStatusLine {
  /** The source path, or "R2 sync" for the off-site copy. */
  source: string
  /** ok, stale, failed, never, uncovered (sources); ok, stale, failed, never (R2 sync). */
  state: string
  /** RFC 3339 time of the newest snapshot (of the last sync for the R2 line), null when none. */
  lastSnapshot: string | null
  /** One short human line: age, size, files, errors, or the problem. */
  detail: string
}

/**
 * Flattens a {@link BackupStatus} into the lines `homelab status` shows: one per backup source
 * (and uncovered folder), then one for the R2 sync. Use it as the status gatherer's readBackups:
 * `async (now) => backupStatusLines(await readBackupStatus({connection, homelab, now}))`.
 */
export function backupStatusLines(status: BackupStatus): BackupStatusLine[] {
  const lines: BackupStatusLine[] = status.sources.map((s) => {
    const snap = s.lastSnapshot
    const figures = snap ? `${formatAge(snap.ageSeconds)} ago, ${snap.files ?? '?'} files, ${snap.size ?? '?'} bytes, ${snap.errors} errors` : 'no snapshot'
    return {
      detail: s.state === 'ok' ? figures : `${s.problems[0]?.replace(`${s.path}: `, '') ?? s.state}${snap && s.state !== 'stale' ? ` (${figures})` : ''}`,
      lastSnapshot: snap?.time ?? null,
      source: s.path,
      state: s.state,
    }
  })
  const sync = status.sync
  lines.push({
    detail:
      sync.state === 'never'
        ? 'never ran'
        : `${sync.result ?? '?'} ${sync.ageSeconds === null ? '' : `${formatAge(sync.ageSeconds)} ago`} to s3://${sync.bucket}/${sync.prefix}${sync.error ? `: ${sync.error}` : ''}`.replace(/\s+/g, ' '),
    lastSnapshot: sync.end,
    source: 'R2 sync',
    state: sync.state,
  })
  return lines
}
