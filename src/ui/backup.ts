import type {ChalkInstance} from 'chalk'

import type {HostsBackupStatus} from '../lib/backup/hosts-status.js'
import type {BackupStatus, SourceDrill, SourceState} from '../lib/backup/status.js'
import type {OffsiteStatus} from '../lib/backup/offsite.js'
import type {UnitRunResult} from '../lib/backup/run-unit.js'
import type {VerifyReport} from '../lib/backup/verify.js'
import {formatAge} from '../lib/backup/status.js'
import {renderTable} from './table.js'

/** 1536 → "1.5 KiB" (binary units); null → "-". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }

  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`
}

const when = (iso: string | null, now: number) => (iso ? `${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (${formatAge((now - Date.parse(iso)) / 1000)} ago)` : 'never')
const next = (iso: string | null, now: number) => (iso ? `${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (in ${formatAge((Date.parse(iso) - now) / 1000)})` : 'unknown')

function stateCell(state: SourceState | string, c: ChalkInstance): string {
  if (state === 'ok') return c.green('ok')
  if (state === 'stale') return c.yellow('stale')
  return c.red(state)
}

/** The DRILL cell: "ok 2d 3h ago (1m)", "failed 3h 2m ago", "stale 9d 1h ago", "never". */
function drillCell(drill: SourceDrill | null, c: ChalkInstance): string {
  if (!drill) return '-'
  if (drill.state === 'never') return c.yellow('never')
  const ago = `${formatAge(drill.ageSeconds ?? 0)} ago`
  const took = drill.durationMs === null ? '' : ` (${formatAge(drill.durationMs / 1000)})`
  return `${stateCell(drill.state, c)} ${ago}${took}`
}

/** `homelab backup status` as text: a table of sources (problems first), the R2 sync, the drills, the timers, the problems and warnings. */
export function renderBackupStatus(status: BackupStatus, c: ChalkInstance): string {
  const now = Date.parse(status.checkedAt)
  const order: Record<string, number> = {failed: 0, never: 1, uncovered: 2, stale: 3, ok: 4}
  const sources = [...status.sources].sort((a, b) => order[a.state] - order[b.state])
  const rows = sources.map((s) => [
    s.path,
    stateCell(s.state, c),
    s.lastSnapshot ? s.lastSnapshot.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-',
    s.lastSnapshot ? formatAge(s.lastSnapshot.ageSeconds) : '-',
    formatBytes(s.lastSnapshot?.size),
    s.lastSnapshot?.files === null || s.lastSnapshot?.files === undefined ? '-' : String(s.lastSnapshot.files),
    s.lastSnapshot ? String(s.lastSnapshot.errors) : '-',
    drillCell(s.drill, c),
  ])
  const lines = [renderTable(['SOURCE', 'STATE', 'LAST SNAPSHOT', 'AGE', 'SIZE', 'FILES', 'ERRORS', 'DRILL'], rows), '']
  const sync = status.sync
  const syncText =
    sync.state === 'never'
      ? c.red('never ran')
      : sync.state === 'failed'
        ? `${c.red('failed')} ${when(sync.end, now)}${sync.error ? `: ${sync.error}` : ''}`
        : `${stateCell(sync.state, c)}, last success ${when(sync.end, now)}`
  lines.push(`R2 sync     ${syncText} → s3://${sync.bucket}/${sync.prefix}`)
  lines.push(`Schedule    snapshots ${status.schedule} (stale after ${formatAge(status.staleAfterSeconds)}), sync every ${status.syncEveryHours}h`)
  const drill = status.drill
  lines.push(
    `Drills      ${stateCell(drill.state, c)}, last ${when(drill.end, now)}, ${drill.schedule} (stale after ${formatAge(drill.staleAfterSeconds)}); next ${next(status.timers.drill.next, now)}`,
  )
  lines.push(`Next runs   kopia-backup ${next(status.timers.backup.next, now)}; kopia-r2-sync ${next(status.timers.sync.next, now)}`)
  lines.push('')
  if (status.ok) lines.push(`${c.green('✓')} every source is backed up and synced off-site`)
  else {
    lines.push(`${c.red('✗')} ${status.problems.length} problem${status.problems.length === 1 ? '' : 's'}:`)
    for (const p of status.problems) lines.push(`  - ${p}`)
  }

  if (status.warnings.length > 0) {
    lines.push(`${c.yellow('!')} ${status.warnings.length} warning${status.warnings.length === 1 ? '' : 's'} (exit code unaffected):`)
    for (const w of status.warnings) lines.push(`  - ${w}`)
  }

  return lines.join('\n')
}

/**
 * `homelab backup status` as text, grouped by host: per selected host a heading
 * (`NAME (SSH)`) and its {@link renderBackupStatus}, or the reason it could not be read.
 */
export function renderHostsBackupStatus(status: HostsBackupStatus, c: ChalkInstance): string {
  return status.hosts
    .map((h) => {
      const heading = c.bold(`${h.name} (${h.ssh})`)
      return h.status ? `${heading}\n${renderBackupStatus(h.status, c)}` : `${heading}\n${c.red('✗')} unreachable: ${h.error}`
    })
    .join('\n\n')
}

