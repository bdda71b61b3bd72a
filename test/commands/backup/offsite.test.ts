import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {checkOffsite} from '../../../src/lib/backup/index.js'
import {createSopsFile} from '../../../src/lib/sops/index.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {type S3TestServer, startS3Server} from '../../helpers/s3-server.js'

const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const FRESH = 'azalab-kopia'
const STALE = 'stale-kopia'
const EMPTY = 'empty-kopia'
const NO_MARKER = 'unmarked-kopia'
const MARKER = 'homelab/offsite-protection.json'

/** The protection marker as scripts/kopia-r2-sync.sh writes it (its header documents the shape). */
const markerOf = (o: {days?: number; ageSeconds?: number; pending?: number} = {}) =>
  JSON.stringify({
    blobs: {},
    bucket: FRESH,
    deleteAfterDays: o.days ?? 30,
    mode: 'delayed-delete',
    oldestPendingSince: o.pending ? '2026-11-20T02:30:00Z' : null,
    pending: o.pending ?? 0,
    prefix: 'kopia/',
    uniqueID: null,
    updatedAt: new Date(Date.now() - (o.ageSeconds ?? 600) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    version: 1,
  })

// `homelab backup offsite` against a real S3-protocol server (s3rver) on loopback, with the R2
// credentials encrypted in the homelab copy's SOPS file (demo age key).
describe('homelab backup offsite', () => {
  let s3: S3TestServer
  let repo: string

  const setUp = async (options: {bucket?: string; accessKeyId?: string; secretAccessKey?: string}) => {
    await createSopsFile({
      file: path.join(repo, 'nixos/secrets/host-secrets.sops.yaml'),
      plaintext: [
        'kopia:',
        '  repository_password: not-used-here',
        'r2:',
        `  access_key_id: ${options.accessKeyId ?? s3.accessKeyId}`,
        `  secret_access_key: ${options.secretAccessKey ?? s3.secretAccessKey}`,
        '  account_id: 0123456789abcdef0123456789abcdef',
        '',
      ].join('\n'),
    })
    const backup = JSON.parse(await fs.readFile(path.join(repo, 'nixos/backup.json'), 'utf8'))
    backup.bucket = options.bucket ?? FRESH
    await fs.writeFile(path.join(repo, 'nixos/backup.json'), JSON.stringify(backup, null, 2))
  }

  const offsite = (args: string[] = []) => runCli(['backup', 'offsite', ...args], {cwd: repo, env: {SOPS_AGE_KEY_FILE: KEY_FILE}})

  beforeAll(async () => {
    s3 = await startS3Server([FRESH, STALE, EMPTY, NO_MARKER])
    repo = copyBundledHomelab('homelab-offsite-')
    const doc = parseDocument(await fs.readFile(path.join(repo, 'homelab.yaml'), 'utf8'))
    doc.setIn(['backup', 'offsite', 'endpoint'], s3.endpoint)
    await fs.writeFile(path.join(repo, 'homelab.yaml'), doc.toString())
    // A Kopia repository's blobs (kopia repo/format and repo/content naming).
    const blobs = ['kopia.repository', 'kopia.blobcfg', 'p0a1b2c3d4e5f60718293a4b5c6d7e8f9-s1234567890abcdef', 'q1f2e3d4c5b6a7980-s1234567890abcdef', 'xn0_5c3a1b2d3e4f-s1234567890abcdef-c1', '_log_20261124023000_ab12_1732415400_1732415401_1_0123456789abcdef']
    for (const blob of blobs) {
      await s3.put(FRESH, `kopia/${blob}`, `blob ${blob}`, blob.startsWith('kopia') ? 40 * 86_400 : 3600)
      await s3.put(STALE, `kopia/${blob}`, `blob ${blob}`, 3 * 86_400)
      await s3.put(NO_MARKER, `kopia/${blob}`, `blob ${blob}`, 3600)
    }

    // The host's sync marks the bucket after every run, new blobs or not.
    await s3.put(FRESH, MARKER, markerOf({pending: 3}))
    await s3.put(STALE, MARKER, markerOf())
  })
  afterAll(async () => {
    await s3?.stop()
    if (repo) await fs.rm(repo, {force: true, recursive: true})
  })

  it('all fresh: bucket reachable, repository blobs present, newest blob within the interval', async () => {
    await setUp({})
    const r = await offsite(['--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const result = JSON.parse(String(r.stdout))
    expect(result).toMatchObject({
      blobs: {metadataPacks: 1, packs: 1, repository: true, total: 6},
      bucket: FRESH,
      credentialsFile: 'nixos/secrets/host-secrets.sops.yaml',
      endpoint: s3.endpoint,
      ok: true,
      prefix: 'kopia/',
      problems: [],
      reachable: true,
    })
    expect(result.newestBlob.ageSeconds).toBeGreaterThanOrEqual(3590)
    expect(result.newestBlob.ageSeconds).toBeLessThan(3700)
    expect(result.maxAgeSeconds).toBe((24 + 6 + 6) * 3600)
    // The secret never shows up.
    expect(String(r.stdout) + String(r.stderr)).not.toContain('S3RVER')

    const text = await offsite()
    expect(text.exitCode).toBe(0)
    expect(String(text.stdout)).toContain('✓ the off-site copy is there, fresh and protected')
    expect(String(text.stdout)).toMatch(/Protection {2}deletions reach R2 after 30 days; 3 blobs pending deletion, oldest since 2026-11-20T02:30:00Z; marker written .* \(10m ago\)/)
    expect(result.protection).toMatchObject({deleteAfterDays: 30, marker: {deleteAfterDays: 30, mode: 'delayed-delete', pending: 3, recordedBlobs: 0}, mode: 'delayed-delete'})
    expect(result.restoreTest).toBeNull()
    expect(String(text.stdout)).toMatch(/Blobs +6 \(.*\): kopia.repository present, 1 p packs, 1 q packs/)
    expect(String(text.stderr)).not.toContain('NodeVersionSupportWarning')
  })

  it('stale: the newest blob is older than snapshot period + sync interval + grace', async () => {
    await setUp({bucket: STALE})
    const r = await offsite(['--json'])
    expect(r.exitCode).toBe(1)
    const result = JSON.parse(String(r.stdout))
    expect(result.ok).toBe(false)
    expect(result.problems).toEqual([expect.stringMatching(/^newest blob kopia\/.* is 3d 0h old \(expected within 1d 12h\)$/)])
  })

  it('no protection marker in the bucket: exit 1, one problem line', async () => {
    await setUp({bucket: NO_MARKER})
    const r = await offsite(['--json'])
    expect(r.exitCode).toBe(1)
    const result = JSON.parse(String(r.stdout))
    expect(result.protection).toEqual({deleteAfterDays: 30, marker: null, mode: 'delayed-delete'})
    expect(result.problems).toEqual([
      `s3://${NO_MARKER}/${MARKER} is missing: no kopia-r2-sync with the deletion window has run (deploy nixos/backup.nix, then \`homelab backup sync\`)`,
    ])
    expect(String((await offsite()).stdout)).toContain('Protection  deletions reach R2 after 30 days; no marker in the bucket')
  })

  it('the marker names another window than backup.json, or is stale, or is not a marker: exit 1, one line each', async () => {
    await setUp({bucket: NO_MARKER})
    try {
      await s3.put(NO_MARKER, MARKER, markerOf({days: 7}))
      let result = JSON.parse(String((await offsite(['--json'])).stdout))
      expect(result.problems).toEqual([
        `s3://${NO_MARKER}/${MARKER} says deletions reach R2 after 7 days but nixos/backup.json offsiteDeleteAfterDays is 30: the host runs another configuration (deploy it)`,
      ])
      await s3.put(NO_MARKER, MARKER, markerOf({ageSeconds: 3 * 86_400}))
      const r = await offsite(['--json'])
      expect(r.exitCode).toBe(1)
      result = JSON.parse(String(r.stdout))
      expect(result.problems).toEqual([`s3://${NO_MARKER}/${MARKER} was written 3d 0h ago (expected within 1d 12h): kopia-r2-sync has not completed since`])
      await s3.put(NO_MARKER, MARKER, '{"version": 1}')
      result = JSON.parse(String((await offsite(['--json'])).stdout))
      expect(result.problems).toEqual([`s3://${NO_MARKER}/${MARKER} is not a protection marker (unexpected shape): run \`homelab backup sync\` to rewrite it`])
    } finally {
      await s3.put(NO_MARKER, MARKER, markerOf())
    }
  })

  it('--restore-test without blob records in the marker: the format blob is read, nothing to compare against, exit 1', async () => {
    await setUp({})
    const r = await offsite(['--restore-test', '--json'])
    expect(r.exitCode).toBe(1)
    const t = JSON.parse(String(r.stdout)).restoreTest
    // The fixture's kopia.repository is not a format blob: it has no uniqueID.
    expect(t).toMatchObject({formatBlob: {key: 'kopia/kopia.repository', ok: false, uniqueID: null}, recorded: 0, sampled: 0, unrecorded: 2})
    expect(t.problems).toEqual(['s3://azalab-kopia/kopia/kopia.repository does not parse as a Kopia format blob (no uniqueID)', 's3://azalab-kopia/kopia/: no recorded p/q blobs to read back'])
  })

  it('--sample must be a positive number: usage error, exit 3', async () => {
    const r = await offsite(['--restore-test', '--sample', '0'])
    expect(r.exitCode).toBe(3)
    expect(String(r.stderr)).toContain('--sample')
  })

  it('an empty bucket: no Kopia repository there', async () => {
    await setUp({bucket: EMPTY})
    const r = await offsite()
    expect(r.exitCode).toBe(1)
    expect(String(r.stdout)).toContain(`s3://${EMPTY}/kopia/ is empty: no Kopia repository there`)
    const json = JSON.parse(String((await offsite(['--json'])).stdout))
    expect(json).toMatchObject({blobs: {total: 0}, newestBlob: null, ok: false, reachable: true})
  })

  it('a missing bucket is reported, not thrown', async () => {
    await setUp({bucket: 'no-such-bucket'})
    const r = await offsite(['--json'])
    expect(r.exitCode).toBe(1)
    expect(JSON.parse(String(r.stdout)).problems).toEqual([`bucket no-such-bucket does not exist at ${s3.endpoint}`])
  })

  it('wrong credentials: one clear error naming the SOPS file and the keys, exit 1 also under --json', async () => {
    await setUp({accessKeyId: 'AKIAWRONGWRONGWRONG', secretAccessKey: 'wrong-secret-value'})
    const r = await offsite()
    expect(r.exitCode).toBe(1)
    const lines = String(r.stderr).trim().split('\n')
    expect(lines[0]).toBe(
      `Error: ${s3.endpoint} bucket ${FRESH} refused the credentials from nixos/secrets/host-secrets.sops.yaml (InvalidAccessKeyId): wrong r2.access_key_id or r2.secret_access_key`,
    )
    expect(String(r.stderr)).not.toContain('wrong-secret-value')
    // bin/dev.js (NODE_ENV=development) lets oclif print the stack; the built CLI does not.
    if (process.env.HOMELAB_TEST_BUILT === '1') expect(String(r.stderr)).not.toMatch(/at .*\.js:\d+/)
    const json = await offsite(['--json'])
    expect(json.exitCode).toBe(1)
    expect(String(json.stdout)).toContain('refused the credentials')
  })

  it('an unreachable endpoint is exit 2', async () => {
    await expect(
      checkOffsite({bucket: FRESH, credentials: {accessKeyId: 'a', secretAccessKey: 'b'}, endpoint: 'http://127.0.0.1:9', maxAgeSeconds: 60, prefix: 'kopia/'}),
    ).rejects.toMatchObject({exitCode: 2})
  })

  it('without an age identity the SOPS engine says so', async () => {
    await setUp({})
    const r = await runCli(['backup', 'offsite'], {cwd: repo, env: {HOME: repo, SOPS_AGE_KEY_FILE: undefined, XDG_CONFIG_HOME: undefined}})
    expect(r.exitCode).not.toBe(0)
    expect(String(r.stderr)).toContain('host-secrets.sops.yaml')
  })
})
