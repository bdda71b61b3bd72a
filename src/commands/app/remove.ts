import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import {checkName} from '../../lib/app/spec.js'
import {colors} from '../../ui/color.js'

/** What `homelab app remove --json` prints (repo-relative paths). */
export interface AppRemoveResult {
  name: string
  dryRun: boolean
  deleted: string[]
  changed: string[]
  /** PersistentVolumes taken out of persistent-volumes.yaml. */
  volumes: string[]
  /** Hostnames whose tunnel routes were taken out. */
  hostnames: string[]
  /** Host folders whose data is kept (delete by hand, see `deleteDataCommand`). */
  keptData: string[]
  /** The command that deletes the kept data on the host (after `homelab deploy`); null without kept data. */
  deleteDataCommand: string | null
  diff?: string
  next: string
}

export default class AppRemove extends HomelabCommand {
  static override summary = 'Remove an app: its folder and every piece `homelab app new` added for it.'

  static override description = `Deletes flux/clusters/<cluster>/manifests/apps/NAME/ and takes out of the shared files exactly what belongs to it: the apps kustomization entry, the PersistentVolumes bound to its claims, its storage file entry (so it is no longer a backup source), and the tunnel routes to its Services (the cloudflared checksum annotation follows). All or nothing, like app new.

The data under <storage root>/NAME on the host is kept; the output says how to delete it. Asks to confirm in a terminal; without one, --yes is required.

Only apps app new could have written are removed. It refuses, with no override, the cloudflared tunnel, a reserved name (default, flux-system, kube-*, or a namespace declared or used outside the apps folder, e.g. the platform namespaces of manifests/cluster/namespaces.yaml), and a folder that declares or puts objects in such a namespace: Flux (prune: true) would delete the platform objects or the whole namespace. Take those out by hand if you mean it.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> whoami', description: 'Remove the app whoami after confirming.'},
    {command: '<%= config.bin %> <%= command.id %> wiki --yes --json', description: 'Remove without asking and print what changed as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> wiki --dry-run', description: 'Show the diff, write nothing.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'the app (its folder name under the apps folder)', required: true}),
  }

  static override flags = {
    'dry-run': Flags.boolean({description: 'show the unified diff, write nothing'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask to confirm (required without a terminal)'}),
  }

  async run(): Promise<AppRemoveResult> {
    const {args, flags} = await this.parse(AppRemove)
    const name = checkName(args.name)
    const homelab = await this.homelab(flags.repo)
    const {planRemoveApp} = await import('../../lib/app/plan-remove.js')
    const {summarize, unifiedDiff, writeChangeSet} = await import('../../lib/app/change-set.js')
    const plan = await planRemoveApp({homelab, name})
    const {changed, deleted} = summarize(plan.set)
    const ssh = homelab.config.hosts[0]?.ssh.replace(/:\d+$/, '')
    const result: AppRemoveResult = {
      changed,
      deleteDataCommand: plan.keptData.length > 0 && ssh ? `ssh ${ssh} sudo rm -rf ${plan.keptData.join(' ')}` : null,
      deleted,
      dryRun: Boolean(flags['dry-run']),
      hostnames: plan.hostnames,
      keptData: plan.keptData,
      name,
      next: 'homelab deploy',
      volumes: plan.volumes,
    }
    const c = colors()

    if (flags['dry-run']) {
      result.diff = await unifiedDiff(plan.set)
      if (!this.jsonEnabled()) {
        this.log(result.diff.trimEnd())
        this.log(c.dim(`\nDry run: ${deleted.length} files would be deleted, ${changed.length} changed; nothing was written.`))
      }

      return result
    }

    if (!flags.yes) {
      if (!this.canPrompt()) throw new UsageError(`removing ${name} needs --yes when not running in a terminal`)
      const {confirm} = await import('@inquirer/prompts')
      this.logToStderr(`${deleted.length} files to delete, ${changed.length} to change (--dry-run shows the diff).`)
      if (!(await confirm({default: false, message: `Remove app ${name}?`}))) throw new UsageError('cancelled; nothing was written')
    }

    await writeChangeSet(plan.set, {command: `app remove ${name}`})
    if (!this.jsonEnabled()) {
      const lines = [`${c.green('✓')} removed app ${c.bold(name)}`]
      for (const f of deleted) lines.push(`  ${c.red('deleted')}  ${f}`)
      for (const f of changed) lines.push(`  ${c.yellow('changed')}  ${f}`)
      if (plan.hostnames.length > 0) lines.push(`Routes removed: ${plan.hostnames.join(', ')} (delete their DNS records in Cloudflare if you no longer need them).`)
      for (const p of plan.keptData) lines.push(`Data kept: ${p} on the host is not deleted and is no longer backed up after the deploy.`)
      if (result.deleteDataCommand) lines.push(`  To delete it for good (after homelab deploy): ${result.deleteDataCommand}`)
      lines.push(`Next: commit, then ${c.bold('homelab deploy')}.`)
      this.log(lines.join('\n'))
    }

    return result
  }
}
