import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {generateIdentity} from '../../../src/lib/age/index.js'
import {decryptSopsText, encryptDocumentText, parseSopsConfig, readSopsMetadata} from '../../../src/lib/sops/index.js'
import {shamirCombine, shamirSplit} from '../../../src/lib/sops/shamir.js'

describe('Shamir key groups (hashicorp/vault shamir, as sops uses it)', () => {
  it('any threshold of the shares rebuilds the secret, fewer do not', () => {
    const secret = randomBytes(32)
    const shares = shamirSplit(secret, 3, 2)
    expect(shares.every((s) => s.length === 33)).toBe(true)
    for (const pair of [[0, 1], [0, 2], [1, 2]]) expect(Buffer.from(shamirCombine(pair.map((i) => shares[i]))).equals(secret)).toBe(true)
    expect(Buffer.from(shamirCombine([shares[0], shares[1].map((b, i) => (i === 32 ? b : b ^ 1))])).equals(secret)).toBe(false)
    expect(() => shamirCombine([shares[0], shares[0]])).toThrow(/duplicate/)
  })

  it('a rule with two key groups writes key_groups + shamir_threshold; both groups are needed', async () => {
    const a = await generateIdentity()
    const b = await generateIdentity()
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-shamir-'))
    try {
      const config = parseSopsConfig(`creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [${a.recipient}]\n      - age: [${b.recipient}]\n`, path.join(dir, '.sops.yaml'))
      const text = await encryptDocumentText({config, file: path.join(dir, 's.yaml'), plaintext: 'x: y\n'})
      expect(text).toMatch(/\nsops:\n {4}shamir_threshold: 2\n {4}key_groups:\n {8}- age:\n {14}- recipient: age1/)
      const meta = readSopsMetadata(text, 's.yaml')!
      expect(meta.keyGroups.map((g) => g.map((s) => s.recipient))).toEqual([[a.recipient], [b.recipient]])
      expect((await decryptSopsText({file: 's.yaml', identities: [a, b], text})).documents[0].toJS()).toEqual({x: 'y'})
      await expect(decryptSopsText({file: 's.yaml', identities: [a], text})).rejects.toThrow(/only 1 of the 2 key groups/)
    } finally {
      await fs.rm(dir, {force: true, recursive: true})
    }
  })
})
