import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {oneHost} from '../lib/config/one-host.js'
import {UsageError} from '../lib/errors.js'
import {parseDuration} from '../lib/flux/duration.js'
import type {ReconcileOutcome} from '../lib/flux/reconcile.js'
import {colors} from '../ui/color.js'

/**
 * `homelab resume --json` (schemas/resume.schema.json): `{schemaVersion: 1, ok, results: [{kind,
 * namespace, name, outcome: "ready"|"failed"|"timeout", requestedAt, message, revision?,
 * elapsedMs}]}`. Exit 1 when any outcome is not `ready`.
 */
export interface ResumeResult {
  schemaVersion: 1
  ok: boolean
  results: ReconcileOutcome[]
}

export default class Resume extends HomelabCommand {
  static override summary = 'Let Flux reconcile a suspended Kustomization again and wait until it is Ready (as flux resume kustomization).'

  static override description = `Patches spec.suspend of each named object to false with \`k3s kubectl patch --type merge\` over the same SSH connection as homelab status, then requests reconciliation (annotation reconcile.fluxcd.io/requestedAt) and waits, polling every 2 seconds, until each object handled the request and is Ready, or fails, or --timeout passes; the objects still pending are shown live on a terminal. NAME is the object's name or NAMESPACE/NAME; --all resumes every suspended object of the kind.
Exit status: 0 all Ready, 1 any failed or timed out, 2 host unreachable, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> apps', description: 'Resume the apps Kustomization and wait until it applied and is Ready.'},
    {command: '<%= config.bin %> <%= command.id %> --all --timeout 10m --json', description: 'Every suspended Kustomization, waiting up to 10 minutes, as JSON.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    names: Args.string({ignoreStdin: true, description: 'objects: NAME or NAMESPACE/NAME', required: false}),
  }

  static override strict = false

  static override flags = {
    all: Flags.boolean({description: 'every suspended object of the kind, in every namespace', default: false}),
    kind: Flags.string({description: 'the kind of the objects', options: ['kustomization', 'helmrelease', 'gitrepository'], default: 'kustomization'}),
    timeout: Flags.string({description: 'how long to wait for Ready, e.g. 90s, 5m', default: '5m'}),
    host: Flags.string({description: 'the k3s host (name in homelab.yaml; default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the k3s host as a name, glob or @tag of homelab.yaml (must select one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<ResumeResult> {
    const {argv, flags} = await this.parse(Resume)
    const names = [...new Set(argv as string[])]
    if (names.length === 0 && !flags.all) throw new UsageError('name at least one object, or pass --all', {suggestions: ['homelab resume apps', 'homelab resume --all']})
    if (names.length > 0 && flags.all) throw new UsageError('give names or --all, not both')
    const timeoutMs = parseDuration(flags.timeout)
    const homelab = await this.homelab(flags.repo)
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'resume')
    const [{getFluxState}, {resolveSuspendTargets, resumeAndWait, SUSPEND_KINDS}, {renderPending}, {openHostConnection}] = await Promise.all([
      import('../lib/flux/kubectl.js'),
      import('../lib/flux/suspend.js'),
      import('../ui/status.js'),
      import('../ui/host-connection.js'),
    ])
    const kind = SUSPEND_KINDS[flags.kind]
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const state = await getFluxState({connection, kinds: [kind]})
      const targets = resolveSuspendTargets(state, kind, names, {all: flags.all, resume: true})
      const live = !this.jsonEnabled() && process.stderr.isTTY
      const c = colors(process.stderr)
      let drawn = 0
      const results = await resumeAndWait({
        connection,
        onProgress(progress) {
          if (!live) return
          const text = progress.pending.length > 0 ? renderPending(progress.pending, progress.elapsedMs, c) : ''
          process.stderr.write(`${drawn > 0 ? `\u001B[${drawn}F\u001B[J` : ''}${text ? `${text}\n` : ''}`)
          drawn = text ? text.split('\n').length : 0
        },
        targets,
        timeoutMs,
      })
      const result: ResumeResult = {ok: results.every((r) => r.outcome === 'ready'), results, schemaVersion: 1}
      if (!this.jsonEnabled()) {
        const out = colors()
        if (results.length === 0) this.log(`no suspended ${kind} to resume`)
        for (const r of results) {
          const mark = r.outcome === 'ready' ? out.green('✓') : out.red('✗')
          this.log(`${mark} ${r.kind} ${r.namespace}/${r.name}: resumed, ${r.outcome === 'ready' ? `Ready, ${r.message}` : r.message} (${(r.elapsedMs / 1000).toFixed(1)}s)`)
        }
      }

      if (!result.ok) process.exitCode = 1
      return result
    } finally {
      await connection.close()
    }
  }
}
