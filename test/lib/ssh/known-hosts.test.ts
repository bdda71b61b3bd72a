import {randomBytes} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {
  checkHostKey,
  entryMatches,
  fingerprint,
  hashHostName,
  knownHostName,
  knownHostsLine,
  parseKnownHosts,
} from '../../../src/lib/ssh/index.js'

// A real ed25519 key made by ssh-keygen, and its fingerprint as ssh-keygen prints it.
function realKey(): {line: string; blob: Buffer; fp: string; dir: string} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kh-'))
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')])
  const line = readFileSync(path.join(dir, 'k.pub'), 'utf8').trim()
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'k.pub')], {encoding: 'utf8'}).split(/\s+/)[1]
  return {blob: Buffer.from(line.split(' ')[1], 'base64'), dir, fp, line}
}

describe('known_hosts', () => {
  const a = realKey()
  const b = realKey()
  const [type, b64] = a.line.split(' ')

  it('computes the SHA256 fingerprint exactly like ssh-keygen -l', () => {
    expect(fingerprint(a.blob)).toBe(a.fp)
  })

  it('parses plain, [host]:port, comma lists, markers and skips comments', () => {
    const entries = parseKnownHosts(`# comment\n\nazalab-0,10.0.0.5 ${type} ${b64}\n[azalab-0]:2222 ${type} ${b64} a comment\n@revoked bad ${type} ${b64}\nbroken\n`)
    expect(entries).toHaveLength(3)
    expect(entries[0]).toMatchObject({line: 3, patterns: ['azalab-0', '10.0.0.5']})
    expect(entries[1].patterns).toEqual(['[azalab-0]:2222'])
    expect(entries[2].marker).toBe('revoked')
  })

  it('matches names with port brackets, wildcards and negation', () => {
    const [e] = parseKnownHosts(`*.lan,!bad.lan ${type} ${b64}`)
    expect(entryMatches(e, 'azalab-0.lan')).toBe(true)
    expect(entryMatches(e, 'bad.lan')).toBe(false)
    expect(entryMatches(e, '[azalab-0.lan]:2222')).toBe(false)
    expect(knownHostName('h', 22)).toBe('h')
    expect(knownHostName('h', 2222)).toBe('[h]:2222')
  })

  it('matches hashed |1| entries written by the real ssh-keygen -H', () => {
    const file = path.join(a.dir, 'known_hosts')
    writeFileSync(file, `azalab-0 ${type} ${b64}\n[10.0.0.5]:2222 ${type} ${b64}\n`)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file])
    const entries = parseKnownHosts(readFileSync(file, 'utf8'))
    expect(entries.every((e) => e.patterns[0].startsWith('|1|'))).toBe(true)
    expect(checkHostKey(entries, ['azalab-0'], a.blob).status).toBe('trusted')
    expect(checkHostKey(entries, ['[10.0.0.5]:2222'], a.blob).status).toBe('trusted')
    expect(checkHostKey(entries, ['10.0.0.5'], a.blob).status).toBe('unknown')
    const salt = randomBytes(20)
    const [own] = parseKnownHosts(`${hashHostName('x', salt)} ${type} ${b64}`)
    expect(entryMatches(own, 'x')).toBe(true)
  })

  it('trusts the pinned key, reports a changed key with what was expected, honours @revoked', () => {
    const entries = parseKnownHosts(`azalab-0 ${type} ${b64}\n@revoked other ${b.line}\n`, 'repo/known_hosts')
    expect(checkHostKey(entries, ['azalab-0'], a.blob).status).toBe('trusted')
    const changed = checkHostKey(entries, ['azalab-0'], b.blob)
    expect(changed.status).toBe('changed')
    if (changed.status === 'changed') expect(fingerprint(changed.expected[0].key)).toBe(a.fp)
    expect(checkHostKey(entries, ['other'], b.blob).status).toBe('revoked')
    expect(checkHostKey(entries, ['new-host'], a.blob).status).toBe('unknown')
  })

  it('writes a line ssh-keygen can read back', () => {
    const file = path.join(a.dir, 'pinned')
    writeFileSync(file, `${knownHostsLine('[azalab-0]:2222', a.blob)}\n`)
    expect(execFileSync('ssh-keygen', ['-F', '[azalab-0]:2222', '-f', file], {encoding: 'utf8'})).toContain(b64)
  })
})
