import {Args, Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import type {HardwareConfigBackend} from '../../lib/host/install/nixos-anywhere-flags.js'
import {type HostInstallFile, type HostInstallResult, renderDryRun, renderInstalled} from '../../ui/host-install.js'

export type {HostInstallFile, HostInstallResult} from '../../ui/host-install.js'

export default class HostInstall extends HomelabCommand {
  static override summary = 'Install NixOS on a new host with nixos-anywhere: partition, install, copy in its age identity and SSH host key.'

  static override description = `ERASES the host's disk (homelab.diskDevice in nixos/configuration.nix) and installs nixosConfigurations.<HOST> with nixos-anywhere (the one on PATH, else nix run github:nix-community/nixos-anywhere). The target is any Linux reachable as root over SSH, typically the NixOS installer booted from USB.

Before erasing anything it checks that the age identity (--age-key-file, else your sops identities) decrypts nixos/secrets/host-secrets.sops.yaml, names the target and the disk, and asks (--yes skips; without a terminal --yes is required). Then it stores the admin password's sha-512 crypt hash as the host secret admin/password_hash (asked hidden twice, or --password-stdin; kept when already stored and no new one is given), generates the read-only deploy key git/deploy_key when nixos/git-access.json uses deploy-key and none is stored, generates the host's ed25519 SSH host key and pins it in known_hosts, and runs nixos-anywhere with --extra-files holding only what cannot come from the repository: /var/lib/sops-nix/key.txt (0600), /etc/ssh/ssh_host_ed25519_key (0600, .pub 0644), /etc/nixos/flake.nix (the bootstrap flake) and the hardware-configuration.nix nixos-anywhere generates on the target.

The system is built from this work tree (uncommitted changes included). After a successful install known_hosts and the host secrets file are committed (only those two; --no-commit leaves them), so the first homelab deploy pushes and ships them.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> azalab-0 --target root@192.168.1.50', description: 'Install azalab-0 on the machine booted from the NixOS installer at 192.168.1.50.'},
    {command: '<%= config.bin %> <%= command.id %> azalab-0 --target root@192.168.1.50 --dry-run', description: 'Print the nixos-anywhere command line and the files it would copy; change nothing.'},
    {command: 'printf %s "$PASSWORD" | <%= config.bin %> <%= command.id %> azalab-0 --target root@192.168.1.50 --password-stdin --yes', description: 'Without a terminal: the admin password on stdin, confirmation by flag.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    host: Args.string({description: 'host name in homelab.yaml (nixosConfigurations.<HOST>)', ignoreStdin: true, required: true}),
  }

  static override flags = {
    target: Flags.string({description: 'the running installer, [user@]address[:port], user root when left out (default: root@ the host\'s ssh address in homelab.yaml)', helpValue: 'USER@ADDRESS'}),
    yes: Flags.boolean({char: 'y', default: false, description: 'erase the disk without asking'}),
    'dry-run': Flags.boolean({default: false, description: 'print the nixos-anywhere command line and the files it would copy; change nothing'}),
    'password-stdin': Flags.boolean({default: false, description: 'read the admin user\'s new password from standard input (one line)'}),
    'age-key-file': Flags.file({description: 'age key file with the identity the host\'s sops-nix gets (default: the one of your sops identities that decrypts the host secrets)', helpValue: 'PATH'}),
    commit: Flags.boolean({allowNo: true, default: true, description: 'after a successful install, commit known_hosts and the host secrets file (only them), so homelab deploy ships them; --no-commit leaves them changed'}),
    'hardware-config': Flags.string({default: 'nixos-generate-config', description: 'how nixos-anywhere describes the hardware (nixos-generate-config --no-filesystems, or nixos-facter)', options: ['nixos-generate-config', 'nixos-facter']}),
  }

  async run(): Promise<HostInstallResult> {
    const {args, flags} = await this.parse(HostInstall)
    const homelab = await this.homelab(flags.repo)
    const {DRY_RUN_WORKDIR, performInstall, planOf, prepareInstall} = await import('../../lib/host/install/install.js')
    const {formatMode} = await import('../../lib/host/install/plan.js')
    const prepared = await prepareInstall({
      ageKeyFile: flags['age-key-file'],
      dryRun: flags['dry-run'],
      env: process.env,
      hardwareConfig: flags['hardware-config'] as HardwareConfigBackend,
      homeDir: os.homedir(),
      homelab,
      host: args.host,
      localUser: os.userInfo().username,
      target: flags.target,
    })
    const files = (plan: ReturnType<typeof planOf>): HostInstallFile[] => plan.extraFiles.map((f) => ({mode: formatMode(f.mode), owner: f.owner, path: `/${f.path}`, source: f.source}))
    const builtFrom = {input: prepared.host.flakeInput, url: prepared.homelabUrl}
    const deployKey = prepared.gitAccess.method === 'token' ? 'not used' : prepared.needsDeployKey ? 'generate' : 'present'

    if (flags['dry-run']) {
      const plan = planOf(prepared, DRY_RUN_WORKDIR)
      const result: HostInstallResult = {argv: plan.argv, builtFrom, command: plan.commandLine, deployKey, disk: prepared.disk, dryRun: true, extraFiles: files(plan), host: prepared.host.name, installed: false, passwordHash: prepared.hasPasswordHash ? 'kept' : 'missing', target: prepared.target}
      if (prepared.runnerProblem) this.warn(prepared.runnerProblem)
      if (!this.jsonEnabled()) this.log(renderDryRun(result))
      return result
    }

    // A missing --password-stdin fails before the person is asked to confirm; the password itself is asked after.
    if (!flags['password-stdin'] && !prepared.hasPasswordHash && !this.canPrompt()) throw passwordFlagRequired()
    await this.confirmErase(flags.yes, prepared.host.name, prepared.target, prepared.disk)
    const password = await this.adminPassword(flags['password-stdin'], prepared.hasPasswordHash)
    const outcome = await performInstall(prepared, {
      commit: flags.commit,
      env: process.env,
      interactive: Boolean(process.stdin.isTTY) && !flags['password-stdin'],
      onEvent: (line) => {
        if (!this.jsonEnabled()) process.stderr.write(`${line}\n`)
      },
      password,
    })
    const result: HostInstallResult = {
      argv: outcome.plan.argv,
      builtFrom,
      command: outcome.plan.commandLine,
      deployKey: prepared.needsDeployKey ? 'generated' : deployKey,
      deployKeyPublic: outcome.deployKeyPublic,
      disk: prepared.disk,
      dryRun: false,
      extraFiles: files(outcome.plan),
      host: prepared.host.name,
      hostKeyFingerprint: outcome.hostKeyFingerprint,
      changedFiles: outcome.changedFiles,
      commit: outcome.commit?.commit,
      installed: true,
      passwordHash: outcome.passwordHash,
      target: prepared.target,
    }
    if (outcome.commit?.problem) this.warn(`could not commit ${outcome.changedFiles.join(' and ')}: ${outcome.commit.problem}; commit them yourself before homelab deploy`)
    if (!this.jsonEnabled()) this.log(renderInstalled(result, prepared.gitAccess.forge))
    return result
  }

  /** The new admin password (stdin or hidden prompt twice), or undefined to keep the stored hash. */
  private async adminPassword(stdin: boolean, hasHash: boolean): Promise<string | undefined> {
    if (stdin) {
      const {readStdinLine} = await import('../../ui/deploy-callbacks.js')
      const value = await readStdinLine(process.stdin)
      if (value === '') throw new UsageError('--password-stdin: standard input is empty; give the admin password on one line')
      return value
    }

    if (hasHash) return undefined
    if (!this.canPrompt()) throw passwordFlagRequired()
    const {password} = await import('@inquirer/prompts')
    for (;;) {
      // eslint-disable-next-line no-await-in-loop
      const first = await password({mask: true, message: 'New password of the admin user (for sudo on the host):', validate: (v) => v !== '' || 'the password cannot be empty'})
      // eslint-disable-next-line no-await-in-loop
      const second = await password({mask: true, message: 'The same password again:'})
      if (first === second) return first
      process.stderr.write('The two passwords differ; again.\n')
    }
  }

  /** Names the target and the disk, then asks; --yes skips; no terminal and no --yes is a usage error. */
  private async confirmErase(yes: boolean, host: string, target: string, disk: string): Promise<void> {
    if (!this.jsonEnabled()) process.stderr.write(`About to install ${host} on ${target}: this ERASES ${disk} on that machine.\n`)
    if (yes) return
    if (!this.canPrompt()) throw new UsageError(`--yes is required when not running in a terminal: installing ${host} on ${target} erases ${disk}; nothing was changed`)
    const {confirm} = await import('@inquirer/prompts')
    if (!(await confirm({default: false, message: `Erase ${disk} on ${target} and install ${host}?`}))) throw new UsageError(`not confirmed: nothing was changed, ${disk} on ${target} is untouched`)
  }
}

function passwordFlagRequired(): UsageError {
  return new UsageError('--password-stdin is required when not running in a terminal: nixos/secrets/host-secrets.sops.yaml has no admin.password_hash yet, and the admin user needs a password for sudo; nothing was changed')
}
