import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgeIdentity, parseIdentities} from '../../../src/lib/age/index.js'
import {decryptParts, parseEnc} from '../../../src/lib/sops/cipher.js'
import {createSopsFile, decryptSopsFile, parseSopsConfig, setSopsValues} from '../../../src/lib/sops/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const DEMO = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'

describe('.nan / .inf / -.inf floats round-trip as sops writes them', () => {
  let dir: string
  let identities: AgeIdentity[]
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-sops-floats-'))
    identities = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
  })
  afterAll(async () => {
    await fs.rm(dir, {force: true, recursive: true})
  })

  it('encrypted and unencrypted .nan/.inf/-.inf lines survive a set of another key byte for byte, and decrypt to NaN/Infinity/-Infinity', async () => {
    const config = parseSopsConfig(`creation_rules:\n  - age: ${DEMO}\n`, path.join(dir, '.sops.yaml'))
    const file = path.join(dir, 'floats.sops.yaml')
    await createSopsFile({
      config,
      file,
      plaintext: 'nan: .nan\ninf: .inf\nneg: -.inf\nhalf: 1.5\nnan_unencrypted: .nan\ninf_unencrypted: .inf\nneg_unencrypted: -.inf\nother: x\n',
    })
    const before = await fs.readFile(file, 'utf8')
    const lines = (text: string) => text.split('\n').filter((l) => /^(nan|inf|neg|half)(_unencrypted)?:/.test(l))
    expect(lines(before).slice(4)).toEqual(['nan_unencrypted: .nan', 'inf_unencrypted: .inf', 'neg_unencrypted: -.inf'])

    // sops encrypts a float's plaintext as Go's strconv.FormatFloat(f, 'f', -1, 64) spells it.
    const {dataKey} = await decryptSopsFile({file, identities})
    const plain = (key: string) => {
      const enc = parseEnc(/^(\S+): (ENC\[.*\])$/m.exec(before.split('\n').find((l) => l.startsWith(`${key}: `))!)![2])!
      return `${decryptParts(dataKey, enc, `${key}:`)?.toString()},${enc.type}`
    }

    expect(['nan', 'inf', 'neg', 'half'].map((k) => plain(k))).toEqual(['NaN,float', '+Inf,float', '-Inf,float', '1.5,float'])

    for (const value of ['y', 'z']) {
      expect((await setSopsValues({file, identities, values: {other: value}})).changed).toEqual(['other'])
      const after = await fs.readFile(file, 'utf8')
      expect(lines(after)).toEqual(lines(before))
      const [values] = (await decryptSopsFile({file, identities})).values as Array<Record<string, unknown>>
      expect(values).toEqual({half: 1.5, inf: Infinity, inf_unencrypted: Infinity, nan: Number.NaN, nan_unencrypted: Number.NaN, neg: -Infinity, neg_unencrypted: -Infinity, other: value})
    }
  })
})
