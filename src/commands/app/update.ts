import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import type {UpdateChange} from '../../lib/app/plan-update.js'
import {checkHostname, checkImage, checkName, checkPort, checkStorage, parseEnvFlags} from '../../lib/app/spec.js'
import {UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'

/**
 * What `homelab app update --json` prints (schemas/app-update.schema.json). `changed` are
 * repo-relative paths; `clusterDiff` is the `homelab diff` report in short (null with --no-diff,
 * when nothing changed, or when it could not run: `diffSkipped` says why).
 */
export interface AppUpdateResult {
  schemaVersion: 1
  name: string
  changes: UpdateChange[]
  changed: string[]
  notes: string[]
  /** Unified diff of the files (as git diff shows it). */
  diff: string
  /** `homelab validate` after the change: error and warning counts (null when nothing changed). */
  validation: {errors: number; warnings: number} | null
  clusterDiff: {
    from: string
    to: string
    changed: boolean
    objects: {kustomization: string; object: string; action: string}[]
    warnings: string[]
  } | null
  diffSkipped: string | null
  next: string
}

export default class AppUpdate extends HomelabCommand {
  static override summary = "Change an app's image, environment, port, volume size or hostname in its manifests, validated, all or nothing."

  static override description = `Edits the app's files in place (comments, order and quoting kept): --image and --env on the app's container (the Deployment, StatefulSet or DaemonSet named like the app, its container named like the app, else the first), --port on its containerPort and on what followed it (numeric probe ports, a Service's numeric targetPort; the Service's own port and the tunnel route stay), --storage on the capacity of the hostPath PersistentVolume bound to its claim, and --hostname on its tunnel route (every ingress rule of its current hostname, or a new rule before the catch-all; the cloudflared checksum annotation follows).

--storage only grows: a size below the volume's capacity or the claim's request is refused, as Kubernetes cannot shrink a volume. The claim keeps its request: Kubernetes resizes only dynamically provisioned claims, and a hostPath volume's capacity is not enforced, so the PersistentVolume's capacity is what records the size. The storage file records no sizes and does not change.

After writing, the tree is checked with homelab validate and its cluster change shown with homelab diff (HEAD against the working tree, so your other uncommitted changes show too; --no-diff skips it). A validation error in a changed file, a homelab diff error, or an interrupted run leaves every file as it was. Nothing reaches the cluster until you commit and run homelab deploy.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> vaultwarden --image docker.io/vaultwarden/server:1.35.0', description: 'A new image: the diff of the Deployment is shown.'},
    {command: '<%= config.bin %> <%= command.id %> vaultwarden --env SIGNUPS_ALLOWED=true --env LOG_LEVEL=warn', description: 'Set one variable in place and append another.'},
    {command: '<%= config.bin %> <%= command.id %> immich --storage 750Gi --no-diff --json', description: 'Grow the volume (never shrink), report as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> libsql --hostname sql.example.org', description: 'Move the tunnel route to another hostname (then: cloudflared tunnel route dns).'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'the app (its folder name under the apps folder)', required: true}),
  }

  static override flags = {
    image: Flags.string({description: 'new container image, e.g. ghcr.io/owner/app:1.3.0 (homelab app outdated lists the newer tags)'}),
    env: Flags.string({description: 'plain environment variable NAME=VALUE to set (repeatable); a variable from a Secret is refused', multiple: true}),
    port: Flags.integer({description: 'new container port (1-65535)'}),
    storage: Flags.string({description: 'new volume size, a Kubernetes quantity like 20Gi: only larger than now'}),
    hostname: Flags.string({description: 'new public hostname of its tunnel route (added when it has none)'}),
    'no-diff': Flags.boolean({description: 'do not build and show homelab diff after the change (and do not refuse on its errors)'}),
  }

  async run(): Promise<AppUpdateResult> {
    const {args, flags} = await this.parse(AppUpdate)
    const name = checkName(args.name)
    if (flags.port === 0) throw new UsageError('--port 0: app update changes the port, it does not take it away (1-65535)')
    const port = flags.port === undefined ? undefined : checkPort(flags.port)
    const storage = flags.storage === undefined ? undefined : checkStorage(flags.storage)
    if (flags.storage !== undefined && storage === undefined) throw new UsageError(`--storage ${flags.storage}: a volume cannot be taken away with app update (Kubernetes cannot shrink one)`)
    const spec = {
      env: parseEnvFlags(flags.env ?? []),
      hostname: flags.hostname === undefined ? undefined : checkHostname(flags.hostname),
      image: flags.image === undefined ? undefined : checkImage(flags.image),
      name,
      port,
      storage,
    }
    const homelab = await this.homelab(flags.repo)
    const {planUpdateApp} = await import('../../lib/app/plan-update.js')
    const {summarize, unifiedDiff} = await import('../../lib/app/change-set.js')
    const plan = await planUpdateApp({homelab, spec})
    const {changed} = summarize(plan.set)
    const result: AppUpdateResult = {
      changed,
      changes: plan.changes,
      clusterDiff: null,
      diff: await unifiedDiff(plan.set),
      diffSkipped: null,
      name,
      next: changed.length > 0 ? 'commit, then homelab deploy' : 'nothing',
      notes: plan.notes,
      schemaVersion: 1,
      validation: null,
    }
    const c = colors()
    if (changed.length === 0) {
      if (!this.jsonEnabled()) this.log([...plan.notes, `Nothing to change for ${name}.`].join('\n'))
      return result
    }

    if (!this.jsonEnabled() && process.stderr.isTTY) process.stderr.write(`validating${flags['no-diff'] ? '' : ' and building homelab diff'}…\n`)
    const {applyUpdate} = await import('../../lib/app/update.js')
    const applied = await applyUpdate(homelab, plan.set, {command: `app update ${name}`, diff: !flags['no-diff']})
    result.validation = applied.validation
    result.diffSkipped = applied.diffSkipped
    const report = applied.clusterDiff
    if (report)
      result.clusterDiff = {
        changed: report.changed,
        from: report.from.label,
        objects: report.objects.map((o) => ({action: o.action, kustomization: o.kustomization, object: o.object})),
        to: report.to.label,
        warnings: report.warnings,
      }

    if (!this.jsonEnabled()) {
      const lines = [`${c.green('✓')} updated app ${c.bold(name)}`]
      for (const ch of plan.changes) lines.push(`  ${c.yellow(ch.what.padEnd(8))} ${ch.target}: ${ch.from ?? '(none)'} → ${ch.to}  ${c.dim(ch.file)}`)
      for (const n of plan.notes) lines.push(c.dim(`  note: ${n}`))
      lines.push(`homelab validate: ${applied.validation.errors} errors, ${applied.validation.warnings} warnings`)
      if (report) {
        const {renderDiffReport} = await import('../../ui/diff.js')
        lines.push('', renderDiffReport(report, c), '')
      } else if (applied.diffSkipped !== '--no-diff') lines.push(c.yellow(`${applied.diffSkipped}; the files' diff:`), result.diff.trimEnd())
      lines.push(`Next: commit, then ${c.bold('homelab deploy')}.`)
      this.log(lines.join('\n'))
    }

    return result
  }
}
