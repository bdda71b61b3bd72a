import {promises as fs} from 'node:fs'
import path from 'node:path'

import {REPO_ROOT} from './cli.js'

/** Where the e2e/local backup stand-ins keep things on the "host". */
export interface BackupUnits {
  /** The stand-in systemd's folder (units/, state/, journal/). */
  systemdDir: string
  /** Folder of the rendered environment files (root only), like /run/secrets/rendered. */
  secretsDir: string
  /** The stand-in kopia's state (snapshots it took, failure switches: fail-create, fail-sync, …). */
  kopiaStandInDir: string
  kopiaPassword: string
}

/**
 * Writes, for the systemctl/journalctl stand-ins, the units nixos/backup.nix declares (same
 * ExecStart scripts, Environment=, EnvironmentFile=, OnFailure=, SuccessExitStatus=, timers'
 * OnCalendar from nixos/backup.json), the environment files sops-nix would render, the source
 * list, and `homelab-kopia` (the wrapper backup.nix installs) into `binDir`.
 *
 * @param options.binDir the host PATH folder holding the stand-ins (systemd-standin/ goes next to them)
 * @param options.hostDir per-test "host" folder for kopia's config, cache, secrets
 * @param options.repo the homelab copy (its nixos/backup.json and storage.json give the values)
 * @param options.scriptsDir where the real scripts are (default: this repository's scripts/)
 */
export async function installBackupUnits(options: {binDir: string; hostDir: string; repo: string; scriptsDir?: string; sources: string[]}): Promise<BackupUnits> {
  const scripts = options.scriptsDir ?? path.join(REPO_ROOT, 'scripts')
  const backup = JSON.parse(await fs.readFile(path.join(options.repo, 'nixos/backup.json'), 'utf8'))
  const systemdDir = path.join(options.binDir, 'systemd-standin')
  const secretsDir = path.join(options.hostDir, 'secrets-rendered')
  const kopiaDir = path.join(options.hostDir, 'kopia')
  const kopiaStandInDir = path.join(kopiaDir, 'kopia-standin')
  for (const dir of [path.join(systemdDir, 'units'), path.join(systemdDir, 'state'), path.join(systemdDir, 'journal'), secretsDir, kopiaStandInDir])
    await fs.mkdir(dir, {mode: 0o755, recursive: true})
  await fs.chmod(secretsDir, 0o700)

  const kopiaPassword = `pw with $pecial 'chars' ${Date.now()}`
  const sourcesFile = path.join(options.hostDir, 'homelab-backup-sources')
  await fs.writeFile(sourcesFile, options.sources.map((s) => `${s}\n`).join(''))
  await fs.writeFile(path.join(secretsDir, 'kopia-backup.env'), `KOPIA_PASSWORD=${kopiaPassword}\n`, {mode: 0o400})
  await fs.writeFile(
    path.join(secretsDir, 'kopia-r2-sync.env'),
    `KOPIA_PASSWORD=${kopiaPassword}\nAWS_ACCESS_KEY_ID=AKIATESTSTANDIN\nAWS_SECRET_ACCESS_KEY=secret-of-the-test\nR2_ACCOUNT_ID=0123456789abcdef0123456789abcdef\n`,
    {mode: 0o400},
  )

  // nixos/backup.nix commonEnvironment.
  const common = {
    HOMELAB_BACKUP_SOURCES: sourcesFile,
    HOMELAB_BACKUP_STATE_DIR: backup.stateDir,
    KOPIA_CACHE_DIRECTORY: path.join(kopiaDir, 'cache'),
    KOPIA_CHECK_FOR_UPDATES: 'false',
    KOPIA_CONFIG_PATH: path.join(kopiaDir, 'repository.config'),
    KOPIA_LOG_DIR: path.join(kopiaDir, 'logs'),
    KOPIA_REPOSITORY_PATH: backup.repositoryPath,
  }
  const environment = (env: Record<string, string>) =>
    Object.entries(env)
      .map(([k, v]) => `Environment=${k}=${v}\n`)
      .join('')
  const service = (description: string, execStart: string, envFile: string, extra: Record<string, string> = {}) =>
    `# stand-in copy of the unit nixos/backup.nix declares\n[Unit]\nDescription=${description}\nOnFailure=homelab-backup-failed@%p.service\n\n[Service]\nType=oneshot\nEnvironmentFile=${path.join(secretsDir, envFile)}\n${environment({...common, ...extra})}SuccessExitStatus=75\nExecStart=${execStart}\n`
  const units: Record<string, string> = {
    'homelab-backup-failed@.service': `[Service]\nType=oneshot\n${environment({HOMELAB_BACKUP_STATE_DIR: backup.stateDir})}ExecStart=bash ${scripts}/homelab-backup-failed.sh %i\n`,
    'kopia-backup-source@.service': service('Kopia snapshot of %f', `bash ${scripts}/kopia-backup.sh --source %f`, 'kopia-backup.env'),
    'kopia-backup.service': service('Kopia snapshot of every homelab backup source', `bash ${scripts}/kopia-backup.sh`, 'kopia-backup.env'),
    'kopia-backup.timer': `[Timer]\nOnCalendar=${backup.schedule}\nPersistent=true\n`,
    'kopia-r2-sync.service': service('Sync the Kopia repository to Cloudflare R2', `bash ${scripts}/kopia-r2-sync.sh`, 'kopia-r2-sync.env', {
      R2_BUCKET: backup.bucket,
      R2_PREFIX: backup.prefix,
    }),
    'kopia-r2-sync.timer': `[Timer]\nOnCalendar=*-*-* 00/${backup.syncEveryHours}:00:00\nPersistent=true\n`,
  }
  for (const [name, text] of Object.entries(units)) await fs.writeFile(path.join(systemdDir, 'units', name), text)

  const wrapper = [
    '#!/usr/bin/env bash',
    '# homelab-kopia as nixos/backup.nix installs it: the units\' environment, then scripts/homelab-kopia.sh',
    ...Object.entries(common).map(([k, v]) => `export ${k}='${v}'`),
    `export HOMELAB_KOPIA_ENV_FILE='${path.join(secretsDir, 'kopia-backup.env')}'`,
    `exec bash '${scripts}/homelab-kopia.sh' "$@"`,
    '',
  ].join('\n')
  await fs.writeFile(path.join(options.binDir, 'homelab-kopia'), wrapper, {mode: 0o755})

  return {kopiaPassword, kopiaStandInDir, secretsDir, systemdDir}
}

/** Copies the backup stand-ins (kopia, systemctl, journalctl) into `binDir`. */
export async function installBackupStandIns(binDir: string): Promise<void> {
  await fs.mkdir(binDir, {recursive: true})
  for (const name of ['kopia', 'systemctl', 'journalctl']) {
    await fs.copyFile(path.join(REPO_ROOT, 'test/e2e/stand-ins', name), path.join(binDir, name))
    await fs.chmod(path.join(binDir, name), 0o755)
  }
}
