import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadBackupSettings} from '../../src/lib/backup/index.js'
import {loadHomelab} from '../../src/lib/config/load.js'
import {type BackupFixture, backupScriptEnv, makeBackupFixture, requireTools} from '../helpers/backup-fixture.js'
import {evalBackupModule, installBackupStandIns} from '../helpers/backup-units.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {type S3TestServer, startS3Server} from '../helpers/s3-server.js'

const SCRIPTS = ['kopia-backup.sh', 'kopia-r2-sync.sh', 'homelab-backup-failed.sh', 'homelab-kopia.sh', 'homelab-backup-drill.sh'].map((s) => path.join(REPO_ROOT, 'scripts', s))
const STAND_INS = ['kopia', 'systemctl', 'journalctl'].map((s) => path.join(REPO_ROOT, 'test/e2e/stand-ins', s))

describe('backup scripts and Nix files are well-formed', () => {
  it('shellcheck passes on the scripts and the stand-ins', async () => {
    await requireTools(['shellcheck'])
    const r = await execa('shellcheck', ['--severity=style', ...SCRIPTS, ...STAND_INS], {reject: false})
    expect(r.stdout + r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
  })

  it('every script starts with set -euo pipefail and says what it does', async () => {
    for (const file of SCRIPTS) {
      const text = await fs.readFile(file, 'utf8')
      expect(text, file).toMatch(/^#!\/usr\/bin\/env bash\n(#.*\n)+set -euo pipefail\n/)
    }
  })

  it('the stand-ins say what they stand in for', async () => {
    for (const file of STAND_INS) expect(await fs.readFile(file, 'utf8')).toContain(`stand-in for ${path.basename(file)}`)
  })

  it('nixos/backup.nix and backup-settings.nix parse (nix-instantiate --parse)', async () => {
    await requireTools(['nix-instantiate'])
    for (const file of ['nixos/backup.nix', 'nixos/backup-settings.nix']) {
      const r = await execa('nix-instantiate', ['--parse', path.join(REPO_ROOT, file)], {reject: false})
      expect(r.stderr, file).toBe('')
      expect(r.exitCode).toBe(0)
    }
  })

  it('Nix derives the same sources, schedule and bucket as the CLI (one place per value)', async () => {
    await requireTools(['nix-instantiate'])
    const r = await execa('nix-instantiate', ['--eval', '--strict', '--json', '-E', `import ${path.join(REPO_ROOT, 'nixos/backup-settings.nix')} {}`])
    const nix = JSON.parse(r.stdout)
    const cli = await loadBackupSettings(await loadHomelab({cwd: REPO_ROOT}))
    expect(nix.sources).toEqual(cli.sources)
    expect(nix.sources).toContain('/etc/nixos')
    expect({bucket: nix.bucket, prefix: nix.prefix, schedule: nix.schedule, stateDir: nix.stateDir, syncEveryHours: nix.syncEveryHours}).toEqual({
      bucket: cli.bucket,
      prefix: cli.prefix,
      schedule: cli.schedule,
      stateDir: cli.stateDir,
      syncEveryHours: cli.syncEveryHours,
    })
    expect(nix.offsiteDeleteAfterDays).toBe(cli.offsiteDeleteAfterDays)
    expect(nix.offsiteDeleteAfterDays).toBe(30)
    expect(nix.schedule).toBe('*-*-* 02:30:00')
    expect(nix.syncOnCalendar).toBe('*-*-* 00/6:00:00')
  })

  it('backup.nix evaluates (stubbed nixpkgs lib and sops-nix) to the units, timers and secrets the host needs', async () => {
    await requireTools(['nix-instantiate'])
    const module = await evalBackupModule(REPO_ROOT)
    expect(module.enabledIf).toBe(true)
    const {services, timers} = module.config.systemd
    expect(Object.keys(services).sort()).toEqual(['homelab-backup-drill', 'homelab-backup-drill@', 'homelab-backup-failed@', 'kopia-backup', 'kopia-backup-source@', 'kopia-r2-sync'])
    expect(timers['kopia-backup'].timerConfig).toMatchObject({OnCalendar: '*-*-* 02:30:00', Persistent: true})
    expect(timers['kopia-r2-sync'].timerConfig).toMatchObject({OnCalendar: '*-*-* 00/6:00:00', Persistent: true})
    for (const t of Object.values(timers)) expect(t.wantedBy).toEqual(['timers.target'])
    expect(services['kopia-backup'].serviceConfig.ExecStart).toMatch(/^\/nix\/store\/\w+-bash\/bin\/bash \/nix\/store\/\w+-kopia-backup.sh$/)
    expect(services['kopia-backup-source@'].serviceConfig.ExecStart).toMatch(/kopia-backup.sh --source %f$/)
    expect(services['kopia-r2-sync'].serviceConfig.ExecStart).toMatch(/kopia-r2-sync.sh$/)
    // Secrets only through sops-nix environment files, never argv or Environment=.
    expect(services['kopia-backup'].serviceConfig.EnvironmentFile).toBe('/run/secrets/rendered/kopia-backup.env')
    expect(services['kopia-r2-sync'].serviceConfig.EnvironmentFile).toBe('/run/secrets/rendered/kopia-r2-sync.env')
    expect(JSON.stringify(services)).not.toContain('@@')
    expect(module.config.sops.templates['kopia-r2-sync.env'].content).toBe(
      'KOPIA_PASSWORD=@@kopia/repository_password@@\nAWS_ACCESS_KEY_ID=@@r2/access_key_id@@\nAWS_SECRET_ACCESS_KEY=@@r2/secret_access_key@@\nR2_ACCOUNT_ID=@@r2/account_id@@\n',
    )
    expect(Object.keys(module.config.sops.secrets).sort()).toEqual(['kopia/repository_password', 'r2/access_key_id', 'r2/account_id', 'r2/secret_access_key'])
    expect(services['kopia-r2-sync'].environment).toMatchObject({R2_BUCKET: 'azalab-kopia', R2_PREFIX: 'kopia/'})
    // The off-site protection: the window reaches the sync, rclone is on its PATH.
    expect(services['kopia-r2-sync'].environment).toMatchObject({R2_DELETE_AFTER_DAYS: '30'})
    expect(services['kopia-r2-sync'].path).toContain('/nix/store/00000000000000000000000000000000-rclone')
    // The postgres capture checks each dump with pg_restore on the host before it replaces the old one.
    for (const name of ['kopia-backup', 'kopia-backup-source@']) expect(services[name].path).toContain('/nix/store/00000000000000000000000000000000-postgresql')
    for (const name of ['kopia-backup', 'kopia-backup-source@', 'kopia-r2-sync']) {
      expect(services[name].onFailure).toEqual(['homelab-backup-failed@%p.service'])
      expect(services[name].serviceConfig.SuccessExitStatus).toBe('75')
      expect(services[name].environment?.HOMELAB_BACKUP_STATE_DIR).toBe('/var/lib/homelab/backup')
    }

    const sync = await fs.readFile(path.join(REPO_ROOT, 'scripts/kopia-r2-sync.sh'), 'utf8')
    expect(sync).toContain('flock -w "${HOMELAB_KOPIA_LOCK_WAIT:-21600}" 9')
    expect(sync).toContain('lock=$state_dir/.kopia.lock')
    expect(sync).not.toMatch(/--access-key|--secret-access-key|--password/)
    // The copy only adds blobs (the protection of the off-site copy: test/scripts/offsite-sync.test.ts).
    const syncCommand = /kopia repository sync-to s3 [^\n]*\\\n[^\n]*/.exec(sync)?.[0] ?? ''
    expect(syncCommand).toContain('--no-update')
    expect(syncCommand).not.toContain('--delete')
  })
})

describe('the scripts against the stand-in kopia', () => {
  let fx: BackupFixture
  let binDir: string
  let env: Record<string, string>
  let kopiaState: string
  // The stand-in kopia copies blobs for real: the syncs go to a loopback S3 server.
  let s3: S3TestServer

  beforeAll(async () => {
    await requireTools(['jq', 'flock', 'rclone'])
    s3 = await startS3Server(['azalab-kopia'])
    fx = await makeBackupFixture()
    binDir = path.join(fx.hostDir, 'bin')
    await installBackupStandIns(binDir)
    kopiaState = path.join(fx.hostDir, 'kopia', 'kopia-standin')
    await fs.mkdir(kopiaState, {recursive: true})
    await fs.writeFile(path.join(fx.hostDir, 'sources'), fx.sources.join('\n') + '\n')
    env = {
      ...backupScriptEnv(fx, s3, binDir),
      R2_BUCKET: 'azalab-kopia',
      R2_PREFIX: 'kopia/',
    }
  })
  afterAll(async () => {
    await s3?.stop()
    await fx?.remove()
  })

  const run = (script: string, args: string[] = [], extra: Record<string, string> = {}) =>
    execa('bash', [path.join(REPO_ROOT, 'scripts', script), ...args], {env: {...env, ...extra}, extendEnv: false, reject: false})
  const readJson = async (name: string) => JSON.parse(await fs.readFile(path.join(fx.stateDir, name), 'utf8'))

  it('kopia-backup creates the repository, snapshots every source and writes last-run.json + snapshots.json', async () => {
    const r = await run('kopia-backup.sh')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain('creating the repository')
    const lastRun = await readJson('last-run.json')
    expect(lastRun).toMatchObject({error: null, result: 'success', version: 1})
    expect(lastRun.sources.map((s: {path: string}) => s.path)).toEqual(fx.sources)
    for (const s of lastRun.sources) {
      expect(s).toMatchObject({errors: 0, exitCode: 0, error: null, files: 2, dirs: 2})
      expect(s.snapshotId).toMatch(/^[0-9a-f]{32}$/)
      expect(s.size).toBeGreaterThan(1000)
    }

    expect(Date.parse(lastRun.end)).toBeGreaterThanOrEqual(Date.parse(lastRun.start))
    const list = await readJson('snapshots.json')
    expect(list).toHaveLength(4)
    expect(list[0].stats.fileCount).toBe(2)
    // Atomic writes leave no temp files behind; status files are world-readable.
    const files = await fs.readdir(fx.stateDir)
    expect(files.filter((f) => f.startsWith('.last') || f.startsWith('.snap'))).toEqual([])
    expect((await fs.stat(path.join(fx.stateDir, 'last-run.json'))).mode & 0o777).toBe(0o644)
  })

  it('records a missing source folder and failed entries, exits 1, result partial', async () => {
    await fs.writeFile(path.join(kopiaState, 'fail-create'), `${fx.sources[0]}\n`)
    await fs.rename(fx.sources[1], `${fx.sources[1]}.away`)
    const r = await run('kopia-backup.sh')
    await fs.rename(`${fx.sources[1]}.away`, fx.sources[1])
    await fs.rm(path.join(kopiaState, 'fail-create'))
    expect(r.exitCode).toBe(1)
    const lastRun = await readJson('last-run.json')
    expect(lastRun.result).toBe('partial')
    expect(lastRun.sources[0]).toMatchObject({errors: 1, exitCode: 1, error: expect.stringContaining('fatal error')})
    expect(lastRun.sources[1]).toMatchObject({error: `source folder ${fx.sources[1]} is missing`, exitCode: null, snapshotId: null})
    expect(lastRun.sources[2]).toMatchObject({error: null, exitCode: 0})
  })

  it('--source snapshots one source and keeps the others; an unknown source is a usage error', async () => {
    const before = await readJson('last-run.json')
    const r = await run('kopia-backup.sh', ['--source', `${fx.sources[0]}/`])
    expect(r.exitCode, r.stderr).toBe(0)
    const after = await readJson('last-run.json')
    expect(after.sources).toHaveLength(4)
    expect(after.sources.find((s: {path: string}) => s.path === fx.sources[0])).toMatchObject({errors: 0, exitCode: 0})
    expect(after.sources.find((s: {path: string}) => s.path === fx.sources[1])).toEqual(before.sources[1])
    const bad = await run('kopia-backup.sh', ['--source', '/nowhere'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('/nowhere is not a backup source')
  })

  it('a wrong repository password fails the run with one clear error in last-run.json', async () => {
    const r = await run('kopia-backup.sh', [], {KOPIA_PASSWORD: 'wrong'})
    expect(r.exitCode).toBe(1)
    const lastRun = await readJson('last-run.json')
    expect(lastRun).toMatchObject({error: expect.stringContaining('invalid repository password'), result: 'failed'})
  })

  it('kopia-r2-sync syncs to the S3 endpoint and writes last-sync.json', async () => {
    const r = await run('kopia-r2-sync.sh')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Destination: S3: ${s3.endpoint.replace('http://', '')} azalab-kopia`)
    expect(await readJson('last-sync.json')).toMatchObject({
      bucket: 'azalab-kopia',
      endpoint: s3.endpoint,
      error: null,
      exitCode: 0,
      prefix: 'kopia/',
      result: 'success',
      version: 1,
    })
    expect((await s3.keys('azalab-kopia', 'kopia/')).length).toBeGreaterThan(8)
  }, 60_000)

  it('without R2_ENDPOINT the endpoint is <account>.r2.cloudflarestorage.com (kopia fails here before any network)', async () => {
    await fs.writeFile(path.join(kopiaState, 'fail-sync'), 'no network in the test\n')
    const r = await run('kopia-r2-sync.sh', [], {R2_ENDPOINT: ''})
    await fs.rm(path.join(kopiaState, 'fail-sync'))
    expect(r.stdout).toContain('Destination: S3: abc123.r2.cloudflarestorage.com azalab-kopia')
    expect(await readJson('last-sync.json')).toMatchObject({bucket: 'azalab-kopia', endpoint: 'abc123.r2.cloudflarestorage.com', prefix: 'kopia/', result: 'failed'})
  })

  it('a failed sync is recorded with kopia\'s error; the script exits 1', async () => {
    await fs.writeFile(path.join(kopiaState, 'fail-sync'), 'The AWS Access Key Id you provided does not exist in our records.\n')
    const r = await run('kopia-r2-sync.sh')
    await fs.rm(path.join(kopiaState, 'fail-sync'))
    expect(r.exitCode).toBe(1)
    expect(await readJson('last-sync.json')).toMatchObject({error: expect.stringContaining('Access Key Id'), exitCode: 1, result: 'failed'})
  })

  it('a sync waits for the shared lock and exits 75 (not a failure) only when the wait runs out, leaving last-sync.json alone', async () => {
    // The test holds .kopia.lock itself (as a snapshot run would) until it kills the holder.
    const holder = execa('bash', ['-c', 'exec 9>>"$1" && flock 9 && exec sleep infinity', 'holder', path.join(fx.stateDir, '.kopia.lock')], {reject: false})
    try {
      await waitFor(async () => (await execa('flock', ['-n', path.join(fx.stateDir, '.kopia.lock'), 'true'], {reject: false})).exitCode !== 0)
      const before = await fs.readFile(path.join(fx.stateDir, 'last-sync.json'), 'utf8')
      const second = await run('kopia-r2-sync.sh', [], {HOMELAB_KOPIA_LOCK_WAIT: '0'})
      expect(second.exitCode).toBe(75)
      expect(second.stdout).toContain('.kopia.lock is held (a snapshot, a drill or another sync); waiting up to 0s')
      expect(second.stderr).toContain('stayed held for 0s; not syncing this time')
      expect(await fs.readFile(path.join(fx.stateDir, 'last-sync.json'), 'utf8')).toBe(before)
      const backup = await run('kopia-backup.sh', [], {HOMELAB_KOPIA_LOCK_WAIT: '0'})
      expect(backup.exitCode).toBe(75)
      expect(backup.stderr).toContain('stayed held for 0s; not snapshotting this time')
    } finally {
      holder.kill()
      await holder
    }
  })

  it('missing secrets fail at once, naming the variable, never printing values', async () => {
    const r = await run('kopia-r2-sync.sh', [], {AWS_SECRET_ACCESS_KEY: ''})
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toContain('AWS_SECRET_ACCESS_KEY is not set')
    expect(r.stderr + r.stdout).not.toContain('correct horse')
  })

  it('homelab-backup-failed leaves a mark; homelab-kopia reads the env file without expanding it', async () => {
    const r = await run('homelab-backup-failed.sh', ['kopia-r2-sync'])
    expect(r.exitCode).toBe(0)
    const mark = JSON.parse(await fs.readFile(path.join(fx.stateDir, 'failures/kopia-r2-sync.json'), 'utf8'))
    expect(mark).toMatchObject({unit: 'kopia-r2-sync', version: 1})
    const envFile = path.join(fx.hostDir, 'kopia.env')
    await fs.writeFile(envFile, 'KOPIA_PASSWORD=correct horse $battery\n', {mode: 0o600})
    const {KOPIA_PASSWORD: _omit, ...withoutPassword} = env
    const k = await execa('bash', [path.join(REPO_ROOT, 'scripts/homelab-kopia.sh'), 'snapshot', 'list', '--json'], {
      env: {...withoutPassword, HOMELAB_KOPIA_ENV_FILE: envFile},
      extendEnv: false,
      reject: false,
    })
    expect(k.exitCode, k.stderr).toBe(0)
    expect(JSON.parse(k.stdout).length).toBeGreaterThanOrEqual(4)
  })
})

/** Polls `check` until it holds (no time bound: the test's own timeout is the limit). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100))
}
