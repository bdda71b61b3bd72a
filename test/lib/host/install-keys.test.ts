import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {expect, it} from 'vitest'

import {generateEd25519} from '../../../src/lib/host/install/keys.js'

// ssh2 drops a leading 0x00 of the public key (1 pair in 256), which OpenSSH refuses. 1500 pairs
// hit that case with probability 1 - (255/256)^1500 ≈ 99.7%; every one must be whole, and a
// sample must load in the real ssh-keygen.
it('every generated ed25519 pair has a 32-byte public key, and OpenSSH loads it', async () => {
  const pairs = await Promise.all(Array.from({length: 1500}, () => generateEd25519('root@test')))
  for (const p of pairs) expect(p.blob.length).toBe(51)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homelab-keys-'))
  try {
    for (const p of pairs.slice(0, 20)) {
      const file = path.join(dir, 'key')
      writeFileSync(file, p.privateKey, {mode: 0o600})
      expect(execFileSync('ssh-keygen', ['-y', '-f', file], {encoding: 'utf8'}).trim().split(' ').slice(0, 2).join(' ')).toBe(p.publicKey.split(' ').slice(0, 2).join(' '))
    }
  } finally {
    rmSync(dir, {force: true, recursive: true})
  }
})
