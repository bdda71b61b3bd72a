import type {ChalkInstance} from 'chalk'

import type {DrillRunResult} from '../lib/backup/drill.js'
import type {Homelab} from '../lib/config/load.js'
import {formatAge} from '../lib/backup/status.js'
import {formatBytes} from './backup.js'
import {colors} from './color.js'
import type {HostConnectionOptions} from './host-connection.js'
import {renderTable} from './table.js'

/** Options for {@link watchDrill}. */
export interface WatchDrillOptions {
  homelab: Homelab
  /** `--host`: a host name of homelab.yaml; undefined for the first host. */
  hostName: string | undefined
  /** The command's arguments: app names or source paths; empty for every source. */
  sources: string[]
  /** How to open the host connection (ui/host-connection.ts). */
  connection: HostConnectionOptions
  /** `--json`: the journal lines go to stderr, nothing to `log`. */
  json: boolean
  /** Prints one line of human output (the command's `this.log`). */
  log(line: string): void
}

/**
 * What `homelab backup drill` does with a person watching: loads the backup settings and the
 * storage file, resolves the arguments to sources (before connecting), opens the host's SSH
 * connection (sudo password from HOMELAB_SUDO_PASSWORD or a prompt), starts the drill unit(s)
 * with lib/backup/drill.ts runDrill showing the journal live (dim `│ line`s; on stderr under
 * `--json`), prints the result table from last-drill.json and closes the connection.
 *
 * @returns the drill's result; a failed drill is a result, not an error
 * @throws UsageError for an argument that is no app or source; ConfigError for a bad backup or
 *   storage file or `--host`; HomelabError when the drill unit is not installed;
 *   HostUnreachableError (exit 2)
 */
export async function watchDrill(options: WatchDrillOptions): Promise<DrillRunResult> {
  const [{drillUnitsFor, loadBackupSettings, pickHost, resolveDrillSources, runDrill}, {loadStorageFile}, {openHostConnection}] = await Promise.all([
    import('../lib/backup/index.js'),
    import('../lib/config/load.js'),
    import('./host-connection.js'),
  ])
  const settings = await loadBackupSettings(options.homelab)
  const sources = options.sources.length === 0 ? [] : resolveDrillSources(options.sources, await loadStorageFile(options.homelab), settings)
  const units = drillUnitsFor(sources)
  const host = pickHost(options.homelab, options.hostName)
  const connection = await openHostConnection({...options.connection, homelab: options.homelab, host})
  try {
    const c = colors()
    if (!options.json) options.log(c.dim(`starting ${units.join(', ')} on ${host.name}…`))
    const result = await runDrill({connection, onLine: (_unit, line) => (options.json ? process.stderr.write(`${line}\n`) : options.log(c.dim(`│ ${line}`))), settings, units})
    if (!options.json) options.log(renderDrill(result, c))
    return result
  } finally {
    await connection.close()
  }
}

const counts = (checked: number, failed: number, word: string) => (checked === 0 ? '-' : failed === 0 ? `${checked} ${word}` : `${failed} of ${checked} failed`)

/** The end of `homelab backup drill`: the verdict, one row per source drilled, the problems. */
export function renderDrill(result: DrillRunResult, c: ChalkInstance): string {
  const verdict = result.result === 'ok' ? c.green('passed') : result.result === 'skipped' ? c.yellow('skipped: a snapshot or sync held the lock') : c.red('failed')
  const lines = [`restore drill ${verdict} (${formatAge(result.durationMs / 1000)})`]
  if (result.sources.length > 0) {
    lines.push(
      '',
      renderTable(
        ['SOURCE', 'SNAPSHOT', 'RESULT', 'RESTORED', 'SQLITE', 'POSTGRES', 'FILES', 'TOOK'],
        result.sources.map((s) => {
          const f = s.checks.files
          return [
            s.path,
            s.snapshotId ?? '-',
            s.result === 'ok' ? c.green('ok') : c.red('failed'),
            s.restore.files === null ? (s.checks.restore.ok ? '-' : c.red('failed')) : `${s.restore.files} files, ${formatBytes(s.restore.bytes)}`,
            counts(s.checks.sqlite.checked, s.checks.sqlite.failed, 'ok'),
            counts(s.checks.postgres.checked, s.checks.postgres.failed, 'ok'),
            f.compared === 0 && f.changedSince === 0 ? '-' : `${f.mismatched === 0 ? `${f.compared} match` : `${f.mismatched} of ${f.compared} differ`} (${f.changedSince} changed since)`,
            formatAge(s.durationMs / 1000),
          ]
        }),
      ),
    )
  }

  if (result.problems.length > 0) {
    lines.push('', `${c.red('✗')} ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}:`)
    for (const p of result.problems) lines.push(`  - ${p}`)
  } else if (result.result === 'ok') lines.push('', `${c.green('✓')} every snapshot restored, its dumps open and its unchanged files match the live data`)

  return lines.join('\n')
}
