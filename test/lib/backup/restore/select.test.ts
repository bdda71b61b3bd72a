import {promises as fs} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {asideStamp, checkRestoreTarget, parseAtTime, pickSnapshot, resolveRestoreSource, type SnapshotSummary} from '../../../../src/lib/backup/restore/index.js'
import {storageFileSchema} from '../../../../src/lib/config/schema.js'
import {UsageError} from '../../../../src/lib/errors.js'
import {REPO_ROOT} from '../../../helpers/cli.js'

const bundled = async () => storageFileSchema.parse(JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'nixos/storage.json'), 'utf8')))

const snap = (id: string, time: string): SnapshotSummary => ({endTime: time, files: 1, id, rootObject: `k${id}`, size: 10, time})
// Newest first, as listSourceSnapshots returns them.
const list = [snap('c3f0aa', '2026-01-24T02:30:00.123456Z'), snap('b2e111', '2026-01-23T02:30:00Z'), snap('b2a999', '2026-01-22T02:30:00Z')]

describe('resolveRestoreSource (the bundled nixos/storage.json)', () => {
  it('takes an app name or its folder, with or without a trailing slash', async () => {
    const storage = await bundled()
    expect(resolveRestoreSource(storage, 'vaultwarden', 'nixos/storage.json')).toMatchObject({app: {name: 'vaultwarden', uid: 1000}, path: '/srv/vaultwarden'})
    expect(resolveRestoreSource(storage, '/srv/immich/', 'nixos/storage.json').app?.backup).toMatchObject({mode: 'postgres', workload: 'statefulset/immich-postgres'})
  })

  it('/etc/nixos is a source without an app (so it restores only with --to)', async () => {
    expect(resolveRestoreSource(await bundled(), '/etc/nixos', 'nixos/storage.json')).toEqual({app: undefined, path: '/etc/nixos'})
  })

  it('anything else is a usage error naming the apps and sources', async () => {
    const error = (() => {
      try {
        resolveRestoreSource({apps: [], extraBackupSources: ['/etc/nixos']}, 'nope', 'nixos/storage.json')
      } catch (e) {
        return e as UsageError
      }
    })()
    expect(error).toBeInstanceOf(UsageError)
    expect(error?.exitCode).toBe(3)
    expect(error?.message).toBe('nope: not an app or backup source of nixos/storage.json')
    expect(error?.suggestions[0]).toContain('/etc/nixos')
  })
})

describe('checkRestoreTarget', () => {
  const sources = ['/srv/vaultwarden', '/etc/nixos']
  it('accepts a folder outside every source, normalised', () => {
    expect(checkRestoreTarget('/var/tmp/restore//vw/', sources)).toBe('/var/tmp/restore/vw')
    expect(checkRestoreTarget('/srv/vaultwarden-old', sources)).toBe('/srv/vaultwarden-old')
  })

  it('refuses the live source, a folder inside it, a folder holding it, and a relative path', () => {
    expect(() => checkRestoreTarget('/srv/vaultwarden', sources)).toThrow('--to /srv/vaultwarden: is the live backup source /srv/vaultwarden')
    expect(() => checkRestoreTarget('/srv/vaultwarden/x', sources)).toThrow('is inside the live backup source /srv/vaultwarden')
    expect(() => checkRestoreTarget('/srv', sources)).toThrow('holds the live backup source /srv/vaultwarden')
    expect(() => checkRestoreTarget('restore', sources)).toThrow('give an absolute folder')
  })
})

describe('parseAtTime', () => {
  it('reads RFC 3339 (T or space, offsets) and a date as the end of that day in UTC', () => {
    expect(parseAtTime('2026-01-23T02:30:00Z')).toBe(Date.parse('2026-01-23T02:30:00Z'))
    expect(parseAtTime('2026-01-23 03:30:00+01:00')).toBe(Date.parse('2026-01-23T02:30:00Z'))
    expect(parseAtTime('2026-01-23T02:30Z')).toBe(Date.parse('2026-01-23T02:30:00Z'))
    expect(parseAtTime('2026-01-23')).toBe(Date.parse('2026-01-23T23:59:59.999Z'))
  })

  it('refuses anything else (exit 3)', () => {
    for (const bad of ['yesterday', '2026-02-30', '2026-01-23T02:30:00', '1737600000']) expect(() => parseAtTime(bad), bad).toThrow(UsageError)
  })
})

describe('pickSnapshot', () => {
  it('the newest by default', () => {
    expect(pickSnapshot(list, '/srv/a').id).toBe('c3f0aa')
  })

  it('--snapshot: the full ID or a unique prefix; an ambiguous or unknown one is a usage error', () => {
    expect(pickSnapshot(list, '/srv/a', {id: 'b2e111'}).id).toBe('b2e111')
    expect(pickSnapshot(list, '/srv/a', {id: 'b2a'}).id).toBe('b2a999')
    expect(() => pickSnapshot(list, '/srv/a', {id: 'b2'})).toThrow('--snapshot b2: 2 snapshots of /srv/a start with it (b2e111, b2a999); give more of the ID')
    expect(() => pickSnapshot(list, '/srv/a', {id: 'ff'})).toThrow('--snapshot ff: no snapshot of /srv/a has that ID')
  })

  it('--at: the newest at or before the time (a snapshot exactly at it counts)', () => {
    expect(pickSnapshot(list, '/srv/a', {at: Date.parse('2026-01-23T02:30:00Z')}).id).toBe('b2e111')
    expect(pickSnapshot(list, '/srv/a', {at: Date.parse('2026-01-24T02:30:00.100Z')}).id).toBe('b2e111')
    expect(pickSnapshot(list, '/srv/a', {at: parseAtTime('2026-01-24')}).id).toBe('c3f0aa')
    expect(() => pickSnapshot(list, '/srv/a', {at: parseAtTime('2026-01-21')})).toThrow('has no snapshot at or before it (the oldest is from 2026-01-22T02:30:00Z)')
  })

  it('no snapshot at all: a usage error that says how to take one', () => {
    expect(() => pickSnapshot([], '/srv/a')).toThrow('/srv/a has no snapshot to restore')
  })
})

describe('asideStamp', () => {
  it('is a compact UTC timestamp (sortable, no colons in the folder name)', () => {
    expect(asideStamp(Date.parse('2026-01-24T02:30:05.678Z'))).toBe('20260124T023005Z')
  })
})
