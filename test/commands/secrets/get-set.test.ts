import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateIdentity, readSopsMetadata} from '../../../src/lib/sops/index.js'
import {runCli} from '../../helpers/cli.js'
import {copyHomelab, decryptWithDemo, DEMO_RECIPIENT, HOST_SECRETS} from './helpers.js'

describe('homelab secrets get / set', () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  beforeAll(async () => {
    repo = await copyHomelab()
  })
  afterAll(async () => {
    await repo.cleanup()
  })
  const cli = (args: string[], input?: string, env: Record<string, string> = {}) => runCli(args, {cwd: repo.dir, env: {...repo.env, ...env}, input})

  it('get prints one value, --json has {file, keyPath, value}, --all the whole document', async () => {
    const expected = ((await decryptWithDemo(path.join(repo.dir, HOST_SECRETS))).values[0] as any).kopia.repository_password
    const r = await cli(['secrets', 'get', HOST_SECRETS, 'kopia.repository_password'])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(expected)
    const j = await cli(['secrets', 'get', HOST_SECRETS, 'r2', '--json'])
    expect(j.exitCode).toBe(0)
    const json = JSON.parse(j.stdout)
    expect(json.file).toBe(HOST_SECRETS)
    expect(json.keyPath).toBe('r2')
    expect(Object.keys(json.value)).toEqual(expect.arrayContaining(['access_key_id', 'secret_access_key', 'account_id']))
    const all = await cli(['secrets', 'get', HOST_SECRETS, '--all'])
    expect(all.stdout).toContain(`repository_password: ${expected}`)
    expect(all.stdout).not.toContain('ENC[')
  })

  it('get: clear one-line errors and exit codes', async () => {
    const unknown = await cli(['secrets', 'get', HOST_SECRETS, 'kopia.nope'])
    expect(unknown.exitCode).toBe(1)
    expect(unknown.stderr).toContain(`unknown key path kopia.nope in ${HOST_SECRETS}`)
    const unknownJson = await cli(['secrets', 'get', HOST_SECRETS, 'kopia.nope', '--json'])
    expect(unknownJson.exitCode).toBe(1)
    const other = await generateIdentity()
    const noKey = await cli(['secrets', 'get', HOST_SECRETS, 'kopia.repository_password'], undefined, {SOPS_AGE_KEY: other.identity, SOPS_AGE_KEY_FILE: ''})
    expect(noKey.exitCode).toBe(1)
    expect(noKey.stderr).toContain(`no age identity matches the recipients of ${HOST_SECRETS}: ${DEMO_RECIPIENT}`)
    const notSops = await cli(['secrets', 'get', 'homelab.yaml', 'a'])
    expect(notSops.stderr).toContain('homelab.yaml is not a SOPS file')
    const usage = await cli(['secrets', 'get', HOST_SECRETS])
    expect(usage.exitCode).toBe(3)
    expect(usage.stderr).toContain('--all')
  })

  it('set --value-stdin changes one line (plus lastmodified and mac), keeps mode and data key; the value never appears in output', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    await fs.chmod(file, 0o600)
    const before = await fs.readFile(file, 'utf8')
    const keyBefore = (await decryptWithDemo(file)).dataKey
    const secret = 'n3w-S3cret-value'
    const r = await cli(['secrets', 'set', HOST_SECRETS, 'r2.secret_access_key', '--value-stdin', '--json'], `${secret}\n`)
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({changed: true, created: false, file: HOST_SECRETS, keyPath: 'r2.secret_access_key', schemaVersion: 1})
    expect(r.stdout + r.stderr).not.toContain(secret)
    const after = await fs.readFile(file, 'utf8')
    const b = before.split('\n')
    const a = after.split('\n')
    expect(a).toHaveLength(b.length)
    const changed = b.flatMap((line, i) => (line === a[i] ? [] : [line.trim().split(':')[0]]))
    expect(changed.filter((k) => k !== 'lastmodified')).toEqual(['secret_access_key', 'mac'])
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
    const decrypted = await decryptWithDemo(file)
    expect((decrypted.values[0] as any).r2.secret_access_key).toBe(secret)
    expect(Buffer.from(decrypted.dataKey).equals(Buffer.from(keyBefore))).toBe(true)
    expect(readSopsMetadata(after, file)?.recipients).toEqual([DEMO_RECIPIENT])
  })

  it('set without --value-stdin and without a terminal fails naming the flag', async () => {
    const r = await cli(['secrets', 'set', HOST_SECRETS, 'r2.account_id'])
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('--value-stdin is required when not running in a terminal')
    const json = await cli(['secrets', 'set', HOST_SECRETS, 'r2.account_id', '--json'])
    expect(json.exitCode).toBe(3)
    expect(JSON.parse(json.stdout).error.message).toContain('--value-stdin')
  })

  it('set creates a new app secret with its creation rule (encrypted_regex, recipients), quoted key paths', async () => {
    const rel = 'flux/clusters/azalab-0/manifests/apps/newapp/secret.sops.yaml'
    const r = await cli(['secrets', 'set', rel, 'stringData."tls.crt"', '--value-stdin'], 'CERT')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain(`created ${rel}`)
    const file = path.join(repo.dir, rel)
    const text = await fs.readFile(file, 'utf8')
    expect(text).toMatch(/^stringData:\n {4}tls\.crt: ENC\[AES256_GCM,/)
    expect(readSopsMetadata(text, file)).toMatchObject({encryptedRegex: '^(data|stringData)$', recipients: [DEMO_RECIPIENT]})
    expect((await fs.stat(file)).mode & 0o777).toBe(0o644)
    const got = await cli(['secrets', 'get', rel, 'stringData."tls.crt"'])
    expect(got.stdout).toBe('CERT')
    const noRule = await cli(['secrets', 'set', 'notes/secret.yaml', 'a', '--value-stdin'], 'x')
    expect(noRule.exitCode).toBe(1)
    expect(noRule.stderr).toContain('no creation rule in')
  })
})
