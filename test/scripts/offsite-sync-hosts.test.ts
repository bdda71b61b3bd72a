import {execa} from 'execa'
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
const SHARED = 'shared-kopia'
const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')

/**
 * The kopia-r2-sync environment nixos/backup.nix gives `hostName` (evaluated with real
 * nix-instantiate through test/helpers/backup-module-eval.nix, hosts from `hostsFile`): what the
 * script runs with on that host.
 */
async function syncEnvironmentOf(hostName: string, hostsFile: string): Promise<Record<string, string>> {
  const r = await execa('nix-instantiate', [
    '--eval', '--strict', '--json', path.join(REPO_ROOT, 'test/helpers/backup-module-eval.nix'),
    '--arg', 'module', path.join(REPO_ROOT, 'nixos/backup.nix'), '--arg', 'storageFile', path.join(REPO_ROOT, 'nixos/storage.json'),
    '--argstr', 'hostName', hostName, '--arg', 'hostsFile', hostsFile,
  ], {reject: false})
  if (r.exitCode !== 0) throw new Error(`evaluating nixos/backup.nix for ${hostName} failed: ${r.stderr}`)
  return JSON.parse(r.stdout).config.systemd.services['kopia-r2-sync'].environment
}

// Two hosts, each with its own Kopia repository (stand-in kopia with a real blob model), sync into
// ONE bucket of a real S3-protocol server (s3rver on loopback) with the prefix and marker key
// nixos/backup.nix gives each (issue 14 follow-up): the k3s server keeps "kopia/" and
// homelab/offsite-protection.json, the agent gets the sibling "kopia-azalab-1/" and its own
// marker. Neither host's delayed-delete pass may touch the other's blobs, even with a 0-day window.
describe('kopia-r2-sync on two hosts: each repository in its own prefix, with its own marker', () => {
  let s3: S3TestServer
  let server: BackupFixture
  let agent: BackupFixture
  let serverEnv: Record<string, string>
  let agentEnv: Record<string, string>
  let homelab: string

  const envOf = async (fx: BackupFixture, unit: Record<string, string>): Promise<Record<string, string>> => {
    const binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    await fs.writeFile(path.join(fx.hostDir, 'sources'), fx.sources.join('\n') + '\n')
    return {
      ...backupScriptEnv(fx, s3, binDir),
      // Bucket, prefix, marker key and window exactly as the host's unit has them.
      R2_BUCKET: unit.R2_BUCKET,
      R2_DELETE_AFTER_DAYS: unit.R2_DELETE_AFTER_DAYS,
      R2_MARKER_KEY: unit.R2_MARKER_KEY,
      R2_PREFIX: unit.R2_PREFIX,
    }
  }

  const run = (script: string, env: Record<string, string>, extra: Record<string, string> = {}) =>
    execa('bash', [path.join(REPO_ROOT, 'scripts', script)], {env: {...env, ...extra}, extendEnv: false, reject: false})
  /** Blob IDs of a host's local repository (kopia's sharded layout: the path without "/" and ".f"). */
  const localBlobs = async (env: Record<string, string>): Promise<string[]> => {
    const repository = env.KOPIA_REPOSITORY_PATH
    const ids: string[] = []
    for (const rel of await fs.readdir(repository, {recursive: true})) if (rel.endsWith('.f')) ids.push(rel.replaceAll('/', '').slice(0, -2))
    return ids.sort()
  }
  const uniqueIdOf = async (env: Record<string, string>) => JSON.parse(await fs.readFile(path.join(env.KOPIA_REPOSITORY_PATH, 'kopia.repository.f'), 'utf8')).uniqueID as string
  const json = async (key: string, bucket = BUCKET) => JSON.parse(String(await s3.get(bucket, key)))

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'rclone', 'tar', 'nix-instantiate'])
    s3 = await startS3Server([BUCKET, SHARED])
    ;[server, agent] = await Promise.all([makeBackupFixture(), makeBackupFixture()])
    // hosts.json as `homelab host add` writes it: azalab-0 the k3s server, azalab-1 an agent.
    const hostsFile = path.join(server.hostDir, 'hosts.json')
    await fs.writeFile(hostsFile, JSON.stringify({hosts: [{address: 'azalab-0', name: 'azalab-0', role: 'server'}, {address: 'azalab-1', name: 'azalab-1', role: 'agent'}]}))
    serverEnv = await envOf(server, await syncEnvironmentOf('azalab-0', hostsFile))
    agentEnv = await envOf(agent, await syncEnvironmentOf('azalab-1', hostsFile))
    for (const env of [serverEnv, agentEnv]) {
      const r = await run('kopia-backup.sh', env)
      expect(r.exitCode, r.stderr).toBe(0)
    }

    // The homelab for `homelab backup offsite`: both hosts, the loopback endpoint, its R2 keys.
    homelab = copyBundledHomelab('homelab-offsite-hosts-')
    const doc = parseDocument(await fs.readFile(path.join(homelab, 'homelab.yaml'), 'utf8'))
    doc.setIn(['backup', 'offsite', 'endpoint'], s3.endpoint)
    doc.setIn(['hosts', 0, 'role'], 'server')
    doc.addIn(['hosts'], doc.createNode({name: 'azalab-1', role: 'agent', ssh: 'aiden@azalab-1'}))
    await fs.writeFile(path.join(homelab, 'homelab.yaml'), doc.toString())
    await createSopsFile({
      file: path.join(homelab, 'nixos/secrets/host-secrets.sops.yaml'),
      plaintext: `kopia:\n  repository_password: not-used-here\nr2:\n  access_key_id: ${s3.accessKeyId}\n  secret_access_key: ${s3.secretAccessKey}\n  account_id: 0123456789abcdef0123456789abcdef\n`,
    })
  }, 180_000)
  afterAll(async () => {
    await s3?.stop()
    await Promise.all([server?.remove(), agent?.remove()])
    if (homelab) await fs.rm(homelab, {force: true, recursive: true})
  })

  it('nixos/backup.nix: the server keeps "kopia/" and the original marker, the agent gets the sibling prefix and its own marker', () => {
    expect(serverEnv).toMatchObject({R2_BUCKET: BUCKET, R2_DELETE_AFTER_DAYS: '30', R2_MARKER_KEY: 'homelab/offsite-protection.json', R2_PREFIX: 'kopia/'})
    expect(agentEnv).toMatchObject({R2_BUCKET: BUCKET, R2_DELETE_AFTER_DAYS: '30', R2_MARKER_KEY: 'homelab/offsite-protection-azalab-1.json', R2_PREFIX: 'kopia-azalab-1/'})
  })

  it('both sync into one bucket: each repository whole in its own prefix, each marker names its own repository', async () => {
    for (const env of [serverEnv, agentEnv]) {
      const r = await run('kopia-r2-sync.sh', env)
      expect(r.exitCode, r.stderr + r.stdout).toBe(0)
    }

    const serverBlobs = await localBlobs(serverEnv)
    const agentBlobs = await localBlobs(agentEnv)
    expect(await s3.keys(BUCKET)).toEqual(
      ['homelab/offsite-protection-azalab-1.json', 'homelab/offsite-protection.json', ...agentBlobs.map((id) => `kopia-azalab-1/${id}`), ...serverBlobs.map((id) => `kopia/${id}`)].sort(),
    )
    const [serverId, agentId] = [await uniqueIdOf(serverEnv), await uniqueIdOf(agentEnv)]
    expect(serverId).not.toBe(agentId)
    expect((await json('kopia/kopia.repository')).uniqueID).toBe(serverId)
    expect((await json('kopia-azalab-1/kopia.repository')).uniqueID).toBe(agentId)
    const serverMarker = await json('homelab/offsite-protection.json')
    const agentMarker = await json('homelab/offsite-protection-azalab-1.json')
    expect(serverMarker).toMatchObject({pending: 0, prefix: 'kopia/', uniqueID: serverId})
    expect(agentMarker).toMatchObject({pending: 0, prefix: 'kopia-azalab-1/', uniqueID: agentId})
    expect(Object.keys(serverMarker.blobs).sort()).toEqual(serverBlobs)
    expect(Object.keys(agentMarker.blobs).sort()).toEqual(agentBlobs)
    const lastSync = JSON.parse(await fs.readFile(path.join(agent.stateDir, 'last-sync.json'), 'utf8'))
    expect(lastSync).toMatchObject({prefix: 'kopia-azalab-1/', result: 'success'})
  }, 180_000)

  it('with a 0-day window neither host deletes the other\'s blobs (they are outside its prefix, never "missing locally")', async () => {
    const before = await s3.keys(BUCKET)
    for (const env of [serverEnv, agentEnv, serverEnv]) {
      const r = await run('kopia-r2-sync.sh', env, {R2_DELETE_AFTER_DAYS: '0'})
      expect(r.exitCode, r.stderr + r.stdout).toBe(0)
      expect(r.stdout).toContain('0 deleted past the window')
    }

    expect(await s3.keys(BUCKET)).toEqual(before)
    expect(JSON.parse(await fs.readFile(path.join(server.stateDir, 'offsite-ledger.json'), 'utf8'))).toEqual({})
    expect(JSON.parse(await fs.readFile(path.join(agent.stateDir, 'offsite-ledger.json'), 'utf8'))).toEqual({})
    // Back to the window the markers had (the CLI checks it against backup.json).
    for (const env of [serverEnv, agentEnv]) expect((await run('kopia-r2-sync.sh', env)).exitCode).toBe(0)
  }, 180_000)

  it('what the sibling prefix prevents: in one shared prefix the second repository\'s sync is refused and it gets no off-site copy', async () => {
    const shared = {R2_BUCKET: SHARED, R2_MARKER_KEY: 'homelab/offsite-protection.json', R2_PREFIX: 'kopia/'}
    const first = await run('kopia-r2-sync.sh', serverEnv, {...shared, HOMELAB_BACKUP_STATE_DIR: path.join(server.hostDir, 'state-shared')})
    expect(first.exitCode, first.stderr).toBe(0)
    const second = await run('kopia-r2-sync.sh', agentEnv, {...shared, HOMELAB_BACKUP_STATE_DIR: path.join(agent.hostDir, 'state-shared')})
    expect(second.exitCode).toBe(1)
    expect(second.stdout + second.stderr).toContain('destination repository contains incompatible data')
  }, 180_000)

  it('R2_MARKER_KEY: a key under the prefix or not a .json key is refused before anything runs', async () => {
    const under = await run('kopia-r2-sync.sh', agentEnv, {R2_MARKER_KEY: 'kopia-azalab-1/offsite-protection.json'})
    expect(under.exitCode).toBe(1)
    expect(under.stderr).toContain("kopia-r2-sync: R2_MARKER_KEY 'kopia-azalab-1/offsite-protection.json' lies under R2_PREFIX 'kopia-azalab-1/': kopia would list it as a blob (nixos/backup-settings.nix)")
    const bad = await run('kopia-r2-sync.sh', agentEnv, {R2_MARKER_KEY: '/etc/passwd'})
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toContain("kopia-r2-sync: R2_MARKER_KEY '/etc/passwd' is not a marker key like homelab/offsite-protection.json")
    // Neither wrote a status file or touched the bucket: last-sync.json is still the good one.
    expect(JSON.parse(await fs.readFile(path.join(agent.stateDir, 'last-sync.json'), 'utf8'))).toMatchObject({result: 'success'})
  }, 60_000)

  describe('homelab backup offsite reads each host\'s own copy', () => {
    const offsite = (args: string[]) => runCli(['backup', 'offsite', ...args], {cwd: homelab, env: {SOPS_AGE_KEY_FILE: KEY_FILE}})

    it('default: the k3s server\'s prefix and marker', async () => {
      const r = await offsite(['--restore-test', '--json'])
      expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0)
      const result = JSON.parse(String(r.stdout))
      expect(result).toMatchObject({host: 'azalab-0', ok: true, prefix: 'kopia/', protection: {marker: {key: `s3://${BUCKET}/homelab/offsite-protection.json`, uniqueID: await uniqueIdOf(serverEnv)}}})
      expect(result.restoreTest).toMatchObject({formatBlob: {ok: true, uniqueID: await uniqueIdOf(serverEnv)}, mismatches: [], missing: [], ok: true})
      expect(result.blobs.total).toBe((await localBlobs(serverEnv)).length)
    }, 60_000)

    it('--host azalab-1: the agent\'s sibling prefix and its own marker, read back and checked', async () => {
      const r = await offsite(['--host', 'azalab-1', '--restore-test', '--json'])
      expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0)
      const result = JSON.parse(String(r.stdout))
      const agentId = await uniqueIdOf(agentEnv)
      expect(result).toMatchObject({host: 'azalab-1', ok: true, prefix: 'kopia-azalab-1/', problems: [], protection: {marker: {key: `s3://${BUCKET}/homelab/offsite-protection-azalab-1.json`, uniqueID: agentId}}})
      expect(result.restoreTest).toMatchObject({formatBlob: {key: 'kopia-azalab-1/kopia.repository', ok: true, uniqueID: agentId}, mismatches: [], missing: [], ok: true})
      expect(result.blobs.total).toBe((await localBlobs(agentEnv)).length)
      const text = await offsite(['--host', 'azalab-1'])
      // The real output for the README when HOMELAB_E2E_PRINT=1.
      if (process.env.HOMELAB_E2E_PRINT === '1') console.log(`----- homelab backup offsite --host azalab-1\n${String(text.stdout)}\n-----`)
      expect(text.exitCode).toBe(0)
      expect(String(text.stdout)).toContain(`Bucket      s3://${BUCKET}/kopia-azalab-1/ at ${s3.endpoint}`)
      expect(String(text.stdout)).toMatch(/Protection {2}deletions reach R2 after 30 days; no blobs pending deletion; marker homelab\/offsite-protection-azalab-1.json written /)
    }, 60_000)

    it('--host with a host homelab.yaml does not list: exit 3, one line naming the hosts', async () => {
      const r = await offsite(['--host', 'azalab-9'])
      expect(r.exitCode).toBe(3)
      expect(String(r.stderr)).toContain('homelab.yaml has no host "azalab-9" (hosts: azalab-0, azalab-1)')
    }, 60_000)
  })
})
