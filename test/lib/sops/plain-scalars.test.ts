import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {decryptSops} from 'sops-age'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgeIdentity, parseIdentities} from '../../../src/lib/age/index.js'
import {computeMac, decryptMac} from '../../../src/lib/sops/mac.js'
import {createSopsFile, decryptSopsFile, decryptSopsText, encryptDecrypted, parseSopsConfig, readSopsMetadata, setSopsValues} from '../../../src/lib/sops/index.js'
import {serializePlain} from '../../../src/lib/sops/serialize.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const DEMO = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'

/**
 * Plain scalars whose go-yaml v3 reading (what sops hashes into the MAC) differs from the `yaml`
 * package's YAML 1.2 core reading or spelling. `go` is the text sops' ToBytes gives for Go's value
 * (null: not hashed), worked out by hand from go-yaml v3 `resolve.go` and Go `strconv`.
 */
const CASES: Array<{src: string; go: string | null}> = [
  {go: '493', src: '0755'},
  {go: '-493', src: '-0755'},
  {go: '8', src: '0010'},
  {go: '15', src: '0o17'},
  {go: '31', src: '0x1F'},
  {go: '31', src: '0X1f'},
  {go: '5', src: '0b101'},
  {go: '1000', src: '1_000'},
  {go: '12', src: '+12'},
  {go: '0.5', src: '.5'},
  {go: '-0.5', src: '-.5'},
  {go: '1', src: '1.'},
  {go: '1000', src: '1e3'},
  {go: '1500', src: '1.5E+3'},
  {go: '1', src: '1.0'},
  {go: '8', src: '08'},
  {go: '1e400', src: '1e400'},
  {go: 'True', src: 'True'},
  {go: 'True', src: 'TRUE'},
  {go: 'False', src: 'False'},
  {go: null, src: '~'},
  {go: null, src: 'Null'},
  {go: 'yes', src: 'yes'},
  {go: 'on', src: 'on'},
  {go: 'y', src: 'y'},
  {go: '2024-01-02T00:00:00Z', src: '2024-01-02'},
  {go: '2024-01-02T03:04:05.5Z', src: '2024-01-02T03:04:05.50Z'},
]

