import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {
  KopiaOutputError,
  kopiaTime,
  latestByPath,
  parseRepositoryStatus,
  parseSnapshotCreate,
  parseSnapshotList,
  parseSnapshotVerify,
  snapshotFigures,
} from '../../../src/lib/kopia/index.js'

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, '../../fixtures/kopia', name), 'utf8')

describe('kopia snapshot list --json (real 0.23.1 output)', () => {
  const list = parseSnapshotList(fixture('snapshot-list.json'))

  it('reads both manifests with stats and retention reasons', () => {
    expect(list).toHaveLength(2)
    expect(list[0].id).toBe('8145671624282e64839f6e3a98678616')
    expect(list[0].source).toEqual({host: 'mac-de-quelquun', path: '/tmp/fixtures/src', userName: 'quelquun'})
    expect(list[1].stats?.totalSize).toBe(240_000_000)
    expect(list[1].retentionReason).toContain('daily-1')
    expect(list[0].rootEntry?.obj).toBe('k348b268a5c35490f1cbaae28a7eb5588')
  })

  it('takes figures from stats', () => {
    expect(snapshotFigures(list[1])).toEqual({dirs: 1, errors: 0, files: 12, size: 240_000_000})
  })

  it('picks the newest snapshot per path', () => {
    const older = {...list[0], endTime: '2026-09-01T00:00:00Z', id: 'older'}
    const latest = latestByPath([older, ...list, {...list[0], id: 'partial', endTime: '2030-01-01T00:00:00Z', incomplete: 'checkpoint'}])
    expect(latest.get('/tmp/fixtures/src')?.id).toBe('8145671624282e64839f6e3a98678616')
    expect(latest.get('/tmp/fixtures/src2')?.id).toBe('3bc941641015a70b0b1835f3b7e2b9da')
  })

  it('reads the empty list kopia prints as "[\\n]"', () => {
    expect(parseSnapshotList('[\n]\n')).toEqual([])
  })

  it('rejects what is not a list of manifests, naming the field', () => {
    expect(() => parseSnapshotList('{"id": 1}')).toThrow(KopiaOutputError)
    expect(() => parseSnapshotList('[{"id": "x"}]')).toThrow(/source/)
    expect(() => parseSnapshotList('ERROR repository not connected')).toThrow(/not JSON/)
  })
})

describe('kopia snapshot create --json (real 0.23.1 output)', () => {
  it('reads one compact manifest a line, without stats; errors from summ.numFailed', () => {
    const created = parseSnapshotCreate(fixture('snapshot-create.json'))
    expect(created).toHaveLength(1)
    expect(created[0].stats).toBeUndefined()
    expect(snapshotFigures(created[0])).toEqual({dirs: 2, errors: 0, files: 3, size: 3_000_064})
  })

  it('reads several sources and skips non-JSON lines', () => {
    const line = fixture('snapshot-create.json').trim()
    const failed = line.replace('"numFailed":0', '"numFailed":2')
    const created = parseSnapshotCreate(`${line}\nsome progress\n${failed}\n`)
    expect(created.map((m) => snapshotFigures(m).errors)).toEqual([0, 2])
  })
})

describe('kopia repository status --json (real 0.23.1 output)', () => {
  it('reads the S3 storage config and client options', () => {
    const status = parseRepositoryStatus(fixture('repository-status.json'))
    expect(status.storage.type).toBe('s3')
    expect(status.storage.config.bucket).toBe('seau-de-ce-mac')
    expect(status.clientOptions.hostname).toBe('mac-de-quelquun')
    expect(status.clientOptions.formatBlobCacheDuration).toBe(900_000_000_000) // Go nanoseconds
    expect(status.contentFormat?.encryption).toBe('AES256-GCM-HMAC-SHA256')
  })

  it('fails on a missing field', () => {
    expect(() => parseRepositoryStatus('{"configFile": "x"}')).toThrow(/uniqueIDHex/)
  })
})

describe('kopia snapshot verify --json', () => {
  it('reads errorCount, errorStrings and stats, after stray lines', () => {
    const result = parseSnapshotVerify(
      'Found 3 objects\n{"stats":{"expectedTotalFileCount":3,"processedObjectCount":5,"readFileCount":1},"errorCount":1,"errorStrings":["error verifying k1: blob not found"]}\n',
    )
    expect(result.errorCount).toBe(1)
    expect(result.errorStrings).toEqual(['error verifying k1: blob not found'])
    expect(result.stats?.expectedTotalFileCount).toBe(3)
  })

  it('fails without errorCount', () => {
    expect(() => parseSnapshotVerify('{"stats":{}}')).toThrow(/errorCount/)
  })
})

describe('kopiaTime', () => {
  it('reads 0 to 9 fraction digits', () => {
    expect(kopiaTime('2026-09-02T12:43:37.193919479Z')).toBe(Date.UTC(2026, 8, 2, 12, 43, 37, 193))
    expect(kopiaTime('2026-09-02T12:43:38.02194Z')).toBe(Date.UTC(2026, 8, 2, 12, 43, 38, 21))
    expect(kopiaTime('2026-09-02T12:43:38Z')).toBe(Date.UTC(2026, 8, 2, 12, 43, 38))
    expect(() => kopiaTime('yesterday')).toThrow(KopiaOutputError)
  })
})
