import {describe, expect, it} from 'vitest'

import {parseTimers, schedulePeriodSeconds, systemdEscapePath} from '../../../src/lib/backup/index.js'

describe('schedulePeriodSeconds (systemd.time OnCalendar)', () => {
  it.each([
    ['*-*-* 02:30:00', 86_400],
    ['daily', 86_400],
    ['hourly', 3600],
    ['weekly', 604_800],
    ['Mon *-*-* 03:00', 604_800],
    ['Mon,Thu *-*-* 03:00', 4 * 86_400],
    ['*-*-* 00/6:00:00', 6 * 3600],
    ['*-*-* 02,14:00:00', 12 * 3600],
    ['*-*-* 01,03:00:00', 22 * 3600],
    ['*-*-* *:15:00', 3600],
    ['*-*-01 04:00:00', 31 * 86_400],
    ['something odd', 86_400],
  ])('%s → %d s', (expression, seconds) => {
    expect(schedulePeriodSeconds(expression)).toBe(seconds)
  })
})

describe('parseTimers (systemctl show … --timestamp=unix)', () => {
  it('reads next and last per timer, unix and human forms, n/a', () => {
    const text = [
      'Id=kopia-backup.timer',
      'NextElapseUSecRealtime=@1764037800',
      'LastTriggerUSec=@1763951400',
      '',
      'Id=kopia-r2-sync.timer',
      'NextElapseUSecRealtime=Tue 2026-11-24 12:00:00 UTC',
      'LastTriggerUSec=n/a',
    ].join('\n')
    expect(parseTimers(text)).toEqual({
      'kopia-backup.timer': {last: 1_763_951_400_000, next: 1_764_037_800_000},
      'kopia-r2-sync.timer': {last: undefined, next: Date.UTC(2026, 10, 24, 12)},
    })
  })
})

describe('systemdEscapePath (systemd-escape --path)', () => {
  it.each([
    ['/srv/libsql', 'srv-libsql'],
    ['/srv/my-app/', 'srv-my\\x2dapp'],
    ['/etc/nixos', 'etc-nixos'],
    ['/srv/.hidden', 'srv-.hidden'],
    ['/', '-'],
  ])('%s → %s', (input, escaped) => {
    expect(systemdEscapePath(input)).toBe(escaped)
  })
})
