import type {ChalkInstance} from 'chalk'

import type {CheckResult} from '../lib/validate/finding.js'
import type {ValidateReport} from '../lib/validate/run.js'

/**
 * Renders a validation report as text: one line per check (✓ passed, ✗ failed, – skipped) with
 * its id and title, each finding under its check as `file:line: message` (warnings as
 * `file:line: warning: message`), then a one-line total.
 */
export function renderValidateReport(report: ValidateReport, c: ChalkInstance): string {
  const width = Math.max(...report.checks.map((check) => check.id.length))
  const lines: string[] = []
  for (const check of report.checks) {
    const title = check.skipped ? `${check.title} ${c.yellow(`(skipped: ${check.skipped})`)}` : check.title
    lines.push(`${statusMark(check, c)} ${check.id.padEnd(width)}  ${title}`)
    for (const f of check.findings)
      lines.push(`    ${f.file}:${f.line}: ${f.severity === 'warning' ? c.yellow('warning: ') : ''}${f.message}`)
  }

  const count = (status: CheckResult['status']) => report.checks.filter((check) => check.status === status).length
  const parts = [`${count('passed')} passed`, `${count('failed')} failed`, ...(count('skipped') > 0 ? [`${count('skipped')} skipped`] : [])]
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const verdict = report.ok ? c.green('valid') : c.red('invalid')
  lines.push('', `${verdict}: ${report.checks.length} checks, ${parts.join(', ')}; ${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')} (${(report.durationMs / 1000).toFixed(1)}s)`)
  return lines.join('\n')
}

function statusMark(check: CheckResult, c: ChalkInstance): string {
  if (check.status === 'failed') return c.red('✗')
  if (check.status === 'skipped') return c.yellow('–')
  return c.green('✓')
}
