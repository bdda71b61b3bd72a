import {execa} from 'execa'
import {Decrypter, Encrypter, armor, generateX25519Identity, identityToRecipient} from 'age-encryption'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {AgeDecryptError, unwrapDataKey, wrapDataKey, parseIdentities, loadIdentities, generateIdentity, formatIdentity} from '../../../src/lib/age/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const key = Buffer.from('81d247290bee0b25484e76101e727f63fc984896953fe4888864f49db529e73a', 'hex')

describe('age data-key layer', () => {
  it('what wrapDataKey writes: armored 64/64/64/64/56, typage and the age CLI decrypt it', async () => {
    const [demo] = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
    const armored = await wrapDataKey(key, demo.recipient)
    const lines = armored.split('\n')
    expect(lines[0]).toBe('-----BEGIN AGE ENCRYPTED FILE-----')
    expect(lines.slice(1, 6).map((l) => l.length)).toEqual([64, 64, 64, 64, 56])
    expect(lines[6]).toBe('-----END AGE ENCRYPTED FILE-----')
    expect(armored.endsWith('-----\n')).toBe(true)
    const d = new Decrypter()
    d.addIdentity(demo.identity)
    expect(Buffer.from(await d.decrypt(armor.decode(armored))).equals(key)).toBe(true)
    const cli = await execa('age', ['-d', '-i', DEMO_KEY], {encoding: 'buffer', input: armored})
    expect(Buffer.from(cli.stdout).equals(key)).toBe(true)
  })

  it('reads what typage and the age CLI write, and says undefined for another identity', async () => {
    const [demo] = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
    const e = new Encrypter()
    e.addRecipient(demo.recipient)
    const viaTypage = armor.encode(await e.encrypt(key))
    expect(Buffer.from((await unwrapDataKey(viaTypage, demo))!).equals(key)).toBe(true)
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-age-'))
    try {
      await fs.writeFile(path.join(dir, 'key.bin'), key)
      const other = await generateIdentity()
      const cli = await execa('age', ['-a', '-r', demo.recipient, '-r', other.recipient, path.join(dir, 'key.bin')])
      expect(Buffer.from((await unwrapDataKey(cli.stdout, demo))!).equals(key)).toBe(true)
      expect(Buffer.from((await unwrapDataKey(cli.stdout, other))!).equals(key)).toBe(true)
      const stranger = await generateIdentity()
      expect(await unwrapDataKey(cli.stdout, stranger)).toBeUndefined()
    } finally {
      await fs.rm(dir, {force: true, recursive: true})
    }
  })

  it('a damaged file or armor is an AgeDecryptError, not "not for me"', async () => {
    const [demo] = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
    const raw = armor.decode(await wrapDataKey(key, demo.recipient))
    raw[raw.length - 1] ^= 1
    await expect(unwrapDataKey(armor.encode(raw), demo)).rejects.toThrow(AgeDecryptError)
    await expect(unwrapDataKey('-----BEGIN AGE ENCRYPTED FILE-----\nabc\n\n-----END AGE ENCRYPTED FILE-----', demo)).rejects.toThrow(/malformed age armor/)
  })
})

describe('identities', () => {
  it('SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the user key file, in that order, without duplicates', async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-ids-'))
    try {
      const a = await generateIdentity()
      const b = await generateIdentity()
      await fs.mkdir(path.join(home, '.config/sops/age'), {recursive: true})
      await fs.writeFile(path.join(home, '.config/sops/age/keys.txt'), formatIdentity(b, new Date()) + formatIdentity(a, new Date()))
      const ids = await loadIdentities({env: {SOPS_AGE_KEY: a.identity, SOPS_AGE_KEY_FILE: DEMO_KEY}, homeDir: home})
      expect(ids.map((i) => i.recipient)).toEqual([a.recipient, 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6', b.recipient])
      const xdg = await loadIdentities({env: {XDG_CONFIG_HOME: path.join(home, 'nothing')}, homeDir: home})
      expect(xdg).toEqual([])
      await expect(loadIdentities({env: {SOPS_AGE_KEY_FILE: path.join(home, 'missing')}, homeDir: home})).rejects.toThrow(/cannot read SOPS_AGE_KEY_FILE/)
      await expect(parseIdentities('# c\nAGE-SECRET-KEY-1NOPE\n', 'keys.txt')).rejects.toThrow(/^keys\.txt:2: /)
    } finally {
      await fs.rm(home, {force: true, recursive: true})
    }
  })
})

describe('key encoding', () => {
  it('recipients of typage identities and of generated identities agree with the age CLI', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-age-'))
    try {
      const theirs = await generateX25519Identity()
      const [parsed] = await parseIdentities(theirs, 'typage')
      expect(parsed.recipient).toBe(await identityToRecipient(theirs))
      const mine = await generateIdentity()
      for (const [name, id] of [['theirs', parsed], ['mine', mine]] as const) {
        await fs.writeFile(path.join(dir, name), formatIdentity(id, new Date()))
        const pub = await execa('age-keygen', ['-y', path.join(dir, name)])
        expect(pub.stdout.trim()).toBe(id.recipient)
      }
    } finally {
      await fs.rm(dir, {force: true, recursive: true})
    }
  })
})