describe('unencrypted plain scalars keep their source text (go-yaml v3 reading) across writes', () => {
  let dir: string
  let identities: AgeIdentity[]
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-sops-plain-'))
    identities = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
  })
  afterAll(async () => {
    await fs.rm(dir, {force: true, recursive: true})
  })

  const config = () => parseSopsConfig(`creation_rules:\n  - age: ${DEMO}\n`, path.join(dir, '.sops.yaml'))

  it('mode_unencrypted: 0755 survives a set of another key (was rewritten as 755: MAC mismatch)', async () => {
    const file = path.join(dir, 'mode.sops.yaml')
    await createSopsFile({config: config(), file, plaintext: 'mode_unencrypted: 0755\nother: x\n'})
    await setSopsValues({file, identities, values: {other: 'y'}})
    const text = await fs.readFile(file, 'utf8')
    expect(text).toMatch(/^mode_unencrypted: 0755$/m)
    const back = await decryptSopsFile({file, identities})
    expect((back.values[0] as Record<string, unknown>).other).toBe('y')
  })

  it.each(CASES)('$src: line byte-identical after create and two sets, MAC = go-yaml v3 reading, sops-age decrypts', async ({go, src}) => {
    const file = path.join(dir, `case-${Buffer.from(src).toString('hex')}.sops.yaml`)
    await createSopsFile({config: config(), file, plaintext: `a_unencrypted: ${src}\nlist_unencrypted:\n    - ${src}\nother: x\n`})
    const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('a_unencrypted:') || l.trim() === `- ${src}`)
    const created = await fs.readFile(file, 'utf8')
    expect(lines(created)).toEqual([`a_unencrypted: ${src}`, `    - ${src}`])
    for (const value of ['y', 'z']) {
      expect((await setSopsValues({file, identities, values: {other: value}})).changed).toEqual(['other'])
      const text = await fs.readFile(file, 'utf8')
      expect(lines(text)).toEqual(lines(created))
      const back = await decryptSopsFile({file, identities})
      expect((back.values[0] as Record<string, unknown>).other).toBe(value)
      // Independent MAC: SHA-512 over the Go-typed bytes as sops hashes them, in document order.
      const meta = readSopsMetadata(text, file)!
      const expected = computeMac(
        [...(go === null ? [] : [go, go]).map((t) => ({encrypted: false, text: t})), {encrypted: true, text: value}],
        false,
      )
      expect(decryptMac(back.dataKey, meta.mac, meta.lastmodified)?.toUpperCase()).toBe(expected)
      // sops-age (independent reader, no MAC check) decrypts it too.
      const viaSopsAge = (await decryptSops(text, {fileType: 'yaml', secretKey: identities[0].identity})) as Record<string, unknown>
      expect(viaSopsAge.other).toBe(value)
    }
  })

  it('plain map keys keep their spelling (an encrypted value under key 0644 keeps its additional data)', async () => {
    const file = path.join(dir, 'keys.sops.yaml')
    await createSopsFile({config: config(), file, plaintext: '0644: secret\nmodes_unencrypted:\n    0755: rwx\n    0x1F: hex\nother: x\n'})
    const created = await fs.readFile(file, 'utf8')
    expect(created).toMatch(/^0644: ENC\[/m)
    expect(created).toMatch(/^ {4}0755: rwx$/m)
    expect(created).toMatch(/^ {4}0x1F: hex$/m)
    await setSopsValues({file, identities, values: {other: 'y'}})
    const text = await fs.readFile(file, 'utf8')
    expect(text.split('\n').filter((l) => /^(0644|    0755|    0x1F):/.test(l))).toEqual(created.split('\n').filter((l) => /^(0644|    0755|    0x1F):/.test(l)))
    const back = await decryptSopsFile({file, identities})
    // The plaintext view (`secrets get`, the edit session) keeps the spelling too.
    const plain = serializePlain(back.documents, back.format, back.style)
    expect(plain.split('\n').filter((l) => /^(0644|    0755|    0x1F):/.test(l))).toEqual(['0644: secret', '    0755: rwx', '    0x1F: hex'])
  })

  it('a string the engine writes that go-yaml v3 would read as another type is quoted', async () => {
    const file = path.join(dir, 'set.sops.yaml')
    await createSopsFile({config: config(), file, plaintext: 'other: x\n'})
    const values = Object.fromEntries(CASES.map(({src}, i) => [`k${i}_unencrypted`, src]))
    await setSopsValues({file, identities, values})
    const back = await decryptSopsFile({file, identities})
    const got = back.values[0] as Record<string, unknown>
    for (const [key, value] of Object.entries(values)) expect(got[key]).toBe(value)
  })

  it('a plain scalar changed in place (yaml setIn keeps the node and its old source) is written and hashed by its new value', async () => {
    const file = path.join(dir, 'setin.sops.yaml')
    await createSopsFile({config: config(), file, plaintext: 'a_unencrypted: 0755\nb_unencrypted: 0755\nc_unencrypted: abc\nother: x\n'})
    const decrypted = await decryptSopsText({file, identities, text: await fs.readFile(file, 'utf8')})
    decrypted.documents[0].setIn(['a_unencrypted'], 12)
    decrypted.documents[0].setIn(['c_unencrypted'], '0755')
    const text = encryptDecrypted(decrypted)
    expect(text.split('\n').filter((l) => l.includes('_unencrypted:'))).toEqual(['a_unencrypted: 12', 'b_unencrypted: 0755', 'c_unencrypted: "0755"'])
    const back = await decryptSopsText({file, identities, text})
    expect(back.documents[0].toJS()).toEqual({a_unencrypted: 12, b_unencrypted: 755, c_unencrypted: '0755', other: 'x'})
    const meta = readSopsMetadata(text, file)!
    const inputs = ['12', '493', '0755'].map((t) => ({encrypted: false, text: t}))
    expect(decryptMac(back.dataKey, meta.mac, meta.lastmodified)?.toUpperCase()).toBe(computeMac([...inputs, {encrypted: true, text: 'x'}], false))
  })
})
