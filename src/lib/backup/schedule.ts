/**
 * The longest gap, in seconds, between two runs of a systemd OnCalendar expression (systemd.time(7),
 * "Calendar Events"), used to tell when a snapshot is overdue. Understands the shorthands
 * (minutely … yearly) and `[weekdays] *-*-[day] hour:minute[:second]` with `*`, lists `a,b` and
 * repetitions `a/step` in the hour and minute fields; a fixed day of month counts as monthly
 * (31 days). Anything else counts as daily.
 *
 * @param onCalendar e.g. "*-*-* 02:30:00" (86400), "Mon *-*-* 03:00" (604800), "*-*-* 00/6:00:00" (21600)
 * @returns seconds, > 0
 */
export function schedulePeriodSeconds(onCalendar: string): number {
  const text = onCalendar.trim().toLowerCase()
  const shorthand: Record<string, number> = {
    minutely: 60,
    hourly: 3600,
    daily: 86_400,
    weekly: 604_800,
    monthly: 31 * 86_400,
    quarterly: 92 * 86_400,
    semiannually: 184 * 86_400,
    yearly: 366 * 86_400,
    annually: 366 * 86_400,
  }
  if (shorthand[text]) return shorthand[text]

  const parts = text.split(/\s+/)
  const weekdays = /^[a-z]/.test(parts[0]) ? parts.shift() : undefined
  const time = parts.find((p) => p.includes(':')) ?? '00:00:00'
  const date = parts.find((p) => !p.includes(':')) ?? '*-*-*'
  if (!/^([\d*,./]+-){1,2}[\d*,./]+$/.test(date) || !/^[\d*,./]+(:[\d*,./]+){1,2}$/.test(time)) return 86_400
  const day = date.split('-').at(-1) ?? '*'

  if (day !== '*' && !day.includes('/')) return 31 * 86_400
  if (weekdays) {
    const days = expandWeekdays(weekdays)
    return days.length === 0 ? 86_400 : maxGap(days, 7) * 86_400
  }

  const [hour = '0', minute = '0'] = time.split(':')
  if (hour === '*' || hour.includes('/')) {
    const hourStep = hour === '*' ? 1 : stepOf(hour)
    if (minute === '*') return 60
    if (minute.includes('/')) return stepOf(minute) * 60
    const minutes = listOf(minute, 60)
    return hourStep === 1 ? maxGap(minutes, 60) * 60 : hourStep * 3600
  }

  return maxGap(listOf(hour, 24), 24) * 3600 || 86_400
}

/** `a/b` → b (repetition), else 1. */
function stepOf(field: string): number {
  const step = Number(field.split('/')[1])
  return Number.isFinite(step) && step > 0 ? step : 1
}

/** `a,b,c` → sorted numbers within [0, modulo). */
function listOf(field: string, modulo: number): number[] {
  const values = field
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 0 && n < modulo)
  return [...new Set(values)].sort((a, b) => a - b)
}

/** The largest cyclic gap between sorted values on a circle of `modulo` units (modulo for one value). */
function maxGap(values: number[], modulo: number): number {
  if (values.length <= 1) return modulo
  let gap = values[0] + modulo - values.at(-1)!
  for (let i = 1; i < values.length; i++) gap = Math.max(gap, values[i] - values[i - 1])
  return gap
}

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']

/** "mon,wed" or "mon..fri" → day numbers 0-6. */
function expandWeekdays(field: string): number[] {
  const days: number[] = []
  for (const part of field.split(',')) {
    const [from, to] = part.split('..').map((d) => WEEKDAYS.indexOf(d.slice(0, 3)))
    if (from < 0) continue
    if (to === undefined || to < 0) days.push(from)
    else for (let d = from; d <= to; d++) days.push(d)
  }

  return [...new Set(days)].sort((a, b) => a - b)
}
