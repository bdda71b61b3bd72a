import type {ChalkInstance} from 'chalk'

import type {CheckResult, Severity} from '../lib/validate/finding.js'
import type {ValidateReport} from '../lib/validate/run.js'

/**
 * Renders a validation report as text: one line per check (✓ passed, ✗ failed, – skipped) with
 * its id and title, each finding under its check as `file:line: message` (warnings as
 * `file:line: warning: message`, info findings as `file:line: note: message`), then a one-line
 * total (with the number of notes when there are any).
 */
export function renderValidateReport(report: ValidateReport, c: ChalkInstance): string {
  const width = Math.max(...report.checks.map((check) => check.id.length))
  const lines: string[] = []
  for (const check of report.checks) {
    const title = check.skipped ? `${check.title} ${c.yellow(`(skipped: ${check.skipped})`)}` : check.title
    lines.push(`${statusMark(check, c)} ${check.id.padEnd(width)}  ${title}`)
    for (const f of check.findings)
      lines.push(`    ${f.file}:${f.line}: ${severityPrefix(f.severity, c)}${f.message}`)
  }

  const count = (status: CheckResult['status']) => report.checks.filter((check) => check.status === status).length
  const parts = [`${count('passed')} passed`, `${count('failed')} failed`, ...(count('skipped') > 0 ? [`${count('skipped')} skipped`] : [])]
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const verdict = report.ok ? c.green('valid') : c.red('invalid')
  const notes = report.checks.flatMap((check) => check.findings).filter((f) => f.severity === 'info').length
  const counts = [plural(report.errors, 'error'), plural(report.warnings, 'warning'), ...(notes > 0 ? [plural(notes, 'note')] : [])]
  lines.push('', `${verdict}: ${report.checks.length} checks, ${parts.join(', ')}; ${counts.join(', ')} (${(report.durationMs / 1000).toFixed(1)}s)`)
  return lines.join('\n')
}

function severityPrefix(severity: Severity, c: ChalkInstance): string {
  if (severity === 'warning') return c.yellow('warning: ')
  if (severity === 'info') return c.cyan('note: ')
  return ''
}

function statusMark(check: CheckResult, c: ChalkInstance): string {
  if (check.status === 'failed') return c.red('✗')
  if (check.status === 'skipped') return c.yellow('–')
  return c.green('✓')
}
