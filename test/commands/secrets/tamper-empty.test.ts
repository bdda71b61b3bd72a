import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../../src/lib/age/index.js'
import {checkSecrets, decryptSopsFile, editSopsFile, loadSopsConfig, rotateSopsFile, setSopsValues, SopsError} from '../../../src/lib/sops/index.js'
import {runCli} from '../../helpers/cli.js'
import {copyHomelab, DEMO_KEY, decryptWithDemo, HOST_SECRETS} from './helpers.js'

// Issue 11 item 3: the `type:` of an ENC[...] value is not authenticated (the additional data is
// only the key path). A type the plaintext does not parse as must be an error naming the file and
// key path, never echoing the value, and nothing may be rewritten.
// Issue 11 item 4: an empty string is never written as `ENC[AES256_GCM,data:,…]`.

const KEY = 'r2.secret_access_key'
const TYPES = ['int', 'bool', 'float'] as const
let repo: Awaited<ReturnType<typeof copyHomelab>>
let plaintext: string
let original: string

const file = () => path.join(repo.dir, HOST_SECRETS)
const identities = async () => parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)

/** The host secrets text with the type of r2.secret_access_key changed from str to `type`. */
function tampered(type: string): string {
  const out = original.replace(/^( {4}secret_access_key: ENC\[AES256_GCM,[^\]]*),type:str\]$/m, `$1,type:${type}]`)
  expect(out).not.toBe(original)
  return out
}

beforeAll(async () => {
  repo = await copyHomelab()
  original = await fs.readFile(file(), 'utf8')
  const decrypted = await decryptWithDemo(file())
  plaintext = (decrypted.values[0] as {r2: {secret_access_key: string}}).r2.secret_access_key
  expect(plaintext).toMatch(/[a-z]/) // parses as none of int, bool, float
})

afterAll(async () => {
  await repo.cleanup()
})

describe('a tampered type: field', () => {
  const expected = (type: string) => `${HOST_SECRETS}: the value at ${KEY} is not a valid ${type}: its type: field was changed outside sops`

  it.each(TYPES)('type:%s → get (decrypt), check and rotate fail naming the key path, never the value; nothing rewritten', async (type) => {
    const text = tampered(type)
    await fs.writeFile(file(), text)
    const ids = await identities()
    const getError = await decryptSopsFile({displayName: HOST_SECRETS, file: file(), identities: ids}).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(getError).toBeInstanceOf(SopsError)
    expect((getError as Error).message).toBe(expected(type))

    const report = await checkSecrets({config: await loadSopsConfig({dir: repo.dir}), identities: ids, inputs: [{rel: HOST_SECRETS, text}], root: repo.dir})
    expect(report.ok).toBe(false)
    expect(report.findings.map((f) => f.message)).toEqual([expected(type)])

    await expect(rotateSopsFile({displayName: HOST_SECRETS, file: file(), identities: ids})).rejects.toThrow(expected(type))
    expect(await fs.readFile(file(), 'utf8')).toBe(text)
    for (const message of [(getError as Error).message, ...report.findings.map((f) => f.message)]) expect(message).not.toContain(plaintext)
  })

  it('the CLI (type:int): get, check and rotate print one error naming file and key path, no value, no BigInt; exit 1; file unchanged', async () => {
    const text = tampered('int')
    await fs.writeFile(file(), text)
    const run = (args: string[]) => runCli(args, {cwd: repo.dir, env: repo.env})
    const [get, check, rotate] = await Promise.all([run(['secrets', 'get', HOST_SECRETS, KEY]), run(['secrets', 'check']), run(['secrets', 'rotate', HOST_SECRETS])])
    for (const result of [get, check, rotate]) {
      expect(result.exitCode).toBe(1)
      expect(result.stdout + result.stderr).not.toContain(plaintext)
      expect(result.stdout + result.stderr).not.toMatch(/BigInt|NaN/)
      expect(result.stdout + result.stderr).toContain(expected('int'))
    }

    expect(await fs.readFile(file(), 'utf8')).toBe(text)
  })

  it('a type the plaintext does parse as still reads (what sops does): an int stored as int', async () => {
    await fs.writeFile(file(), original)
    await setSopsValues({file: file(), identities: await identities(), values: {'r2.port': '8443'}})
    const withInt = (await fs.readFile(file(), 'utf8')).replace(/^( {4}port: ENC\[AES256_GCM,[^\]]*),type:str\]$/m, '$1,type:int]')
    await fs.writeFile(file(), withInt)
    const decrypted = await decryptSopsFile({file: file(), identities: await identities()})
    expect((decrypted.values[0] as {r2: {port: unknown}}).r2.port).toBe(8443)
    await fs.writeFile(file(), original)
  })
})

describe('an empty value', () => {
  it('set --value-stdin with nothing piped refuses naming the key and file; the file unchanged', async () => {
    await fs.writeFile(file(), original)
    const result = await runCli(['secrets', 'set', HOST_SECRETS, KEY, '--value-stdin'], {cwd: repo.dir, env: repo.env, input: ''})
    expect(result.exitCode).toBe(3)
    expect(result.stderr).toContain(`empty value for ${KEY} on stdin: nothing written to ${HOST_SECRETS}`)
    expect(await fs.readFile(file(), 'utf8')).toBe(original)
  })

  it('the engine (set and edit) writes an empty string as sops does: unencrypted "", never ENC[…,data:,…]', async () => {
    await fs.writeFile(file(), original)
    const ids = await identities()
    await setSopsValues({file: file(), identities: ids, values: {[KEY]: ''}})
    let text = await fs.readFile(file(), 'utf8')
    expect(text).not.toMatch(/data:,/)
    expect(text).toMatch(/^ {4}secret_access_key: ""$/m)
    expect((await decryptWithDemo(file())).values[0]).toMatchObject({r2: {secret_access_key: ''}})

    await editSopsFile({
      file: file(),
      identities: ids,
      async onInvalid() {
        return false
      },
      async runEditor(temp) {
        await fs.writeFile(temp, (await fs.readFile(temp, 'utf8')).replace(/^( {4}access_key_id:).*$/m, "$1 ''"))
      },
    })
    text = await fs.readFile(file(), 'utf8')
    expect(text).not.toMatch(/data:,/)
    expect((await decryptWithDemo(file())).values[0]).toMatchObject({r2: {access_key_id: '', secret_access_key: ''}})
    await fs.writeFile(file(), original)
  })
})
