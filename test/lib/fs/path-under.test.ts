import {mkdirSync, mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {realpathInside} from '../../../src/lib/fs/inside-repo.js'
import {isUnder} from '../../../src/lib/fs/path-under.js'

describe('isUnder: one "inside this folder" test for host paths and repository paths', () => {
  it('judges by path segments, after normalising', () => {
    expect(isUnder('/srv/app', '/srv/app')).toBe(true)
    expect(isUnder('/srv/app/data', '/srv/app/')).toBe(true)
    expect(isUnder('/srv/app-old', '/srv/app')).toBe(false)
    expect(isUnder('/srv/app/../other', '/srv/app')).toBe(false)
    expect(isUnder('/anything', '/')).toBe(true)
    // A name that only starts with two dots is a child, not the parent folder.
    expect(isUnder('/repo/..notes', '/repo')).toBe(true)
  })

  it('a repository folder whose name starts with ".." is inside the repository', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'homelab-under-'))
    mkdirSync(path.join(root, '..notes'))
    expect((await realpathInside(root, '..notes')).inside).toBe(true)
    expect((await realpathInside(root, '../elsewhere')).inside).toBe(false)
  })
})
