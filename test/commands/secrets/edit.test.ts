import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyHomelab, decryptWithDemo, HOST_SECRETS} from './helpers.js'

/**
 * Fake $EDITOR scripts (test inputs): each logs the temp file it got and its folder's mode to
 * $EDIT_LOG, then changes the file as the scenario says.
 */
const EDITORS: Record<string, string> = {
  change: `sed -i 's/^\\(    account_id:\\).*/\\1 edited-account/' "$1"`,
  invalid: `printf 'kopia: [unclosed\\n' > "$1"`,
  none: 'true',
  sigint: `node -e 'process.kill(Number(process.argv[1]), "SIGINT")' "$(ps -o ppid= -p $PPID | tr -d ' ')"; sleep 2`,
  fail: 'exit 4',
  create: `printf 'apiVersion: v1\\nkind: Secret\\nmetadata:\\n    name: x\\nstringData:\\n    token: abc\\n' > "$1"`,
}

describe('homelab secrets edit', () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  let log: string
  beforeAll(async () => {
    repo = await copyHomelab()
    log = path.join(repo.home, 'edit.log')
    for (const [name, body] of Object.entries(EDITORS)) {
      const script = path.join(repo.home, `editor-${name}.sh`)
      await fs.writeFile(script, `#!/bin/sh\necho "$1 $(stat -c %a "$(dirname "$1")") $(stat -c %a "$1")" >> "$EDIT_LOG"\n${body}\n`, {mode: 0o755})
    }
  })
  afterAll(async () => {
    await repo.cleanup()
  })
  const edit = (scenario: string, file = HOST_SECRETS) =>
    runCli(['secrets', 'edit', file], {cwd: repo.dir, env: {...repo.env, EDIT_LOG: log, EDITOR: path.join(repo.home, `editor-${scenario}.sh`), VISUAL: ''}})
  const lastEdit = async () => {
    const lines = (await fs.readFile(log, 'utf8')).trim().split('\n')
    const [file, dirMode, fileMode] = lines.at(-1)!.split(' ')
    return {dirMode, file, fileMode}
  }

  it('writes back a change with the same data key; other value lines stay byte-identical; the private folder is 0700 and removed', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const keyBefore = (await decryptWithDemo(file)).dataKey
    const r = await edit('change')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain(`${HOST_SECRETS}: updated`)
    const seen = await lastEdit()
    expect(seen.dirMode).toBe('700')
    expect(seen.fileMode).toBe('600')
    if (existsSync('/dev/shm')) expect(seen.file.startsWith('/dev/shm/')).toBe(true)
    expect(existsSync(path.dirname(seen.file))).toBe(false)
    const after = await fs.readFile(file, 'utf8')
    const changed = before.split('\n').flatMap((line, i) => (line === after.split('\n')[i] ? [] : [line.trim().split(':')[0]]))
    expect(changed.filter((k) => k !== 'lastmodified')).toEqual(['account_id', 'mac'])
    const decrypted = await decryptWithDemo(file)
    expect((decrypted.values[0] as any).r2.account_id).toBe('edited-account')
    expect(Buffer.from(decrypted.dataKey).equals(Buffer.from(keyBefore))).toBe(true)
    expect(decrypted.documents[0].toString()).toContain('#') // comments survived
  })

  it('no change: nothing written', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const r = await edit('none')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('no change; nothing written')
    expect(await fs.readFile(file, 'utf8')).toBe(before)
    expect(existsSync(path.dirname((await lastEdit()).file))).toBe(false)
  })

  it('invalid YAML without a terminal: fails clearly, nothing written, no plaintext left', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const r = await edit('invalid')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`${HOST_SECRETS}: the edited text is not valid YAML`)
    expect(r.stderr).toContain('nothing was written')
    expect(await fs.readFile(file, 'utf8')).toBe(before)
    expect(existsSync(path.dirname((await lastEdit()).file))).toBe(false)
  })

  it('a failing editor writes nothing; Ctrl-C (SIGINT) removes the private folder', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const failed = await edit('fail')
    expect(failed.exitCode).toBe(1)
    expect(failed.stderr).toContain('exited with 4')
    expect(existsSync(path.dirname((await lastEdit()).file))).toBe(false)
    const interrupted = await edit('sigint')
    expect(interrupted.exitCode).toBe(130)
    expect(existsSync(path.dirname((await lastEdit()).file))).toBe(false)
    expect(await fs.readFile(file, 'utf8')).toBe(before)
  })

  it('a missing file is created with its creation rule', async () => {
    const rel = 'flux/clusters/azalab-0/manifests/apps/edited/secret.sops.yaml'
    const r = await edit('create', rel)
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain(`${rel}: created`)
    const text = await fs.readFile(path.join(repo.dir, rel), 'utf8')
    expect(text).toContain('    name: x\n')
    expect(text).toMatch(/token: ENC\[AES256_GCM,/)
  })
})
