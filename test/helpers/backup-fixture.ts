import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parseDocument} from 'yaml'

import type {BackupHost, HostExecOptions, HostExecResult} from '../../src/lib/backup/host.js'
import {REPO_ROOT} from './cli.js'

/** Test homelab for the backup code: the repo's config files with host paths moved into a temp dir. */
export interface BackupFixture {
  /** Repository root (homelab.yaml, nixos/storage.json, nixos/backup.json). */
  repo: string
  /** The "host" side: storage root, state dir, kopia config. */
  hostDir: string
  storageRoot: string
  stateDir: string
  /** Backup sources, in storage.json order (apps a, b, c under storageRoot + an extra source). */
  sources: string[]
  remove(): Promise<void>
}

/**
 * Makes a temp homelab whose storage root, state folder and sources live under a temp "host"
 * folder: apps alpha, beta, gamma at <storageRoot>/<app> and the extra source <hostDir>/etc-nixos.
 * Copies homelab.yaml, nixos/storage.json and nixos/backup.json from this repository (or from
 * `from`, a homelab copy) and rewrites only the paths.
 */
export async function makeBackupFixture(options: {from?: string; into?: string; hostDir?: string; createFolders?: boolean} = {}): Promise<BackupFixture> {
  const from = options.from ?? REPO_ROOT
  const base = options.hostDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-backup-')))
  await fs.chmod(base, 0o755)
  const repo = options.into ?? path.join(base, 'repo')
  const hostDir = path.join(base, 'host')
  const storageRoot = path.join(hostDir, 'srv')
  const stateDir = path.join(hostDir, 'state')
  await fs.mkdir(path.join(repo, 'nixos'), {recursive: true})
  await fs.mkdir(stateDir, {mode: 0o755, recursive: true})
  await fs.chmod(hostDir, 0o755)

  if (!options.into) {
    // What the backup code reads, and what nixos/backup.nix needs to evaluate (its scripts).
    await fs.copyFile(path.join(from, 'homelab.yaml'), path.join(repo, 'homelab.yaml'))
    for (const file of ['nixos/backup.nix', 'nixos/backup-settings.nix']) await fs.copyFile(path.join(from, file), path.join(repo, file))
    await fs.cp(path.join(from, 'scripts'), path.join(repo, 'scripts'), {recursive: true})
  }
  const doc = parseDocument(await fs.readFile(path.join(repo, 'homelab.yaml'), 'utf8'))
  doc.setIn(['storage', 'root'], storageRoot)
  await fs.writeFile(path.join(repo, 'homelab.yaml'), doc.toString())

  const apps = ['alpha', 'beta', 'gamma'].map((name) => ({gid: 0, mode: '0750', name, path: path.join(storageRoot, name), uid: 0}))
  const extra = path.join(hostDir, 'etc-nixos')
  await fs.writeFile(path.join(repo, 'nixos/storage.json'), `${JSON.stringify({apps, extraBackupSources: [extra]}, null, 2)}\n`)
  const backup = JSON.parse(await fs.readFile(path.join(from, 'nixos/backup.json'), 'utf8'))
  backup.stateDir = stateDir
  backup.repositoryPath = path.join(hostDir, 'kopia-repository')
  await fs.writeFile(path.join(repo, 'nixos/backup.json'), `${JSON.stringify(backup, null, 2)}\n`)

  const sources = [...apps.map((a) => a.path), extra]
  if (options.createFolders !== false) {
    for (const source of sources) {
      await fs.mkdir(path.join(source, 'data'), {mode: 0o755, recursive: true})
      await fs.writeFile(path.join(source, 'data', 'file.txt'), `contents of ${source}\n`)
      await fs.writeFile(path.join(source, 'top.bin'), Buffer.alloc(1000, 7))
    }
  }

  return {
    hostDir,
    async remove() {
      if (!options.hostDir) await fs.rm(base, {force: true, recursive: true})
    },
    repo,
    sources,
    stateDir,
    storageRoot,
  }
}

/**
 * A BackupHost that runs the commands on this machine with bash (PATH first: `binDir`), for tests
 * of the library without SSH. `sudo` runs the same way (the tests run as root in CI).
 */
export function localHost(options: {binDir?: string; env?: Record<string, string>} = {}): BackupHost & {commands: string[]} {
  const commands: string[] = []
  const run = async (command: string, opts: HostExecOptions = {}): Promise<HostExecResult> => {
    commands.push(command)
    const child = execa('bash', ['-c', command], {
      env: {...options.env, PATH: `${options.binDir ? `${options.binDir}:` : ''}${process.env.PATH}`},
      input: opts.stdin ?? '',
      reject: false,
      timeout: opts.timeoutMs,
    })
    const split = (onLine?: (line: string) => void) => {
      let carry = ''
      return (chunk: Buffer) => {
        const parts = (carry + chunk.toString()).split('\n')
        carry = parts.pop() ?? ''
        for (const line of parts) onLine?.(line)
      }
    }

    child.stdout?.on('data', split(opts.onStdout))
    child.stderr?.on('data', split(opts.onStderr))
    const r = await child
    return {exitCode: r.exitCode ?? 1, stderr: String(r.stderr), stdout: String(r.stdout)}
  }

  return {commands, exec: run, sudo: run}
}

/**
 * Fails (never skips) when a tool the backup tests need is missing; scripts/install-test-tools.sh
 * installs them.
 */
export async function requireTools(tools: string[]): Promise<void> {
  for (const tool of tools) {
    const r = await execa('sh', ['-c', `command -v ${tool}`], {reject: false})
    if (r.exitCode !== 0) throw new Error(`${tool} is missing: run scripts/install-test-tools.sh (CI=${process.env.CI ?? ''})`)
  }
}

/**
 * The environment the host's backup units give scripts/kopia-backup.sh and kopia-r2-sync.sh, for a
 * fixture's host folder (nixos/backup.nix): sources, state, storage file, Kopia config, repository
 * and password, the stand-ins first on PATH, and the S3 server's credentials and endpoint as R2's.
 * The bucket, prefix, marker key and deletion window are the caller's (they differ per host).
 */
export function backupScriptEnv(fx: BackupFixture, s3: {accessKeyId: string; secretAccessKey: string; endpoint: string}, binDir: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    HOMELAB_BACKUP_SOURCES: path.join(fx.hostDir, 'sources'),
    HOMELAB_BACKUP_STATE_DIR: fx.stateDir,
    HOMELAB_STORAGE_FILE: path.join(fx.repo, 'nixos/storage.json'),
    KOPIA_CONFIG_PATH: path.join(fx.hostDir, 'kopia', 'repository.config'),
    KOPIA_PASSWORD: 'correct horse $battery',
    KOPIA_REPOSITORY_PATH: path.join(fx.hostDir, 'repository'),
    PATH: `${binDir}:${process.env.PATH}`,
    R2_ACCOUNT_ID: 'abc123',
    R2_ENDPOINT: s3.endpoint,
  }
}
