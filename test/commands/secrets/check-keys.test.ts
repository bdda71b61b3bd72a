import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {generateIdentity, listSopsFilesForTest, readSopsMetadata} from './sops-test-api.js'
import {runCli} from '../../helpers/cli.js'
import {copyHomelab, decryptWithDemo, DEMO_RECIPIENT, HOST_SECRETS, TUNNEL_SECRET} from './helpers.js'

describe('homelab secrets check / updatekeys / rotate', () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  beforeEach(async () => {
    repo = await copyHomelab()
  })
  afterEach(async () => {
    await repo.cleanup()
  })
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, {cwd: repo.dir, env: {...repo.env, ...env}})

  it('check passes on the bundled homelab and reports plaintext Secrets, wrong recipients and tampering (exit 1, also --json)', async () => {
    const ok = await cli(['secrets', 'check'])
    expect(ok.stdout).toMatch(/✓ \d+ files checked, \d+ MACs verified, 0 findings/)
    expect(ok.exitCode).toBe(0)

    await fs.writeFile(path.join(repo.dir, 'flux/clusters/azalab-0/manifests/apps/leak.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  password: hunter2\n')
    const host = path.join(repo.dir, HOST_SECRETS)
    const text = await fs.readFile(host, 'utf8')
    await fs.writeFile(host, text.replace(/(repository_password: ENC\[AES256_GCM,data:)(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A')))
    const other = await generateIdentity()
    const sopsYaml = path.join(repo.dir, '.sops.yaml')
    await fs.writeFile(sopsYaml, (await fs.readFile(sopsYaml, 'utf8')).replace(/(path_regex: \^flux[^\n]*\n(?:[^\n]*\n)*?\s+age: )age1\w+/, `$1${DEMO_RECIPIENT},${other.recipient}`))
    const bad = await cli(['secrets', 'check'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stdout).toContain('flux/clusters/azalab-0/manifests/apps/leak.yaml holds the Kubernetes Secret leak in plaintext')
    expect(bad.stdout).toContain(`${HOST_SECRETS}: the value at kopia.repository_password does not decrypt`)
    expect(bad.stdout).toContain(`${TUNNEL_SECRET} is not encrypted to exactly its creation rule's recipients; missing ${other.recipient}`)
    expect(bad.stdout).not.toContain('hunter2')
    const json = await cli(['secrets', 'check', '--json'])
    expect(json.exitCode).toBe(1)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({ok: false, staged: false})
    expect(report.findings.map((f: {kind: string}) => f.kind).sort()).toEqual(expect.arrayContaining(['mac', 'plaintext-secret', 'recipients']))
  })

  it('check --staged looks at the index; --install-hook installs a pre-commit hook that blocks a plaintext Secret', async () => {
    const git = (...args: string[]) => execa('git', args, {cwd: repo.dir, env: {GIT_AUTHOR_EMAIL: 't@e', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', HOME: repo.home}, reject: false})
    await git('init', '-q', '-b', 'main')
    await git('add', '-A')
    await git('commit', '-qm', 'initial')
    const hook = await cli(['secrets', 'check', '--install-hook'])
    expect(hook.exitCode).toBe(0)
    const hookFile = path.join(repo.dir, '.git/hooks/pre-commit')
    expect((await fs.stat(hookFile)).mode & 0o777).toBe(0o755)
    const leak = path.join(repo.dir, 'flux/clusters/azalab-0/manifests/apps/leak.yaml')
    await fs.writeFile(leak, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\ndata:\n  password: aHVudGVyMg==\n')
    const unstaged = await cli(['secrets', 'check', '--staged'])
    expect(unstaged.exitCode).toBe(0)
    await git('add', leak)
    const staged = await cli(['secrets', 'check', '--staged'])
    expect(staged.exitCode).toBe(1)
    expect(staged.stdout).toContain('leak.yaml holds the Kubernetes Secret leak in plaintext')
    const commit = await execa('git', ['commit', '-qm', 'leak'], {cwd: repo.dir, env: {...repo.env, GIT_AUTHOR_EMAIL: 't@e', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', PATH: process.env.PATH}, reject: false})
    expect(commit.exitCode).not.toBe(0)
    expect(commit.stdout + commit.stderr).toContain('leak.yaml holds the Kubernetes Secret leak in plaintext')
    expect((await git('log', '--oneline')).stdout.split('\n')).toHaveLength(1)
  })

  it('updatekeys adds a new recipient to every file: same data key, values, MAC and lastmodified', async () => {
    const other = await generateIdentity()
    const sopsYaml = path.join(repo.dir, '.sops.yaml')
    await fs.writeFile(sopsYaml, (await fs.readFile(sopsYaml, 'utf8')).replaceAll(`age: ${DEMO_RECIPIENT}`, `age: ${DEMO_RECIPIENT},${other.recipient}`))
    const files = await listSopsFilesForTest(repo.dir)
    const before = new Map<string, string>()
    for (const rel of files) before.set(rel, await fs.readFile(path.join(repo.dir, rel), 'utf8'))
    const r = await cli(['secrets', 'updatekeys', '--json'])
    expect(r.exitCode).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result.files.map((f: {file: string}) => f.file).sort()).toEqual(files)
    for (const entry of result.files) expect(entry).toMatchObject({added: [other.recipient], changed: true, removed: []})
    for (const rel of files) {
      const file = path.join(repo.dir, rel)
      const text = await fs.readFile(file, 'utf8')
      const meta = readSopsMetadata(text, file)!
      const old = readSopsMetadata(before.get(rel)!, file)!
      expect(meta.recipients).toEqual([DEMO_RECIPIENT, other.recipient])
      expect([meta.mac, meta.lastmodified]).toEqual([old.mac, old.lastmodified])
      expect(text.split('\nsops:')[0]).toBe(before.get(rel)!.split('\nsops:')[0])
    }

    const viaNew = await runCli(['secrets', 'get', HOST_SECRETS, '--all', '--json'], {cwd: repo.dir, env: {...repo.env, SOPS_AGE_KEY: other.identity, SOPS_AGE_KEY_FILE: ''}})
    expect(viaNew.exitCode).toBe(0)
    const again = await cli(['secrets', 'updatekeys', HOST_SECRETS])
    expect(again.stdout).toBe(`${HOST_SECRETS}: unchanged`)
  })

  it('rotate gives each file a new data key; values, recipients and modes kept', async () => {
    const host = path.join(repo.dir, HOST_SECRETS)
    await fs.chmod(host, 0o600)
    const before = await decryptWithDemo(host)
    const r = await cli(['secrets', 'rotate', '--json'])
    expect(r.exitCode).toBe(0)
    const files = await listSopsFilesForTest(repo.dir)
    expect(JSON.parse(r.stdout).files.map((f: {file: string}) => f.file).sort()).toEqual(files)
    const after = await decryptWithDemo(host)
    expect(after.values).toEqual(before.values)
    expect(Buffer.from(after.dataKey).equals(Buffer.from(before.dataKey))).toBe(false)
    expect(after.metadata.recipients).toEqual([DEMO_RECIPIENT])
    expect((await fs.stat(host)).mode & 0o777).toBe(0o600)
  })
})
