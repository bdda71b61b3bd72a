import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import {UsageError} from '../../lib/errors.js'

/** `homelab host exec --json` (schemas/host-exec.schema.json): the command's words, exit status and output lines, gathered until it exits. */
export interface HostExecResult {
  schemaVersion: 1
  host: string
  command: string[]
  exitCode: number
  stdout: string[]
  stderr: string[]
}

/**
 * `homelab host exec [--sudo] -- CMD ARG…`: one command on the host, its words quoted exactly,
 * output streamed, its exit status passed through (also 1, 2 and 3: the command's, not ours).
 * Exit 130 after Ctrl-C (the remote command is ended too); 3 without a command.
 */
export default class HostExec extends HomelabCommand {
  static override summary = 'Run one command on the host over SSH, output streamed, exit status passed through.'

  static override description = `Everything after -- is the command: each word is quoted for the host's shell, so it runs exactly as given (no word splitting or globbing on either side; write \`sh -c '…'\` for a pipeline).
stdin is not forwarded. With --sudo it runs as root (sudo -n when no password is needed, else the password from --sudo-password-stdin, HOMELAB_SUDO_PASSWORD or a hidden prompt, sent to sudo on stdin only).
The exit status is the remote command's, whatever it is; Ctrl-C ends the remote command (its whole process group) and exits 130.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> -- df -h /srv', description: 'Disk use of the storage root.'},
    {command: '<%= config.bin %> <%= command.id %> --sudo -- ls -l /var/lib/sops-nix', description: 'A root-only folder, through sudo.'},
    {command: 'echo "$SUDO_PW" | <%= config.bin %> <%= command.id %> --sudo --sudo-password-stdin -- systemctl restart k3s', description: 'Non-interactive sudo.'},
    {command: '<%= config.bin %> <%= command.id %> --json -- uname -r', description: 'Exit status and output lines as JSON (schemaVersion 1), once it exits.'},
  ]

  static override strict = false

  static override enableJsonFlag = true

  static override flags = {
    sudo: Flags.boolean({description: 'run the command as root through sudo', default: false}),
    'sudo-password-stdin': Flags.boolean({description: 'read the sudo password from the first line of stdin', default: false}),
    host: Flags.string({description: 'host in homelab.yaml (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as --on @tag or name (homelab.yaml tags; must select exactly one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<HostExecResult | void> {
    const {argv, flags} = await this.parse(HostExec)
    const dashes = this.argv.indexOf('--')
    // --json after -- belongs to the command; before it, oclif took it as ours.
    // Only what follows `--` is the command: a word before it is a mistyped flag or a missing `--`.
    const words = dashes >= 0 ? this.argv.slice(dashes + 1) : []
    if (dashes < 0 || words.length === 0)
      throw new UsageError(argv.length > 0 ? `put the command after --: homelab host exec -- ${(argv as string[]).join(' ')}` : 'no command given: homelab host exec -- CMD [ARG…]')
    if (flags['sudo-password-stdin'] && !flags.sudo) throw new UsageError('--sudo-password-stdin needs --sudo')
    const homelab = await this.homelab(flags.repo)
    const [{execCommand}, {oneHost}, {openHostConnection}, {streamOnHost}] = await Promise.all([
      import('../../lib/diagnose/host.js'),
      import('../../lib/config/one-host.js'),
      import('../../ui/host-connection.js'),
      import('../../stream-command.js'),
    ])
    let stdinPassword: string | undefined
    if (flags['sudo-password-stdin']) {
      const {readStdinLine} = await import('../../ui/deploy-callbacks.js')
      stdinPassword = await readStdinLine(process.stdin)
    }

    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'host exec')
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host, stdinFlag: '--sudo-password-stdin', stdinPassword})
    try {
      const collect = this.jsonEnabled() ? {stderr: [] as string[], stdout: [] as string[]} : undefined
      const status = await streamOnHost(connection, execCommand(words), {collect, sudo: flags.sudo})
      process.exitCode = status
      if (collect) return {command: words, exitCode: status, host: host.name, schemaVersion: 1, ...collect}
    } finally {
      await connection.close()
    }
  }
}
