import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyHomelab, HOST_SECRETS} from './helpers.js'

// Issue 11 item 9: without an identity, `secrets check` printed "✓ N files checked, 0 MACs
// verified" and exited 0 even for a tampered file. It must say the MACs were not verified (no ✓
// for them), and fail under CI=true or with --require-mac.

let repo: Awaited<ReturnType<typeof copyHomelab>>
let noKey: Record<string, string>

beforeAll(async () => {
  repo = await copyHomelab()
  // Tamper a value: change the first character of the ciphertext of r2.secret_access_key.
  const file = path.join(repo.dir, HOST_SECRETS)
  const text = await fs.readFile(file, 'utf8')
  const tampered = text.replace(/(secret_access_key: ENC\[AES256_GCM,data:)(.)/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`)
  expect(tampered).not.toBe(text)
  await fs.writeFile(file, tampered)
  noKey = {...repo.env, SOPS_AGE_KEY: '', SOPS_AGE_KEY_FILE: ''}
})

afterAll(async () => {
  await repo.cleanup()
})

describe('secrets check without an age identity', () => {
  it('says the MACs were not verified (no ✓), exit 0 outside CI; exit 1 under CI=true or --require-mac; a key finds the tampering', async () => {
    const run = (args: string[], env: Record<string, string>) => runCli(['secrets', 'check', ...args], {cwd: repo.dir, env})
    const [plain, ci, required, json, withKey] = await Promise.all([
      run([], {...noKey, CI: ''}),
      run([], {...noKey, CI: 'true'}),
      run(['--require-mac'], {...noKey, CI: ''}),
      run(['--json'], {...noKey, CI: 'true'}),
      run([], repo.env),
    ])

    const summary = (stdout: string) => stdout.trim().split('\n').at(-1)!
    expect(plain.exitCode).toBe(0)
    expect(plain.stdout).not.toContain('✓')
    expect(summary(plain.stdout)).toMatch(/^! \d+ files checked, 0 MACs verified, 0 findings; the MACs of \d+ SOPS files were NOT verified: no age identity for their recipients/)
    expect(plain.stdout).toContain(`- ${HOST_SECRETS}: MAC NOT verified`)

    expect(ci.exitCode).toBe(1)
    expect(summary(ci.stdout)).toMatch(/^✗ .*were NOT verified.*; this fails under CI$/)
    expect(required.exitCode).toBe(1)
    expect(summary(required.stdout)).toMatch(/^✗ .*; this fails with --require-mac$/)

    expect(json.exitCode).toBe(1)
    const report = JSON.parse(json.stdout) as {ok: boolean; macRequired: boolean; macVerified: number; macUnchecked: string[]}
    expect(report).toMatchObject({macRequired: true, macVerified: 0, ok: false})
    expect(report.macUnchecked).toContain(HOST_SECRETS)

    expect(withKey.exitCode).toBe(1)
    expect(withKey.stdout).toContain(`✗ ${HOST_SECRETS}:`)
  })
})