/** `homelab backup offsite` as text. */
export function renderOffsite(status: OffsiteStatus & {credentialsFile: string}, c: ChalkInstance): string {
  const b = status.blobs
  const lines = [
    `Bucket      s3://${status.bucket}/${status.prefix} at ${status.endpoint} (credentials from ${status.credentialsFile})`,
    `Reachable   ${status.reachable ? c.green('yes') : c.red('no')}`,
    `Blobs       ${b.total} (${formatBytes(b.totalBytes)}): kopia.repository ${b.repository ? 'present' : c.red('missing')}, ${b.packs} p packs, ${b.metadataPacks} q packs`,
    `Newest      ${status.newestBlob ? `${status.newestBlob.key} written ${status.newestBlob.lastModified} (${formatAge(status.newestBlob.ageSeconds)} ago; limit ${formatAge(status.maxAgeSeconds)})` : '-'}`,
  ]
  if (status.protection) lines.push(`Protection  ${protectionLine(status.protection, c)}`)
  const t = status.restoreTest
  if (t) {
    lines.push(
      `Read back   kopia.repository ${t.formatBlob.ok ? c.green('ok') : c.red('failed')}${t.formatBlob.uniqueID ? ` (repository ${t.formatBlob.uniqueID.slice(0, 16)}…)` : ''}; ${t.sampled} of ${t.recorded} recorded p/q blobs read in full (${formatBytes(t.bytesRead)}): ${t.matched} match${t.mismatches.length > 0 ? `, ${c.red(`${t.mismatches.length} differ`)}` : ''}${t.missing.length > 0 ? `, ${c.red(`${t.missing.length} recorded blobs missing`)}` : ''}${t.unrecorded > 0 ? `; ${t.unrecorded} without a record` : ''}`,
    )
    for (const m of t.mismatches)
      lines.push(`            ${m.key}: ${m.actual.length} bytes sha256 ${m.actual.sha256.slice(0, 16)}…, recorded ${m.expected.length} bytes ${m.expected.sha256.slice(0, 16)}…`)
  }

  lines.push('')
  if (status.ok) lines.push(`${c.green('✓')} the off-site copy is there, fresh${status.protection ? ' and protected' : ''}${t ? '; the blobs read back match' : ''}`)
  else {
    lines.push(`${c.red('✗')} ${status.problems.length} problem${status.problems.length === 1 ? '' : 's'}:`)
    for (const p of status.problems) lines.push(`  - ${p}`)
  }

  return lines.join('\n')
}

/** "deletions reach R2 after 30 days; 3 blobs pending deletion, oldest since …" */
function protectionLine(p: NonNullable<OffsiteStatus['protection']>, c: ChalkInstance): string {
  const window = p.deleteAfterDays === 0 ? c.red('none: deletions reach R2 at the next sync (offsiteDeleteAfterDays 0)') : `deletions reach R2 after ${p.deleteAfterDays} days`
  if (!p.marker) return `${window}; ${c.red('no marker in the bucket')}`
  const pending = p.marker.pending === 0 ? 'no blobs pending deletion' : `${p.marker.pending} blob${p.marker.pending === 1 ? '' : 's'} pending deletion, oldest since ${p.marker.oldestPendingSince}`
  const marker = p.marker.deleteAfterDays === p.deleteAfterDays ? '' : `; ${c.red(`the marker says ${p.marker.deleteAfterDays} days`)}`
  // A host other than the k3s server has its own marker (src/lib/backup/offsite-target.ts): named.
  const name = p.marker.key.endsWith('/homelab/offsite-protection.json') ? 'marker' : `marker ${p.marker.key.replace(/^s3:\/\/[^/]+\//, '')}`
  return `${window}; ${pending}; ${name} written ${p.marker.updatedAt} (${formatAge(Math.max(0, p.marker.ageSeconds))} ago)${marker}`
}

/** The end of `homelab backup run|sync`: the unit's result and the new snapshots or the sync result. */
export function renderUnitRun(result: UnitRunResult, c: ChalkInstance): string {
  const lines: string[] = []
  const verdict = result.result === 'success' ? c.green('succeeded') : result.result === 'skipped' ? c.yellow('skipped: another run holds the lock') : c.red('failed')
  lines.push(`${result.unit} ${verdict} (${formatAge(result.durationMs / 1000)})`)
  if (result.snapshots.length > 0) {
    lines.push('')
    lines.push(
      renderTable(
        ['SOURCE', 'SNAPSHOT', 'SIZE', 'FILES', 'ERRORS', 'RESULT'],
        result.snapshots.map((s) => [
          s.path,
          s.snapshotId ?? '-',
          formatBytes(s.size),
          s.files === null ? '-' : String(s.files),
          s.errors === null ? '-' : String(s.errors),
          s.error ? c.red(s.error) : c.green('ok'),
        ]),
      ),
    )
  }

  if (result.sync) {
    const s = result.sync
    lines.push(`R2 sync ${s.result === 'success' ? c.green('success') : c.red('failed')} to s3://${s.bucket}/${s.prefix} at ${s.endpoint}${s.error ? `: ${s.error}` : ''}`)
  }

  return lines.join('\n')
}

/** `homelab backup verify` as text: one row per source. */
export function renderVerify(report: VerifyReport, c: ChalkInstance): string {
  const rows = report.sources.map((s) => [
    s.path,
    s.ok ? c.green('ok') : c.red('failed'),
    s.verify ? `${s.verify.errorCount} errors, ${s.verify.readFiles ?? '?'} of ${s.verify.expectedFiles ?? '?'} files read` : '-',
    s.restore.state === 'match'
      ? `${s.restore.file} (${formatBytes(s.restore.bytes)}) sha256 ${s.restore.sha256?.slice(0, 12)}… matches`
      : s.restore.state === 'skipped'
        ? c.yellow(`skipped: ${s.restore.detail}`)
        : c.red(`${s.restore.state}: ${s.restore.detail}`),
  ])
  const lines = [renderTable(['SOURCE', 'RESULT', 'KOPIA VERIFY', `TEST RESTORE`], rows), '']
  lines.push(report.ok ? `${c.green('✓')} every source verified (${report.percent}% of file contents read)` : `${c.red('✗')} ${report.problems.length} problem(s):`)
  for (const p of report.problems) lines.push(`  - ${p}`)
  return lines.join('\n')
}
