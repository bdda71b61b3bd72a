import {shellJoin} from '../ssh/shell.js'
import {assertRemoteName, type PRIORITIES} from './names.js'

/** Options of {@link journalctlCommand}: the flags of `homelab host logs`. */
export interface JournalOptions {
  /** A systemd unit (checked against the unit pattern); all units when absent. */
  unit?: string
  /** journalctl's --since, relative (`-1h`, from parseSince). */
  since?: string
  follow: boolean
  priority?: (typeof PRIORITIES)[number]
  /** Lines (journalctl -n); undefined = all (with --since) or journalctl's own choice. */
  lines?: number
}

/**
 * `journalctl --no-pager -o short-iso [-u UNIT] [--since -1h] [-p err] [-n N] [-f]`, every word
 * quoted. The unit is validated first (systemd unit name pattern).
 * @throws UsageError (exit 3) for a unit name with other characters
 */
export function journalctlCommand(options: JournalOptions): string {
  const args = ['journalctl', '--no-pager', '-o', 'short-iso']
  if (options.unit !== undefined) args.push('-u', assertRemoteName('unit', options.unit, 'UNIT'))
  if (options.since) args.push(`--since=${options.since}`)
  if (options.priority) args.push('-p', options.priority)
  if (options.lines !== undefined) args.push('-n', String(options.lines))
  if (options.follow) args.push('-f')
  return shellJoin(args)
}

/** The command `homelab host units --failed` runs: systemctl(1) list-units of failed units, one per line, no legend. */
export const FAILED_UNITS_COMMAND = 'systemctl list-units --failed --all --plain --no-legend --no-pager'

/** One failed unit, as `systemctl list-units --failed --plain --no-legend` prints it. */
export interface FailedUnit {
  unit: string
  /** LOAD column: loaded, not-found, masked, error. */
  load: string
  /** ACTIVE column (failed). */
  active: string
  /** SUB column (failed, auto-restart …). */
  sub: string
  description: string
}

/**
 * Parses `systemctl list-units --plain --no-legend` output: `UNIT LOAD ACTIVE SUB DESCRIPTION…`
 * per line (a leading `●` of the non-plain layout is dropped). Empty output: no failed unit.
 */
export function parseUnitList(stdout: string): FailedUnit[] {
  const out: FailedUnit[] = []
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/^\s*●\s*/, '').trim()
    if (line === '') continue
    const [unit, load = '', active = '', sub = '', ...description] = line.split(/\s+/)
    out.push({active, description: description.join(' '), load, sub, unit})
  }

  return out
}

/**
 * The remote command of `homelab host exec -- WORD…`: the words quoted one by one for the
 * remote POSIX shell, so the host runs exactly these words (never re-split or expanded).
 */
export function execCommand(words: readonly string[]): string {
  return shellJoin([...words])
}
