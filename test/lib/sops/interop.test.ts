import {execa} from 'execa'
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {decryptSops} from 'sops-age'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseIdentities, unwrapDataKey} from '../../../src/lib/age/index.js'
import {decryptParts, parseEnc} from '../../../src/lib/sops/cipher.js'
import {computeMac, decryptMac} from '../../../src/lib/sops/mac.js'
import {
  createSopsFile,
  decryptSopsFile,
  decryptSopsText,
  encryptDecrypted,
  encryptDocumentText,
  parseSopsConfig,
  readSopsMetadata,
  rotateSopsFile,
  setSopsValues,
  updateSopsKeys,
} from '../../../src/lib/sops/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const FIX = path.join(REPO_ROOT, 'test/fixtures/sops')
const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const DEMO = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'

/** The README's expectations per fixture. */
const FIXTURES: Array<{file: string; key: string; dataKey: string; mac: string; check(values: any): void}> = [
  {
    check: (v) => expect(v).toEqual({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'age'}, stringData: {key: 'value'}}),
    dataKey: '558e95c88337865c839703a4e892c03eed324ae6bbcb65c2989558e1a55825bb',
    file: 'flux-kc-algorithms-age.yaml',
    key: 'flux-kc-age.agekey',
    mac: '5E6C78D06EF2D302',
  },
  {
    check: (v) => expect(v).toEqual({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'global-age-secret', namespace: 'default'}, stringData: {key: 'global-value'}, type: 'Opaque'}),
    dataKey: '95c21ac70e00e7cfc9c33cbaf95451176e458a504fe665a77f28ba93ff46b595',
    file: 'flux-kc-global-secret.yaml',
    key: 'flux-kc-age-global.agekey',
    mac: 'F87D88951E6288CB',
  },
  {
    check: (v) =>
      expect(v).toEqual({boolean: true, complex: {array: ['one', 'two', 'three'], value: 'this is a secret'}, float: 3.14, int: 7, secret: 'this is a secret', string: 'string'}),
    dataKey: '81d247290bee0b25484e76101e727f63fc984896953fe4888864f49db529e73a',
    file: 'sops-age-secret.enc.yaml',
    key: 'sops-age-key.txt',
    mac: '3B83FDE1D6E139C4',
  },
  {
    check: (v) => expect(v).toEqual({a_list: ['e1', 'e3'], nested: {test: {file: 'another value'}}, test_key: 'test_value'}),
    dataKey: 'b9152942b7105527fd1fb9e2d9a1ee9bd03a7bb8edea26d311fda1a2e85056b2',
    file: 'sops-nix-secrets.yaml',
    key: 'sops-nix-age-keys.txt',
    mac: 'AF7CB2C2E1745855',
  },
  {
    check(v) {
      expect(v.service).toEqual({port: 92})
      expect(v.global_secret).toBe('global_age')
      expect(v.key).toHaveLength(910)
      expect(createHash('sha256').update(v.key).digest('hex')).toBe('8099c7b5f61230880482096ffa3c950db2ae11270d40383a963f3defc111a2d8')
    },
    dataKey: '6798cb778841891c459dde148789260418757698787d1fc2fc85bd23e1d98d6e',
    file: 'helm-secrets-secrets.age.yaml',
    key: 'helm-secrets-age-key.txt',
    mac: '4A7FB5B1229D56F1',
  },
  {
    check: (v) => expect(v).toEqual({a_encrypted: 'xxx', b_unencrypted: {a: 'aaa', b: [123, 456]}, c_encrypted: 'xxx', d_unencrypted: 'aaa'}),
    dataKey: '8b9ec0a6cd8c865f0bd9d354db95e8592523f8379220b9c36b460b2e5e10f8c4',
    file: 'rops-age_mac_only_encrypted.yaml',
    key: 'rops-age-key.txt',
    mac: '952F6F3CE9896925',
  },
]

async function identitiesOf(keyFile: string) {
  return parseIdentities(await fs.readFile(path.join(FIX, keyFile), 'utf8'), keyFile)
}

