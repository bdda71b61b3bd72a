import {describe, expect, it} from 'vitest'

import {parseDuration} from '../../src/lib/flux/duration.js'
import {runCli} from '../helpers/cli.js'

describe('reconcile --timeout durations (Go style, as flux takes them)', () => {
  it('parses s, m, h, ms and combinations; a bare number is seconds', () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('5m')).toBe(300_000)
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('12')).toBe(12_000)
  })

  it('refuses anything else naming the flag', () => {
    expect(() => parseDuration('5 minutes')).toThrow('--timeout 5 minutes: expected a duration like 90s, 5m or 1h30m')
    expect(() => parseDuration('')).toThrow('--timeout')
    expect(() => parseDuration('soon', '--wait-timeout')).toThrow('--wait-timeout soon: expected')
  })
})

describe('argument errors before any connection (exit 3)', () => {
  it('no names and no --all', async () => {
    const r = await runCli(['reconcile'])
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('name at least one Kustomization or HelmRelease, or pass --all')
  })

  it('status --watch with --json', async () => {
    const r = await runCli(['status', '--watch', '--json'])
    expect(r.exitCode).toBe(3)
    expect(JSON.parse(r.stdout).error.message).toContain('--watch cannot be combined with --json')
  })
})
