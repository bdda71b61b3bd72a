import type {ChalkInstance} from 'chalk'

import type {DiffReport, ObjectAction, ObjectChange} from '../lib/diff/index.js'

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
