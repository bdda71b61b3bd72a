import {execa} from 'execa'
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

interface NixService {
  environment?: Record<string, string>
  onFailure?: string[]
  path?: string[]
  serviceConfig: {ExecStart: string; EnvironmentFile?: string; SuccessExitStatus?: string; Type?: string}
}

/** What nixos/backup.nix declares, evaluated by test/helpers/backup-module-eval.nix. */
export interface BackupModule {
  enabledIf: boolean
  config: {
    environment: {systemPackages: string[]}
    sops: {secrets: Record<string, {key: string; sopsFile: string}>; templates: Record<string, {content: string}>}
    systemd: {
      services: Record<string, NixService>
      timers: Record<string, {timerConfig: {OnCalendar: string; Persistent?: boolean}; wantedBy: string[]}>
    }
  }
}

/**
 * Evaluates `<repo>/nixos/backup.nix` (with its backup-settings.nix, backup.json and the given
 * storage file) with stubbed lib/pkgs/sops-nix, in nix's read-only mode (store paths are computed,
 * nothing is built or copied).
 * @throws when nix-instantiate fails (the message has nix's error)
 */
export async function evalBackupModule(repo: string): Promise<BackupModule> {
  const r = await execa(
    'nix-instantiate',
    ['--eval', '--strict', '--json', path.join(REPO_ROOT, 'test/helpers/backup-module-eval.nix'), '--arg', 'module', path.join(repo, 'nixos/backup.nix'), '--arg', 'storageFile', path.join(repo, 'nixos/storage.json')],
    {reject: false},
  )
  if (r.exitCode !== 0) throw new Error(`evaluating ${repo}/nixos/backup.nix failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as BackupModule
}

/**
 * Installs, for the systemctl/journalctl stand-ins, EXACTLY the units nixos/backup.nix declares
 * (evaluated from `repo`): their ExecStart (the Nix store copies of scripts/*.sh mapped back to
 * `scriptsDir`, the store bash to `bash`), Environment (the host paths /var/lib/kopia,
 * /var/cache/kopia, /var/log/kopia, the drill scratch /var/cache/homelab-drill and the store
 * source list mapped into `hostDir`, the store copy of the storage file mapped back to
 * `<repo>/nixos/storage.json`),
 * EnvironmentFile (the sops.templates content rendered with test secrets into `hostDir`),
 * OnFailure, SuccessExitStatus and the timers' OnCalendar; plus `homelab-kopia` in `binDir`
 * (the wrapper backup.nix installs, with the kopia-backup unit's environment).
 *
 * @param options.binDir the host PATH folder holding the stand-ins (systemd-standin/ goes next to them)
 * @param options.hostDir per-test "host" folder for kopia's config, cache, logs, rendered secrets
 * @param options.repo the homelab copy: nixos/backup.nix, backup-settings.nix, backup.json, storage.json, scripts/
 * @param options.sources the backup sources (what Nix writes into the source list file)
 * @param options.offsite the loopback S3 server standing in for R2 (the stand-in kopia and the sync
 *   script copy blobs for real): its credentials become the rendered r2 secrets and the
 *   kopia-r2-sync unit gets `R2_ENDPOINT` (the script's own override of the R2 endpoint)
 */
export async function installBackupUnits(options: {
  binDir: string
  hostDir: string
  repo: string
  scriptsDir?: string
  sources: string[]
  offsite?: {endpoint: string; accessKeyId: string; secretAccessKey: string}
}): Promise<BackupUnits> {
  const scripts = options.scriptsDir ?? path.join(REPO_ROOT, 'scripts')
  const module = await evalBackupModule(options.repo)
  const systemdDir = path.join(options.binDir, 'systemd-standin')
  const secretsDir = path.join(options.hostDir, 'secrets-rendered')
  const kopiaDir = path.join(options.hostDir, 'kopia')
  const kopiaStandInDir = path.join(kopiaDir, 'kopia-standin')
  for (const dir of [path.join(systemdDir, 'units'), path.join(systemdDir, 'state'), path.join(systemdDir, 'journal'), secretsDir, kopiaStandInDir])
    await fs.mkdir(dir, {mode: 0o755, recursive: true})
  await fs.chmod(secretsDir, 0o700)

  const kopiaPassword = `pw with $pecial 'chars' ${Date.now()}`
  const secretValues: Record<string, string> = {
    'kopia/repository_password': kopiaPassword,
    'r2/access_key_id': 'AKIATESTSTANDIN',
    'r2/account_id': '0123456789abcdef0123456789abcdef',
    'r2/secret_access_key': 'secret-of-the-test',
  }
  if (options.offsite) {
    secretValues['r2/access_key_id'] = options.offsite.accessKeyId
    secretValues['r2/secret_access_key'] = options.offsite.secretAccessKey
  }
  const sourcesFile = path.join(options.hostDir, 'homelab-backup-sources')
  await fs.writeFile(sourcesFile, options.sources.map((s) => `${s}\n`).join(''))

  // sops-nix renders each template with the decrypted values, root-only.
  for (const [name, template] of Object.entries(module.config.sops.templates)) {
    const content = template.content.replaceAll(/@@([^@]+)@@/g, (_, key: string) => secretValues[key] ?? '')
    await fs.writeFile(path.join(secretsDir, name), content, {mode: 0o400})
  }

  const hostPath = (value: string): string =>
    value
      .replace(/^\/nix\/store\/[0-9a-z]{32}-homelab-backup-sources$/, sourcesFile)
      .replace(/^\/nix\/store\/[0-9a-z]{32}-homelab-storage\.json$/, path.join(options.repo, 'nixos/storage.json'))
      .replace(/^\/var\/(lib|cache|log)\/kopia(?=\/|$)/, (_, kind: string) => path.join(kopiaDir, kind === 'lib' ? '' : kind))
      .replace(/^\/var\/cache\/homelab-drill$/, path.join(options.hostDir, 'drill-scratch'))
      .replace(/^\/run\/secrets\/rendered\//, `${secretsDir}/`)
  const execStart = (value: string): string =>
    value
      .replace(/^\/nix\/store\/[0-9a-z]{32}-bash\/bin\/bash /, 'bash ')
      .replace(/\/nix\/store\/[0-9a-z]{32}-([\w.-]+\.sh)/g, (_, script: string) => path.join(scripts, script))

  for (const [name, service] of Object.entries(module.config.systemd.services)) {
    const lines = ['# generated by test/helpers/backup-units.ts from nixos/backup.nix', '[Unit]']
    for (const unit of service.onFailure ?? []) lines.push(`OnFailure=${unit}`)
    lines.push('', '[Service]')
    for (const [k, v] of Object.entries(service.environment ?? {})) lines.push(`Environment=${k}=${hostPath(v)}`)
    if (name === 'kopia-r2-sync' && options.offsite) lines.push(`Environment=R2_ENDPOINT=${options.offsite.endpoint}`)
    if (service.serviceConfig.EnvironmentFile) lines.push(`EnvironmentFile=${hostPath(service.serviceConfig.EnvironmentFile)}`)
    if (service.serviceConfig.SuccessExitStatus) lines.push(`SuccessExitStatus=${service.serviceConfig.SuccessExitStatus}`)
    lines.push(`ExecStart=${execStart(service.serviceConfig.ExecStart)}`, '')
    await fs.writeFile(path.join(systemdDir, 'units', `${name}.service`), lines.join('\n'))
  }

  for (const [name, timer] of Object.entries(module.config.systemd.timers))
    await fs.writeFile(path.join(systemdDir, 'units', `${name}.timer`), `[Timer]\nOnCalendar=${timer.timerConfig.OnCalendar}\nPersistent=${timer.timerConfig.Persistent ?? false}\n`)

  const common = module.config.systemd.services['kopia-backup'].environment ?? {}
  const wrapper = [
    '#!/usr/bin/env bash',
    "# homelab-kopia as nixos/backup.nix installs it: the kopia-backup unit's environment, then scripts/homelab-kopia.sh",
    ...Object.entries(common).map(([k, v]) => `export ${k}='${hostPath(v)}'`),
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
