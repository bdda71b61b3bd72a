import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {hashPassword, isPasswordHash, randomSalt, verifyPassword} from '../../../src/lib/host/install/password-hash.js'

/** openssl passwd -6 (OpenSSL's own SHA-512 crypt), the independent implementation the hashes are checked against. */
async function opensslHash(password: string, salt: string): Promise<string> {
  const {stdout} = await execa('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], {input: `${password}\n`})
  return stdout.trim()
}

describe('hashPassword (sha-512 crypt)', () => {
  it.each([
    ['correct horse battery staple', 'saltsaltsalt'],
    ['pässwörd with ünïcode', 'AbC./0123456789x'],
    ["quote ' and $dollar", 'x'],
  ])('matches openssl passwd -6 for %j', async (password, salt) => {
    const hash = await hashPassword(password, salt)
    expect(hash).toBe(await opensslHash(password, salt))
    expect(isPasswordHash(hash)).toBe(true)
    expect(await verifyPassword(password, hash)).toBe(true)
    expect(await verifyPassword(`${password}x`, hash)).toBe(false)
  })

  it('uses a fresh 16-character salt by default', async () => {
    const a = await hashPassword('pw')
    const b = await hashPassword('pw')
    expect(a).not.toBe(b)
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$/)
    expect(randomSalt()).toMatch(/^[./0-9A-Za-z]{16}$/)
    expect(await opensslHash('pw', a.split('$')[2])).toBe(a)
  })

  it('refuses an empty password and a bad salt', async () => {
    await expect(hashPassword('')).rejects.toThrow('empty password')
    await expect(hashPassword('pw', 'bad salt')).rejects.toThrow('salt')
  })
})
