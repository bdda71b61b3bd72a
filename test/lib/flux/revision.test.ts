import {describe, expect, it} from 'vitest'

import {formatRevision, parseRevision, sameRevision} from '../../../src/lib/flux/revision.js'

const SHA = '696f056df216eea4f9401adbee0ff744d4df390f'

describe('parseRevision (flux2 RFC 0005: [<pointer>@]<algo>:<checksum>, split at the last @)', () => {
  it('reads a branch revision', () => {
    expect(parseRevision(`main@sha1:${SHA}`)).toEqual({algorithm: 'sha1', checksum: SHA, commit: SHA, pointer: 'main', raw: `main@sha1:${SHA}`})
  })

  it('reads a ref.name revision and a bare digest', () => {
    expect(parseRevision(`refs/heads/main@sha1:${SHA}`).pointer).toBe('refs/heads/main')
    const bare = parseRevision(`sha1:${SHA}`)
    expect(bare.pointer).toBeUndefined()
    expect(bare.commit).toBe(SHA)
  })

  it('splits at the LAST @ so a pointer may hold @', () => {
    const rev = parseRevision(`feature@v2@sha1:${SHA}`)
    expect(rev.pointer).toBe('feature@v2')
    expect(rev.commit).toBe(SHA)
  })

  it('reads sha256 commits, the legacy <branch>/<sha> format and OCI digests', () => {
    const sha256 = 'a'.repeat(64)
    expect(parseRevision(`main@sha256:${sha256}`).commit).toBe(sha256)
    expect(parseRevision(`main/${SHA}`)).toMatchObject({commit: SHA, pointer: 'main'})
    expect(parseRevision('6.7.1@sha256:abc')).toMatchObject({algorithm: 'sha256', checksum: 'abc', commit: undefined, pointer: '6.7.1'})
  })

  it('never throws on odd input', () => {
    expect(parseRevision('').raw).toBe('')
    expect(parseRevision('1.2.3')).toEqual({checksum: '1.2.3', pointer: undefined, raw: '1.2.3'})
  })

  it('formats for display and compares by commit', () => {
    expect(formatRevision(`main@sha1:${SHA}`)).toBe('main@696f056')
    expect(formatRevision(`sha1:${SHA}`)).toBe('696f056')
    expect(formatRevision(undefined)).toBe('-')
    expect(sameRevision(`main@sha1:${SHA}`, `refs/heads/main@sha1:${SHA}`)).toBe(true)
    expect(sameRevision(`main@sha1:${SHA}`, `main@sha1:${'0'.repeat(40)}`)).toBe(false)
  })
})
