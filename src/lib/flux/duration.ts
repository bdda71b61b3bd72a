import {UsageError} from '../errors.js'

/**
 * Parses a Go-style duration as `flux --timeout` takes it (Go `time.ParseDuration` units h, m,
 * s, ms): `90s`, `5m`, `1h30m`, `500ms`; a bare number is seconds. Returns milliseconds.
 * @param flag the flag named in the error, e.g. `--timeout`
 * @throws UsageError for anything else
 */
export function parseDuration(text: string, flag = '--timeout'): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000
  let total = 0
  let matched = ''
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/gy)) {
    matched += m[0]
    total += Number(m[1]) * {h: 3_600_000, m: 60_000, ms: 1, s: 1000}[m[2] as 'h' | 'm' | 'ms' | 's']
  }

  if (matched !== text || text === '') throw new UsageError(`${flag} ${text}: expected a duration like 90s, 5m or 1h30m`)
  return total
}
