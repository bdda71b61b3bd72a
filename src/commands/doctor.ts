import {Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import type {DoctorReport} from '../lib/diagnose/doctor/index.js'
import {colors} from '../ui/color.js'

/**
 * `homelab doctor`: every precondition of the other commands in one run, ✓/✗ with the fix.
 * `--json` prints the {@link DoctorReport} (schemas/doctor.schema.json): `{schemaVersion: 1,
 * checkedAt, offline, host{name, ssh} | null, ok, checks[{id, title, status: "ok"|"fail"|"skip",
 * detail, fix}]}`. Exit 0 when nothing failed, 1 on any ✗ (also when the host cannot be
 * reached or its key is refused: that is a ✗ line, not exit 2).
 */
export default class Doctor extends HomelabCommand {
  static override summary = 'Check every precondition of the other commands, each ✓ or ✗ with what to do.'

  static override description = `Offline (no host):
  sops key file     SOPS_AGE_KEY_FILE (else ~/.config/sops/age/keys.txt) exists, holds an age identity, mode 0600
  sops decrypt      it decrypts every SOPS file of the repository (MACs verified)
  sops recipients   every SOPS file matches its .sops.yaml creation rule's recipients (homelab secrets check)
On the host, over one SSH connection (skipped with --offline):
  host key          pinned in known_hosts and matching (never pinned by doctor)
  ssh login, sudo   the login works; sudo works (password from HOMELAB_SUDO_PASSWORD or a prompt)
  repo fetch        root on the host can fetch the homelab repository (deploy's fetch check)
  host age key      /var/lib/sops-nix/key.txt decrypts the host secrets (nixos/**/*.sops.yaml)
  cluster sops-age  the Secret flux-system/sops-age holds the same identity (compared by recipient, never printed)
  k3s               every node Ready
  Flux              the controllers' Deployments ready, the GitRepository fetching
  backups           the backup units installed, the last runs fresh (homelab backup status)
  disk              under 90% used under the storage root and on /boot
A failing check never stops the others; a check that needs a failed one is skipped (-). Exit 1 on any ✗.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Every check, one line each.'},
    {command: '<%= config.bin %> <%= command.id %> --offline', description: 'Only the checks of this machine and the repository.'},
    {command: "<%= config.bin %> <%= command.id %> --json | jq '.checks[] | select(.status == \"fail\")'", description: 'The failed checks with their fixes, as JSON (schemaVersion 1).'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    offline: Flags.boolean({description: 'only the checks that need no host', default: false}),
    host: Flags.string({description: 'host in homelab.yaml to check (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as --on @tag or name (homelab.yaml tags; must select exactly one host)', exclusive: ['host']}),
    'connect-timeout': connectionFlags['connect-timeout'],
  }

  async run(): Promise<DoctorReport> {
    const {flags} = await this.parse(Doctor)
    const homelab = await this.homelab(flags.repo)
    const [{runDoctor}, {oneHost}, {openHostConnection}] = await Promise.all([import('../lib/diagnose/doctor/index.js'), import('../lib/config/one-host.js'), import('../ui/host-connection.js')])
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'doctor')
    const report = await runDoctor({
      connect: async () => openHostConnection({...this.hostConnectionOptions({'accept-new-host-key': false, 'connect-timeout': flags['connect-timeout']}), homelab, host}),
      env: process.env,
      homeDir: os.homedir(),
      homelab,
      host,
      offline: flags.offline,
    })
    if (!this.jsonEnabled()) {
      const c = colors()
      const sign = {fail: c.red('✗'), ok: c.green('✓'), skip: c.dim('-')}
      for (const check of report.checks) {
        this.log(`${sign[check.status]} ${check.title}: ${check.status === 'skip' ? c.dim(`skipped: ${check.detail}`) : check.detail}`)
        if (check.fix) this.log(`    fix: ${check.fix}`)
      }

      const failed = report.checks.filter((x) => x.status === 'fail').length
      this.log(failed === 0 ? c.green(`all ${report.checks.filter((x) => x.status === 'ok').length} checks passed${report.offline ? ' (offline)' : ''}`) : c.red(`${failed} check${failed === 1 ? '' : 's'} failed`))
    }

    if (!report.ok) process.exitCode = 1
    return report
  }
}
