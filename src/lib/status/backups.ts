import type {BackupStatus} from '../backup/status.js'
import type {BackupLine} from './types.js'

const sizeText = (bytes: number | null) => (bytes === null ? '' : bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`)

/**
 * The backup lines of `homelab status` from the backup status reader's result
 * (src/lib/backup `readBackupStatus`): one per source (and uncovered folder), in its order, then
 * one for the off-site R2 sync (source `R2 sync`). `detail` is the first problem, or the newest
 * snapshot's size and file count when the source is ok.
 */
export function backupLines(status: BackupStatus): BackupLine[] {
  const lines: BackupLine[] = status.sources.map((s) => ({
    detail: s.problems[0] ?? (s.lastSnapshot ? [sizeText(s.lastSnapshot.size), s.lastSnapshot.files === null ? '' : `${s.lastSnapshot.files} files`].filter(Boolean).join(', ') : ''),
    lastSnapshot: s.lastSnapshot?.time ?? null,
    source: s.path,
    state: s.state,
  }))
  const sync = status.sync
  lines.push({
    detail: sync.state === 'ok' ? `${sync.bucket}/${sync.prefix}` : (sync.error ?? status.problems.find((p) => p.includes('R2 sync') || p.includes('kopia-r2-sync')) ?? sync.state),
    lastSnapshot: sync.end,
    source: 'R2 sync',
    state: sync.state,
  })
  return lines
}
