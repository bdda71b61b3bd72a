/** The timers of the backup units (nixos/backup.nix). */
export const TIMER_UNITS = ['kopia-backup.timer', 'kopia-r2-sync.timer', 'homelab-backup-drill.timer'] as const

/** When a timer fires next and fired last, as epoch milliseconds (undefined: never / not scheduled). */
export interface TimerTimes {
  next: number | undefined
  last: number | undefined
}

/**
 * Parses `systemctl show UNIT… -p Id -p NextElapseUSecRealtime -p LastTriggerUSec
 * --timestamp=unix`: blocks of `Key=value` lines separated by blank lines (systemctl(1) "show").
 * Timestamps are `@<epoch seconds>` with --timestamp=unix, else systemd's "Tue 2026-11-24
 * 02:30:00 UTC" form; empty or "n/a" means none.
 *
 * @returns a map from unit name (e.g. "kopia-backup.timer") to its times; units systemctl did not
 *   describe are absent
 */
export function parseTimers(text: string): Record<string, TimerTimes> {
  const timers: Record<string, TimerTimes> = {}
  for (const block of text.split(/\n\s*\n/)) {
    const props = new Map<string, string>()
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim())
    }

    const id = props.get('Id')
    if (!id) continue
    timers[id] = {last: systemdTime(props.get('LastTriggerUSec')), next: systemdTime(props.get('NextElapseUSecRealtime'))}
  }

  return timers
}

function systemdTime(value: string | undefined): number | undefined {
  if (!value || value === 'n/a' || value === '0') return undefined
  const unix = /^@(\d+(?:\.\d+)?)$/.exec(value)
  if (unix) return Math.round(Number(unix[1]) * 1000)
  const ms = Date.parse(value.replace(/^[A-Za-z]{3} /, ''))
  return Number.isNaN(ms) ? undefined : ms
}