describe('real sops files (test/fixtures/sops)', () => {
  for (const fx of FIXTURES) {
    it(`${fx.file}: decrypts to the README's values, MAC verified`, async () => {
      const decrypted = await decryptSopsFile({file: path.join(FIX, fx.file), identities: await identitiesOf(fx.key)})
      fx.check(decrypted.values[0])
      expect(Buffer.from(decrypted.dataKey).toString('hex')).toBe(fx.dataKey)
      expect(decrypted.mac.startsWith(fx.mac)).toBe(true)
    })

    it(`${fx.file}: data key and MAC layers on their own`, async () => {
      const text = await fs.readFile(path.join(FIX, fx.file), 'utf8')
      const meta = readSopsMetadata(text, fx.file)!
      const [identity] = await identitiesOf(fx.key)
      const stanza = meta.keyGroups.flat().find((s) => s.recipient === identity.recipient)!
      const dataKey = await unwrapDataKey(stanza.enc, identity)
      expect(Buffer.from(dataKey!).toString('hex')).toBe(fx.dataKey)
      const mac = decryptMac(Buffer.from(fx.dataKey, 'hex'), meta.mac, meta.lastmodified)
      expect(mac?.startsWith(fx.mac)).toBe(true)
    })

    it(`${fx.file}: re-encrypting without changes keeps every value line byte-identical`, async () => {
      const text = await fs.readFile(path.join(FIX, fx.file), 'utf8')
      const decrypted = await decryptSopsText({file: fx.file, identities: await identitiesOf(fx.key), text})
      if (decrypted.metadata.otherKeyCount > 0) return
      const out = encryptDecrypted(decrypted, {now: new Date('2030-01-01T00:00:00Z')})
      expect(out.split('\nsops:')[0]).toBe(text.split('\nsops:')[0])
      if (fx.file.startsWith('rops')) return // rops wrote no version and an unquoted lastmodified: we add and quote them
      const before = text.split('\n')
      const after = out.split('\n')
      const differing = before.filter((line, i) => line !== after[i]).map((l) => l.trim().split(':')[0])
      expect(differing.every((k) => ['lastmodified', 'mac', 'version'].includes(k))).toBe(true)
      const again = await decryptSopsText({file: fx.file, identities: await identitiesOf(fx.key), text: out})
      fx.check(again.documents[0].toJS())
    })
  }

  it('the AES-GCM value layer decrypts a fixture value with its key path as additional data', () => {
    const enc = parseEnc('ENC[AES256_GCM,data:Ag==,iv:7mZlIiottanvOoufMaIRtOYNmq0yr3E0HBbChYkB7sc=,tag:FSHs1hYNQEkBAFCRYbcEUw==,type:int]')!
    const key = Buffer.from('81d247290bee0b25484e76101e727f63fc984896953fe4888864f49db529e73a', 'hex')
    expect(enc.iv).toHaveLength(32)
    expect(decryptParts(key, enc, 'int:')?.toString()).toBe('7')
    expect(decryptParts(key, enc, 'int')).toBeUndefined()
  })

  it('computes the MAC of sops-age-secret over every value in order', () => {
    const mac = computeMac(
      ['this is a secret', 'string', '7', '3.14', 'True', 'this is a secret', 'one', 'two', 'three'].map((text) => ({encrypted: true, text})),
      false,
    )
    expect(mac.startsWith('3B83FDE1D6E139C4')).toBe(true)
  })
})

describe('tampering', () => {
  const file = path.join(FIX, 'sops-age-secret.enc.yaml')
  it('a changed value is rejected naming the file', async () => {
    const text = (await fs.readFile(file, 'utf8')).replace('data:Ag==', 'data:Aw==')
    await expect(decryptSopsText({file: 'x/secret.yaml', identities: await identitiesOf('sops-age-key.txt'), text})).rejects.toThrow(/^x\/secret\.yaml: the value at int does not decrypt/)
  })

  it('a changed unencrypted value is a MAC mismatch', async () => {
    const text = (await fs.readFile(path.join(FIX, 'flux-kc-global-secret.yaml'), 'utf8')).replace('namespace: default', 'namespace: other')
    await expect(decryptSopsText({file: 'g.yaml', identities: await identitiesOf('flux-kc-age-global.agekey'), text})).rejects.toThrow(/^g\.yaml: MAC mismatch/)
  })

  it('a swapped MAC or lastmodified is a MAC mismatch', async () => {
    const text = await fs.readFile(file, 'utf8')
    const ids = await identitiesOf('sops-age-key.txt')
    await expect(decryptSopsText({file: 's.yaml', identities: ids, text: text.replace('2024-03-25T22:08:10Z', '2024-03-25T22:08:11Z')})).rejects.toThrow(/s\.yaml: MAC mismatch/)
    const other = readSopsMetadata(await fs.readFile(path.join(FIX, 'flux-kc-global-secret.yaml'), 'utf8'), 'a.yaml')!.mac
    const swapped = text.replace(/mac: ENC\[[^\]]+\]/, `mac: ${other}`)
    await expect(decryptSopsText({file: 's.yaml', identities: ids, text: swapped})).rejects.toThrow(/MAC mismatch/)
  })

  it('clear errors: malformed ENC, not a SOPS file, no identity', async () => {
    const text = await fs.readFile(file, 'utf8')
    const ids = await identitiesOf('sops-age-key.txt')
    await expect(decryptSopsText({file: 's.yaml', identities: ids, text: text.replace(',type:int]', ',type:int')})).rejects.toThrow(/s\.yaml: malformed ENC\[\.\.\.\] value at int/)
    await expect(decryptSopsText({file: 'p.yaml', identities: ids, text: 'a: 1\n'})).rejects.toThrow(/p\.yaml is not a SOPS file/)
    await expect(decryptSopsText({file: 's.yaml', identities: await identitiesOf('rops-age-key.txt'), text})).rejects.toThrow(
      /no age identity matches the recipients of s\.yaml: age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr, age19j4d6v/,
    )
  })
})

