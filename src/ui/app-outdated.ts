import type {ChalkInstance} from 'chalk'

import type {OutdatedReport} from '../lib/registry/outdated.js'
import {renderTable} from './table.js'

/**
 * Renders `homelab app outdated`: a table IMAGE, CURRENT, LATEST, STATUS (outdated yellow,
 * not checked red), the reason of each unchecked or unversioned image under it, and a summary
 * line. Colour only through `c`.
 */
export function renderOutdated(report: OutdatedReport, c: ChalkInstance): string {
  const status = (s: OutdatedReport['images'][number]['status']) =>
    s === 'outdated' ? c.yellow('outdated') : s === 'unchecked' ? c.red('not checked') : s === 'unversioned' ? c.dim('unversioned') : c.green('up to date')
  const rows = report.images.map((i) => [
    `${i.registry}/${i.repository}`,
    (i.tag ?? '-') + (i.digest ? '@' + i.digest.slice(0, 19) + '…' : ''),
    i.latest === null ? '-' : i.latest + (i.latestDigest ? '@' + i.latestDigest.slice(0, 19) + '…' : ''),
    status(i.status),
  ])
  const lines = [renderTable(['IMAGE', 'CURRENT', 'LATEST', 'STATUS'], rows)]
  const notes = report.images.filter((i) => i.reason && i.status === 'unchecked')
  if (notes.length > 0) lines.push('')
  for (const i of notes) lines.push(c.red(`${i.image}: ${i.reason}`))
  const updates = report.images.filter((i) => i.update)
  if (updates.length > 0) lines.push('')
  for (const i of updates) lines.push(`${i.uses[0].file}:${i.uses[0].line}: ${i.image} → ${i.update}`)
  const checked = report.images.length - report.unchecked
  lines.push(
    '',
    `${report.outdated} outdated of ${checked} checked` + (report.unchecked > 0 ? c.red(`; ${report.unchecked} could not be checked (their registry did not answer): the report is incomplete`) : ''),
  )
  return lines.join('\n')
}
