import {Args, Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import {UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'
import type {HostRemoveResult} from '../../ui/host-add.js'

export type {HostRemoveResult} from '../../ui/host-add.js'

export default class HostRemove extends HomelabCommand {
  static override summary = 'Remove an agent host: drain its node on the server, then remove it everywhere homelab host add wrote.'

  static override description = `Refuses the k3s server, and refuses while the storage of an app is pinned to the host (nixos/storage.json node NAME: its PersistentVolume is there); remove or move those apps first.

Then, after a confirmation (--yes without a terminal), drains the node over SSH on the server (k3s kubectl drain NAME --ignore-daemonsets --delete-emptydir-data --timeout=300s, then k3s kubectl delete node NAME; --no-drain skips both, e.g. for a machine that is gone) and removes the host from homelab.yaml, nixos/hosts.json, nixos/hosts/NAME/, its lines in known_hosts, the age recipient host add --age-recipient added for it, and host secret k3s/token when only the server is left (other agents still join with it). All files are written together: a failure leaves every file as it was.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> azalab-1', description: 'Drain azalab-1 and remove it (asks first).'},
    {command: '<%= config.bin %> <%= command.id %> azalab-1 --no-drain --yes --json', description: 'A machine that is gone: no drain, no question, JSON out.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'the host in homelab.yaml (an agent)', required: true}),
  }

  static override flags = {
    drain: Flags.boolean({allowNo: true, default: true, description: 'drain and delete the node on the server first; --no-drain skips it'}),
    yes: Flags.boolean({char: 'y', default: false, description: 'do not ask for confirmation'}),
    'sudo-password-stdin': Flags.boolean({default: false, description: 'read the server\'s sudo password from the first line of stdin (for kubectl when the kubeconfig is root-only)'}),
    ...connectionFlags,
  }

  async run(): Promise<HostRemoveResult> {
    const {args, flags} = await this.parse(HostRemove)
    const homelab = await this.homelab(flags.repo)
    const [{checkHostRemove, drainNode, removeHostFiles}, {loadIdentities}, {openHostConnection}, {renderHostRemoved}] = await Promise.all([
      import('../../lib/host/add/remove.js'),
      import('../../lib/age/identities.js'),
      import('../../ui/host-connection.js'),
      import('../../ui/host-add.js'),
    ])
    const checked = await checkHostRemove(homelab, args.name)
    await this.confirmRemove(flags.yes, args.name, flags.drain ? checked.server : undefined)
    let stdinPassword: string | undefined
    if (flags['sudo-password-stdin']) {
      const {readStdinLine} = await import('../../ui/deploy-callbacks.js')
      stdinPassword = await readStdinLine(process.stdin)
    }

    // Planned first (the host secrets decrypted), drained next, written last: a repository that
    // cannot be changed leaves the node as it was.
    let drained = false
    const drain = async () => {
      if (!flags.drain) return
      const server = homelab.config.hosts.find((h) => h.name === checked.server)!
      const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host: server, stdinFlag: '--sudo-password-stdin', stdinPassword})
      try {
        if (!this.jsonEnabled() && process.stderr.isTTY) process.stderr.write(colors(process.stderr).dim(`draining ${args.name} on ${server.name}…\n`))
        drained = (await drainNode(connection, args.name)).registered
      } finally {
        await connection.close()
      }
    }

    // Where its off-site copy is, read while it is still a host.
    const offsiteCopy = await (await import('../../lib/backup/offsite-target.js')).offsiteCopyUrl(homelab, args.name)
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const outcome = await removeHostFiles({beforeWrite: drain, checked, env: process.env, homeDir: os.homedir(), homelab, identities})
    const result: HostRemoveResult = {...outcome, drained, host: args.name, offsiteCopy}
    if (!this.jsonEnabled()) this.log(renderHostRemoved(result, colors()))
    return result
  }

  /** Asks before draining and removing; --yes skips; no terminal and no --yes is a usage error. */
  private async confirmRemove(yes: boolean, name: string, server: string | undefined): Promise<void> {
    if (yes) return
    if (!this.canPrompt()) throw new UsageError(`host remove needs --yes when not running in a terminal: it ${server ? `drains ${name} on ${server} and ` : ''}removes it from the repository; nothing was changed`)
    const {confirm} = await import('@inquirer/prompts')
    if (!(await confirm({default: false, message: `${server ? `Drain ${name} on ${server} and remove` : 'Remove'} it from the homelab?`}))) throw new UsageError(`not confirmed: nothing was changed, ${name} is still a host`)
  }
}