describe('files the engine writes', () => {
  let dir: string
  const ageAvailable = execa('age', ['--version'], {reject: false}).then((r) => r.exitCode === 0)

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-sops-write-'))
    await fs.writeFile(
      path.join(dir, '.sops.yaml'),
      [
        'creation_rules:',
        '  - path_regex: ^secrets/.*\\.sops\\.ya?ml$',
        `    age: ${DEMO}`,
        '  - path_regex: ^k8s/.*\\.ya?ml$',
        '    encrypted_regex: ^(data|stringData)$',
        `    age: ${DEMO}`,
        '  - path_regex: \\.json$',
        `    age: ${DEMO}`,
      ].join('\n'),
    )
  })
  afterAll(async () => {
    await fs.rm(dir, {force: true, recursive: true})
  })

  const ids = () => parseIdentitiesFile(DEMO_KEY)

  it('writes the sops 3.10 shape that sops-age and the age CLI read', async () => {
    const file = path.join(dir, 'secrets/host.sops.yaml')
    const plaintext = '# Host secrets\nkopia:\n    repository_password: hunter2\n    port: 51515\nr2:\n    ratio: 1.5\n    enabled: true\n    note_unencrypted: visible\nempty: ""\n'
    await createSopsFile({file, now: new Date('2026-01-02T03:04:05Z'), plaintext})
    const text = await fs.readFile(file, 'utf8')
    expect((await fs.stat(file)).mode & 0o777).toBe(0o644)
    expect(text).toMatch(/^#ENC\[AES256_GCM,data:[^,]+,iv:[^,]+,tag:[^,]+,type:comment\]\nkopia:\n {4}repository_password: ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:[A-Za-z0-9+/=]{44},tag:[A-Za-z0-9+/=]{24},type:str\]\n/)
    expect(text).toMatch(/ {4}port: ENC\[AES256_GCM,[^\]]+,type:int\]\n/)
    expect(text).toMatch(/ {4}ratio: ENC\[[^\]]+,type:float\]\n {4}enabled: ENC\[[^\]]+,type:bool\]\n {4}note_unencrypted: visible\nempty: ""\n/)
    expect(text).toMatch(
      /\nsops:\n {4}age:\n {8}- recipient: age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6\n {10}enc: \|\n {12}-----BEGIN AGE ENCRYPTED FILE-----\n( {12}[A-Za-z0-9+/]{64}\n){4} {12}[A-Za-z0-9+/=]{56}\n {12}-----END AGE ENCRYPTED FILE-----\n {4}lastmodified: "2026-01-02T03:04:05Z"\n {4}mac: ENC\[AES256_GCM,[^\]]+,type:str\]\n {4}unencrypted_suffix: _unencrypted\n {4}version: 3\.10\.2\n$/,
    )
    // Independent implementation (does not check the MAC, but checks every value's AAD and tag).
    const viaSopsAge = await decryptSops(text, {fileType: 'yaml', secretKey: (await ids())[0].identity})
    expect(viaSopsAge).toMatchObject({kopia: {port: 51515, repository_password: 'hunter2'}, r2: {enabled: true, note_unencrypted: 'visible', ratio: 1.5}})
    // Our reader, MAC included.
    const back = await decryptSopsFile({file, identities: await ids()})
    expect(back.values[0]).toEqual({empty: '', kopia: {port: 51515, repository_password: 'hunter2'}, r2: {enabled: true, note_unencrypted: 'visible', ratio: 1.5}})
    expect(back.documents[0].toString()).toContain('# Host secrets')
    // The data key opens with the real age CLI.
    expect(await ageAvailable).toBe(true)
    const meta = readSopsMetadata(text, file)!
    const age = await execa('age', ['-d', '-i', DEMO_KEY], {encoding: 'buffer', input: meta.keyGroups[0][0].enc})
    expect(Buffer.from(age.stdout).toString('hex')).toBe(Buffer.from(back.dataKey).toString('hex'))
  })

  it('Kubernetes Secrets: only data/stringData encrypted, comments and key order survive a round trip', async () => {
    const file = path.join(dir, 'k8s/secret.yaml')
    const plaintext = [
      'apiVersion: v1',
      'kind: Secret',
      'metadata:',
      '    name: app # the app',
      '    namespace: app',
      'type: Opaque',
      'stringData:',
      '    # the admin password',
      '    password: s3cret',
      '    "tls.crt": abc',
      '    zeta: "0755"',
      '    alpha: multi\\nline',
      '',
    ].join('\n')
    await createSopsFile({file, plaintext})
    const text = await fs.readFile(file, 'utf8')
    expect(text).toContain('    name: app # the app\n')
    expect(text).toContain('kind: Secret\n')
    expect(text).toMatch(/\n {4}#ENC\[AES256_GCM,[^\]]+,type:comment\]\n {4}password: ENC\[/)
    expect(text).toContain('    encrypted_regex: ^(data|stringData)$\n')
    expect(text).toContain('mac: ENC[')
    const viaSopsAge = await decryptSops(text, {fileType: 'yaml', secretKey: (await ids())[0].identity}).catch((error: Error) => error)
    // sops-age fails on type:comment (documented); our reader handles it.
    expect(viaSopsAge instanceof Error || (viaSopsAge as any).stringData.password === 's3cret').toBe(true)
    const back = await decryptSopsFile({file, identities: await ids()})
    expect(back.values[0]).toMatchObject({stringData: {alpha: 'multi\\nline', password: 's3cret', 'tls.crt': 'abc', zeta: '0755'}})
    expect(Object.keys((back.values[0] as any).stringData)).toEqual(['password', 'tls.crt', 'zeta', 'alpha'])
    const plain = back.documents[0].toString({indent: 4})
    expect(plain).toContain('    # the admin password\n    password: s3cret\n')
    expect(plain).toContain('zeta: "0755"')
  })

  it('set changes one value and leaves every other line byte-identical; the data key is kept', async () => {
    const file = path.join(dir, 'secrets/set.sops.yaml')
    await createSopsFile({file, plaintext: 'a: one\nb:\n    c: two\n    d: [x, y]\n'})
    await fs.chmod(file, 0o600)
    const before = await fs.readFile(file, 'utf8')
    const keyBefore = (await decryptSopsFile({file, identities: await ids()})).dataKey
    const result = await setSopsValues({file, identities: await ids(), now: new Date('2031-01-01T00:00:00Z'), values: {'b.c': 'three'}})
    expect(result).toEqual({changed: ['b.c'], created: false})
    const after = await fs.readFile(file, 'utf8')
    const b = before.split('\n')
    const a = after.split('\n')
    expect(a).toHaveLength(b.length)
    const changed = b.map((line, i) => (line === a[i] ? undefined : line.trim().split(':')[0])).filter(Boolean)
    expect(changed).toEqual(['c', 'lastmodified', 'mac'])
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
    const back = await decryptSopsFile({file, identities: await ids()})
    expect(back.values[0]).toEqual({a: 'one', b: {c: 'three', d: ['x', 'y']}})
    expect(Buffer.from(back.dataKey).equals(Buffer.from(keyBefore))).toBe(true)
    expect(await setSopsValues({file, identities: await ids(), values: {'b.c': 'three'}})).toEqual({changed: [], created: false})
    expect(await fs.readFile(file, 'utf8')).toBe(after)
    await expect(setSopsValues({file, identities: await ids(), values: {'b.d': 'x'}})).rejects.toThrow(/b\.d is a list, not a single value/)
    await setSopsValues({file, identities: await ids(), values: {'b.d.2': 'z', 'new."dotted.key"': 'v'}})
    expect((await decryptSopsFile({file, identities: await ids()})).values[0]).toEqual({a: 'one', b: {c: 'three', d: ['x', 'y', 'z']}, new: {'dotted.key': 'v'}})
  })

  it('set creates a missing file with the matching rule, and refuses a path no rule matches', async () => {
    const file = path.join(dir, 'k8s/new.yaml')
    expect(await setSopsValues({file, identities: await ids(), values: {'stringData.token': 't0k'}})).toEqual({changed: ['stringData.token'], created: true})
    expect(readSopsMetadata(await fs.readFile(file, 'utf8'), file)).toMatchObject({encryptedRegex: '^(data|stringData)$', recipients: [DEMO]})
    await expect(setSopsValues({file: path.join(dir, 'nowhere.txt'), identities: await ids(), values: {a: 'b'}})).rejects.toThrow(/no creation rule in .*\.sops\.yaml matches nowhere\.txt/)
  })

  it('JSON files: tab indented, "mac": "ENC[ for Flux, sops-age reads them', async () => {
    const text = await encryptDocumentText({configDir: dir, file: path.join(dir, 'a.json'), plaintext: '{"user": "me", "n": 3, "nested": {"list": ["a"]}}'})
    expect(text).toMatch(/^\{\n\t"user": "ENC\[AES256_GCM,/)
    expect(text).toContain('"mac": "ENC[')
    const viaSopsAge = await decryptSops(text, {fileType: 'json', secretKey: (await ids())[0].identity})
    expect(viaSopsAge).toMatchObject({n: 3, nested: {list: ['a']}, user: 'me'})
    const back = await decryptSopsText({file: 'a.json', identities: await ids(), text})
    expect(back.documents[0].toJS()).toEqual({n: 3, nested: {list: ['a']}, user: 'me'})
  })

  it('several YAML documents each carry the sops block and decrypt', async () => {
    const file = path.join(dir, 'secrets/multi.sops.yaml')
    await createSopsFile({file, plaintext: 'a: 1\n---\nb: two\n'})
    const text = await fs.readFile(file, 'utf8')
    expect(text.match(/^sops:$/gm)).toHaveLength(2)
    const back = await decryptSopsFile({file, identities: await ids()})
    expect(back.values).toEqual([{a: 1}, {b: 'two'}])
  })

  it('updatekeys re-wraps the same data key; values, MAC and lastmodified unchanged', async () => {
    const file = path.join(dir, 'secrets/keys.sops.yaml')
    await createSopsFile({file, plaintext: 'x: y\n'})
    const before = await fs.readFile(file, 'utf8')
    const {generateIdentity} = await import('../../../src/lib/age/index.js')
    const extra = await generateIdentity()
    const config = parseSopsConfig(`creation_rules:\n  - path_regex: ^secrets/\n    age: ${DEMO},${extra.recipient}\n`, path.join(dir, '.sops.yaml'))
    const result = await updateSopsKeys({config, file, identities: await ids()})
    expect(result).toMatchObject({added: [extra.recipient], changed: true, removed: []})
    const after = await fs.readFile(file, 'utf8')
    const meta = readSopsMetadata(after, file)!
    expect(meta.recipients).toEqual([DEMO, extra.recipient])
    expect(meta.mac).toBe(readSopsMetadata(before, file)!.mac)
    expect(meta.lastmodified).toBe(readSopsMetadata(before, file)!.lastmodified)
    expect(after.split('sops:')[0]).toBe(before.split('sops:')[0])
    const viaNew = await decryptSopsFile({file, identities: [extra]})
    expect(viaNew.values[0]).toEqual({x: 'y'})
    expect((await updateSopsKeys({config, file, identities: await ids()})).changed).toBe(false)
  })

  it('rotate draws a new data key and re-encrypts every value', async () => {
    const file = path.join(dir, 'secrets/rotate.sops.yaml')
    await createSopsFile({file, plaintext: 'x: y\nz: 1\n'})
    const before = await decryptSopsFile({file, identities: await ids()})
    await rotateSopsFile({file, identities: await ids()})
    const after = await decryptSopsFile({file, identities: await ids()})
    expect(after.values).toEqual(before.values)
    expect(Buffer.from(after.dataKey).equals(Buffer.from(before.dataKey))).toBe(false)
  })
})

async function parseIdentitiesFile(file: string) {
  return parseIdentities(await fs.readFile(file, 'utf8'), file)
}
