import type {ChalkInstance} from 'chalk'

import type {HostDiff} from '../lib/diff/host.js'
import type {DiffReport, ObjectAction, ObjectChange} from '../lib/diff/index.js'
import type {FullDiffReport} from '../lib/diff/report.js'

const SIGN: Record<ObjectAction, string> = {added: '+', changed: '~', moved: '>', orphaned: '-', pruned: '-'}

/**
 * Renders the cluster diff as text: a header naming both sides; then per Flux Kustomization
 * (`Kustomization NAMESPACE/NAME`, with `(added)`/`(removed)`), its objects — deletions first and
 * red (`- Kind/namespace/name  pruned`), then added (green) and changed (yellow) with the unified
 * YAML diff indented under it, Secrets as key names and "value changed" only; the errors (one
 * line each, red) and warnings; then a one-line summary. Colour only through `c` (NO_COLOR is
 * handled by the caller's colors()).
 */
export function renderDiffReport(report: DiffReport, c: ChalkInstance): string {
  const lines: string[] = [c.bold(`cluster ${report.cluster}: ${report.from.label} → ${report.to.label}`)]
  for (const k of report.kustomizations) {
    const objects = report.objects.filter((o) => o.kustomization === k.id)
    if (objects.length === 0 && k.status === 'unchanged' && !k.skipped) continue
    const status =
      k.status === 'added' ? c.green(' (added)') : k.orphaned ? c.yellow(' (removed from the tree, orphaned: left in the cluster, still applying its last objects)') : k.status === 'removed' ? c.red(' (removed)') : ''
    lines.push('', `Kustomization ${k.id}${status}${k.skipped ? c.yellow(` (${k.skipped})`) : ''}`)
    for (const o of objects) lines.push(...renderObject(o, c))
  }

  if (report.errors.length > 0) {
    lines.push('')
    for (const e of report.errors) lines.push(c.red(`error: Kustomization ${e.kustomization}: ${e.message}`))
  }

  for (const w of report.warnings) lines.push(`${c.yellow('warning:')} ${w}`)
  lines.push('', summaryLine(report, c))
  return lines.join('\n')
}

function renderObject(o: ObjectChange, c: ChalkInstance): string[] {
  const deletion = o.action === 'pruned' || o.action === 'orphaned' || o.action === 'moved'
  const tint = deletion ? c.red : o.action === 'added' ? c.green : c.yellow
  const what = o.action === 'moved' ? `moved to Kustomization ${o.movedTo}` : o.action === 'orphaned' ? 'orphaned (left in the cluster)' : o.action
  const out = [tint(`  ${SIGN[o.action]} ${o.object}  ${what}`)]
  for (const key of o.secretKeys ?? []) out.push(`      ${key.key}: ${key.change}`)
  if (o.action === 'changed' && o.diff) {
    for (const line of o.diff.split('\n')) {
      if (line.startsWith('+++') || line.startsWith('---')) out.push(c.bold(`      ${line}`))
      else if (line.startsWith('+')) out.push(c.green(`      ${line}`))
      else if (line.startsWith('-')) out.push(c.red(`      ${line}`))
      else if (line.startsWith('@@')) out.push(c.cyan(`      ${line}`))
      else out.push(`      ${line}`)
    }
  }

  return out
}

function summaryLine(report: DiffReport, c: ChalkInstance): string {
  const count = (action: ObjectAction) => report.objects.filter((o) => o.action === action).length
  const parts = (['added', 'changed', 'pruned', 'orphaned', 'moved'] as const).filter((a) => a === 'added' || a === 'changed' || a === 'pruned' || count(a) > 0).map((a) => `${count(a)} ${a}`)
  const errors = `${report.errors.length} error${report.errors.length === 1 ? '' : 's'}`
  const verdict = !report.changed ? 'no changes' : parts.join(', ')
  return `${report.ok ? c.green('ok') : c.red('refused')}: ${verdict}; ${errors}`
}

/** `--name-only`: one line per object, `KUSTOMIZATION<TAB>Kind/namespace/name`, in report order. */
export function renderNameOnly(report: DiffReport): string {
  return report.objects.map((o) => `${o.kustomization}\t${o.object}`).join('\n')
}

/** Bytes as `+1.2 MiB` / `-300.0 KiB` / `+0 B`, with the sign (binary units). */
export function formatSizeDelta(bytes: number): string {
  const sign = bytes < 0 ? '-' : '+'
  const abs = Math.abs(bytes)
  if (abs < 1024) return `${sign}${abs} B`
  if (abs < 1024 * 1024) return `${sign}${(abs / 1024).toFixed(1)} KiB`
  return `${sign}${(abs / 1024 / 1024).toFixed(1)} MiB`
}

/**
 * One host's section: `host NAME: <current> → <commit>`, then the package version changes
 * (`name: 1.0 → 1.1, +12.3 KiB`, ∅ for absent), the closure size delta, and the units the
 * activation adds (green +), removes (red -) and restarts or reloads (yellow ~). A skipped or
 * failed host part is one line saying why.
 */
export function renderHostDiff(h: HostDiff, c: ChalkInstance): string {
  const head = c.bold(`host ${h.host}${h.commit ? `: running system → ${h.commit.slice(0, 7)}` : ''}`)
  if (h.status === 'skipped') return `${head}\n  ${c.yellow('skipped:')} ${h.message}`
  if (h.status === 'failed') return `${head}\n  ${c.red('error:')} ${h.message}`
  const lines = [head]
  if (h.status === 'unchanged' && h.packages.length === 0) lines.push('  no change: the host already runs this system')
  for (const p of h.packages) {
    const v = (vs: string[]) => (vs.length === 0 ? '∅' : vs.join(', '))
    const size = p.sizeKiB === undefined ? '' : `, ${p.sizeKiB > 0 ? '+' : ''}${p.sizeKiB.toFixed(1)} KiB`
    if (p.from.length === 0 && p.to.length === 0) {
      lines.push(c.yellow(`  ${p.name}:${size.slice(1)}`)) // same versions, other size
      continue
    }

    const tint = p.from.length === 0 ? c.green : p.to.length === 0 ? c.red : c.yellow
    lines.push(tint(`  ${p.name}: ${v(p.from)} → ${v(p.to)}${size}`))
  }

  lines.push(`  closure size ${formatSizeDelta(h.sizeDeltaBytes)}`)
  for (const u of h.units.removed) lines.push(c.red(`  - ${u}  removed (stopped)`))
  for (const u of h.units.added) lines.push(c.green(`  + ${u}  added (started)`))
  for (const u of h.units.changed) lines.push(c.yellow(`  ~ ${u}  changed (restarted or reloaded)`))
  return lines.join('\n')
}

/** The whole `homelab diff` report: the cluster side ({@link renderDiffReport}), then one section per host. */
export function renderFullReport(report: FullDiffReport, c: ChalkInstance): string {
  return [renderDiffReport({...report, changed: report.clusterChanged}, c), ...report.hosts.map((h) => `\n${renderHostDiff(h, c)}`)].join('\n')
}
