import {execa} from 'execa'
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createSopsFile} from '../../src/lib/sops/index.js'
import {type BackupFixture, backupScriptEnv, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {installBackupStandIns} from '../helpers/backup-units.js'
import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {copyBundledHomelab} from '../helpers/copy-homelab.js'
import {type S3TestServer, startS3Server} from '../helpers/s3-server.js'

const BUCKET = 'azalab-kopia'
const PLAIN = 'plain-sync'
const MARKER = 'homelab/offsite-protection.json'
const DAY = 86_400_000
const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

// The off-site protection of scripts/kopia-r2-sync.sh against a real S3-protocol server (s3rver on
// loopback): the stand-in kopia keeps a blob model in its filesystem repository and really copies
// blobs into the bucket with rclone; the script lists, cleans and marks the bucket with real rclone.
// Then `homelab backup offsite` (protection, --restore-test) reads what the sync wrote.
describe('kopia-r2-sync: an off-site copy a local deletion or corruption cannot reach', () => {
  let fx: BackupFixture
  let s3: S3TestServer
  let env: Record<string, string>
  let repository: string

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'rclone', 'tar'])
    s3 = await startS3Server([BUCKET, PLAIN])
    fx = await makeBackupFixture()
    const binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    await fs.writeFile(path.join(fx.hostDir, 'sources'), fx.sources.join('\n') + '\n')
    repository = path.join(fx.hostDir, 'repository')
    env = {
      ...backupScriptEnv(fx, s3, binDir),
      R2_BUCKET: BUCKET,
      R2_DELETE_AFTER_DAYS: '30',
      R2_PREFIX: 'kopia/',
    }
    const r = await run('kopia-backup.sh')
    expect(r.exitCode, r.stderr).toBe(0)
  }, 120_000)
  afterAll(async () => {
    await s3?.stop()
    await fx?.remove()
  })

  const run = (script: string, extra: Record<string, string> = {}) =>
    execa('bash', [path.join(REPO_ROOT, 'scripts', script)], {env: {...env, ...extra}, extendEnv: false, reject: false})
  const sync = (extra: Record<string, string> = {}) => run('kopia-r2-sync.sh', extra)
  const readState = async (name: string) => JSON.parse(await fs.readFile(path.join(fx.stateDir, name), 'utf8'))
  const marker = async () => JSON.parse(String(await s3.get(BUCKET, MARKER)))
  /** Blob ID → file of the local repository (kopia's sharded layout: the path without "/" and ".f"). */
  const localBlobs = async (): Promise<Map<string, string>> => {
    const map = new Map<string, string>()
    for (const rel of await fs.readdir(repository, {recursive: true})) {
      const file = path.join(repository, rel)
      if (rel.endsWith('.f') && (await fs.stat(file)).isFile()) map.set(rel.replaceAll('/', '').slice(0, -2), file)
    }

    return map
  }

  const original = new Map<string, string>()
  let deleted = ''
  let overwritten = ''

  it('the stand-in keeps kopia blobs and `blob list --json` replays kopia\'s shape', async () => {
    const r = await execa('kopia', ['blob', 'list', '--json'], {env, extendEnv: false})
    expect(r.stdout.startsWith('[\n {"id":')).toBe(true)
    const list = JSON.parse(r.stdout) as {id: string; length: number; timestamp: string}[]
    const ids = list.map((b) => b.id)
    expect(ids).toContain('kopia.repository')
    expect(ids.filter((id) => /^p[0-9a-f]{32}-s[0-9a-f]{16}-c1$/.test(id))).toHaveLength(4)
    expect(ids.filter((id) => /^q[0-9a-f]{32}-s[0-9a-f]{16}-c1$/.test(id))).toHaveLength(4)
    for (const b of list) expect(b.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    const files = await localBlobs()
    expect([...files.keys()].sort()).toEqual([...ids].sort())
    expect(list.find((b) => b.id === ids[1])?.length).toBe((await fs.stat(files.get(ids[1])!)).size)
    const unknown = await execa('kopia', ['repository', 'sync-to', 's3', `--bucket=${BUCKET}`, '--mirror'], {env, extendEnv: false, reject: false})
    expect(unknown.exitCode).toBe(1)
    expect(unknown.stderr).toContain("unknown long flag '--mirror'")
  })

  it('the first sync copies every blob, records each blob\'s length and sha256 and writes the marker', async () => {
    const r = await sync()
    expect(r.exitCode, r.stderr + r.stdout).toBe(0)
    expect(r.stdout).toContain('NOTE: By default no BLOBs are deleted')
    const files = await localBlobs()
    const keys = await s3.keys(BUCKET)
    expect(keys).toEqual([MARKER, ...[...files.keys()].map((id) => `kopia/${id}`)].sort())
    for (const [id, file] of files) original.set(id, sha256(await fs.readFile(file)))
    const m = await marker()
    expect(m).toMatchObject({bucket: BUCKET, deleteAfterDays: 30, mode: 'delayed-delete', oldestPendingSince: null, pending: 0, prefix: 'kopia/', version: 1})
    expect(m.uniqueID).toMatch(/^[0-9a-f]{64}$/)
    expect(Object.keys(m.blobs).sort()).toEqual([...files.keys()].sort())
    for (const [id, file] of files) expect(m.blobs[id]).toEqual({length: (await fs.stat(file)).size, sha256: original.get(id)})
    expect(Date.now() - Date.parse(m.updatedAt)).toBeLessThan(DAY)
    expect(await readState('last-sync.json')).toMatchObject({endpoint: s3.endpoint, error: null, result: 'success'})
  }, 120_000)

  it('the stand-in honours kopia\'s default --update: without --no-update a newer local blob overwrites the bucket (what the script avoids)', async () => {
    const files = await localBlobs()
    const id = [...files.keys()].find((k) => k.startsWith('q'))!
    const args = ['repository', 'sync-to', 's3', `--bucket=${PLAIN}`, '--prefix=kopia/', `--endpoint=${s3.endpoint.replace('http://', '')}`, '--disable-tls']
    expect((await execa('kopia', args, {env, extendEnv: false, reject: false})).exitCode).toBe(0)
    const before = await fs.readFile(files.get(id)!)
    await fs.writeFile(files.get(id)!, 'garbage, newer')
    const future = new Date(Date.now() + 3_600_000)
    await fs.utimes(files.get(id)!, future, future)
    const r = await execa('kopia', args, {env, extendEnv: false, reject: false})
    await fs.writeFile(files.get(id)!, before)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(String(await s3.get(PLAIN, `kopia/${id}`))).toBe('garbage, newer')
  }, 60_000)

  it('a blob deleted locally stays in R2 and a local blob overwritten with garbage (newer mtime) keeps its good bytes in R2', async () => {
    const files = await localBlobs()
    const packs = [...files.keys()].filter((id) => id.startsWith('p')).sort()
    deleted = packs[0]
    overwritten = packs[1]
    await fs.rm(files.get(deleted)!)
    await fs.writeFile(files.get(overwritten)!, Buffer.alloc(5000, 0x5a))
    const future = new Date(Date.now() + 3_600_000)
    await fs.utimes(files.get(overwritten)!, future, future)

    const r = await sync()
    expect(r.exitCode, r.stderr + r.stdout).toBe(0)
    expect(sha256((await s3.get(BUCKET, `kopia/${deleted}`))!)).toBe(original.get(deleted))
    expect(sha256((await s3.get(BUCKET, `kopia/${overwritten}`))!)).toBe(original.get(overwritten))
    const ledger = await readState('offsite-ledger.json')
    expect(Object.keys(ledger)).toEqual([deleted])
    expect(Date.now() - Date.parse(ledger[deleted])).toBeLessThan(DAY)
    const m = await marker()
    expect(m).toMatchObject({oldestPendingSince: ledger[deleted], pending: 1})
    // The records keep the bytes that were copied, not the garbage.
    expect(m.blobs[overwritten].sha256).toBe(original.get(overwritten))
    expect(m.blobs[deleted].sha256).toBe(original.get(deleted))
    expect(r.stdout).toContain('deletions reach the bucket after 30 days; 1 blobs pending deletion')
  }, 120_000)

  it('a blob that reappears locally leaves the ledger', async () => {
    const files = await localBlobs()
    const id = [...files.keys()].find((k) => k.startsWith('q'))!
    const bytes = await fs.readFile(files.get(id)!)
    await fs.rm(files.get(id)!)
    expect((await sync()).exitCode).toBe(0)
    expect(Object.keys(await readState('offsite-ledger.json')).sort()).toEqual([deleted, id].sort())
    await fs.writeFile(files.get(id)!, bytes)
    expect((await sync()).exitCode).toBe(0)
    expect(Object.keys(await readState('offsite-ledger.json'))).toEqual([deleted])
  }, 120_000)

  it('once a ledger entry is older than the window, the next sync deletes the blob in R2', async () => {
    const ledgerFile = path.join(fx.stateDir, 'offsite-ledger.json')
    const ledger = await readState('offsite-ledger.json')
    // 29 days: still inside the window.
    ledger[deleted] = new Date(Date.now() - 29 * DAY).toISOString().replace(/\.\d+Z$/, 'Z')
    await fs.writeFile(ledgerFile, JSON.stringify(ledger))
    expect((await sync()).exitCode).toBe(0)
    expect(await s3.get(BUCKET, `kopia/${deleted}`)).not.toBeNull()

    ledger[deleted] = new Date(Date.now() - 31 * DAY).toISOString().replace(/\.\d+Z$/, 'Z')
    await fs.writeFile(ledgerFile, JSON.stringify(ledger))
    const r = await sync()
    expect(r.exitCode, r.stderr + r.stdout).toBe(0)
    expect(r.stdout).toContain(`deleted kopia/${deleted} (missing locally since ${ledger[deleted]})`)
    expect(await s3.get(BUCKET, `kopia/${deleted}`)).toBeNull()
    expect(await readState('offsite-ledger.json')).toEqual({})
    const m = await marker()
    expect(m).toMatchObject({oldestPendingSince: null, pending: 0})
    expect(m.blobs[deleted]).toBeUndefined()
    // The overwritten blob is untouched: it still exists locally, so it is never a deletion candidate.
    expect(sha256((await s3.get(BUCKET, `kopia/${overwritten}`))!)).toBe(original.get(overwritten))
  }, 120_000)

  it('a local repository emptied entirely: nothing copied or deleted, exit 1, one clear error', async () => {
    const ledgerFile = path.join(fx.stateDir, 'offsite-ledger.json')
    const before = await s3.keys(BUCKET)
    // Even a ledger entry far past the window is not acted on.
    const victim = before.find((k) => k.startsWith('kopia/q'))!.slice('kopia/'.length)
    await fs.writeFile(ledgerFile, JSON.stringify({[victim]: new Date(Date.now() - 90 * DAY).toISOString()}))
    await fs.rename(repository, `${repository}.away`)
    await fs.mkdir(repository)
    const r = await sync()
    await fs.rm(repository, {recursive: true})
    await fs.rename(`${repository}.away`, repository)
    await fs.writeFile(ledgerFile, '{}')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`refusing to copy or delete anything in s3://${BUCKET}/kopia/`)
    expect(await s3.keys(BUCKET)).toEqual(before)
    expect(await readState('last-sync.json')).toMatchObject({error: expect.stringContaining('refusing to copy or delete anything'), exitCode: 1, result: 'failed'})
  }, 120_000)

  it('a blob whose sha256sum fails: exit 1, no empty hash in the records or the marker, and the next sync records it', async () => {
    const cacheFile = path.join(fx.stateDir, 'offsite-blobs.json')
    const cache = await readState('offsite-blobs.json')
    const files = await localBlobs()
    // A pack whose local file is still the bytes copied to R2 (not the one overwritten above).
    let victim = ''
    for (const id of Object.keys(cache)) if (!victim && id.startsWith('p') && files.has(id) && sha256(await fs.readFile(files.get(id)!)) === cache[id].sha256) victim = id
    expect(victim).not.toBe('')
    const good = cache[victim]
    // Forget its record, so this sync hashes the blob again, through a sha256sum that fails for it
    // (a read error of the disk); the real sha256sum for every other file.
    delete cache[victim]
    await fs.writeFile(cacheFile, JSON.stringify(cache))
    const shimDir = path.join(fx.hostDir, 'sha-shim')
    await fs.mkdir(shimDir, {recursive: true})
    const real = (await execa('bash', ['-c', 'command -v sha256sum'])).stdout.trim()
    await fs.writeFile(
      path.join(shimDir, 'sha256sum'),
      `#!/usr/bin/env bash\n# test shim: sha256sum failing for one blob file, like a read error\nfor a in "$@"; do [[ $a == ${JSON.stringify(files.get(victim))} ]] && { echo "sha256sum: $a: Input/output error" >&2; exit 1; }; done\nexec ${real} "$@"\n`,
    )
    await fs.chmod(path.join(shimDir, 'sha256sum'), 0o755)

    const r = await sync({PATH: `${shimDir}:${env.PATH}`})
    expect(r.exitCode, r.stdout).toBe(1)
    expect(r.stderr).toContain(`sha256sum of the local blob ${victim}`)
    expect(await readState('last-sync.json')).toMatchObject({error: expect.stringContaining(`sha256sum of the local blob ${victim}`), exitCode: 1, result: 'failed'})
    const after = await readState('offsite-blobs.json')
    expect(after[victim]).toBeUndefined()
    for (const record of Object.values(after) as {sha256: string}[]) expect(record.sha256).toMatch(/^[0-9a-f]{64}$/)
    for (const record of Object.values((await marker()).blobs) as {sha256: string}[]) expect(record.sha256).toMatch(/^[0-9a-f]{64}$/)

    // With a working sha256sum the next sync records it again, with the same hash.
    expect((await sync()).exitCode).toBe(0)
    expect((await readState('offsite-blobs.json'))[victim]).toEqual(good)
    expect((await marker()).blobs[victim]).toEqual(good)
  }, 120_000)

  describe('homelab backup offsite reads what the sync wrote', () => {
    let homelab: string
    const offsite = (args: string[]) => runCli(['backup', 'offsite', ...args], {cwd: homelab, env: {SOPS_AGE_KEY_FILE: KEY_FILE}})

    beforeAll(async () => {
      homelab = copyBundledHomelab('homelab-offsite-sync-')
      const doc = parseDocument(await fs.readFile(path.join(homelab, 'homelab.yaml'), 'utf8'))
      doc.setIn(['backup', 'offsite', 'endpoint'], s3.endpoint)
      await fs.writeFile(path.join(homelab, 'homelab.yaml'), doc.toString())
      await createSopsFile({
        file: path.join(homelab, 'nixos/secrets/host-secrets.sops.yaml'),
        plaintext: `kopia:\n  repository_password: not-used-here\nr2:\n  access_key_id: ${s3.accessKeyId}\n  secret_access_key: ${s3.secretAccessKey}\n  account_id: 0123456789abcdef0123456789abcdef\n`,
      })
    })
    afterAll(async () => {
      if (homelab) await fs.rm(homelab, {force: true, recursive: true})
    })

    it('reports the protection in force', async () => {
      const r = await offsite(['--json'])
      expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0)
      const result = JSON.parse(String(r.stdout))
      expect(result.protection).toMatchObject({deleteAfterDays: 30, marker: {deleteAfterDays: 30, key: `s3://${BUCKET}/${MARKER}`, mode: 'delayed-delete', pending: 0}, mode: 'delayed-delete'})
      const text = await offsite([])
      expect(String(text.stdout)).toMatch(/Protection {2}deletions reach R2 after 30 days; no blobs pending deletion; marker written/)
    }, 60_000)

    it('--restore-test: the format blob and every sampled blob match the records of the sync', async () => {
      const r = await offsite(['--restore-test', '--json'])
      expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0)
      const t = JSON.parse(String(r.stdout)).restoreTest
      const m = await marker()
      expect(t).toMatchObject({formatBlob: {ok: true, uniqueID: m.uniqueID}, matched: 7, mismatches: [], missing: [], ok: true, recorded: 7, sampled: 7})
      expect(t.bytesRead).toBeGreaterThan(1000)
      const text = await offsite(['--restore-test', '--sample', '2'])
      expect(text.exitCode).toBe(0)
      expect(String(text.stdout)).toMatch(/Read back {3}kopia.repository ok .*; 2 of 7 recorded p\/q blobs read in full \(.*\): 2 match/)
    }, 60_000)

    it('--restore-test: a blob overwritten in the bucket is a mismatch, exit 1', async () => {
      const key = (await s3.keys(BUCKET, 'kopia/p'))[0]
      const good = (await s3.get(BUCKET, key))!
      await s3.put(BUCKET, key, 'bit rot')
      try {
        const r = await offsite(['--restore-test', '--json'])
        expect(r.exitCode).toBe(1)
        const t = JSON.parse(String(r.stdout)).restoreTest
        expect(t.ok).toBe(false)
        expect(t.mismatches).toEqual([{actual: {length: 7, sha256: sha256(Buffer.from('bit rot'))}, expected: {length: good.length, sha256: sha256(good)}, key}])
        const text = await offsite(['--restore-test'])
        expect(text.exitCode).toBe(1)
        expect(String(text.stdout)).toContain(`1 of 7 blobs read back differ from what the host wrote (${key}): the R2 copy of that blob is damaged`)
      } finally {
        await s3.put(BUCKET, key, good)
      }
    }, 60_000)

    it('a window of 0 is reported as no protection: exit 1, one problem line', async () => {
      const file = path.join(homelab, 'nixos/backup.json')
      const backup = JSON.parse(await fs.readFile(file, 'utf8'))
      backup.offsiteDeleteAfterDays = 0
      await fs.writeFile(file, JSON.stringify(backup))
      expect((await sync({R2_DELETE_AFTER_DAYS: '0'})).exitCode).toBe(0)
      try {
        const r = await offsite(['--json'])
        expect(r.exitCode).toBe(1)
        const result = JSON.parse(String(r.stdout))
        expect(result.protection).toMatchObject({deleteAfterDays: 0, marker: {deleteAfterDays: 0}, mode: 'none'})
        expect(result.problems).toEqual([
          'nixos/backup.json offsiteDeleteAfterDays is 0: a deletion or corruption on the host reaches R2 at the next sync (no protection); set it to 30 and deploy',
        ])
      } finally {
        backup.offsiteDeleteAfterDays = 30
        await fs.writeFile(file, JSON.stringify(backup))
        expect((await sync()).exitCode).toBe(0)
      }
    }, 120_000)
  })
})
