import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {UsageError} from '../lib/errors.js'
import {parseDuration} from '../lib/flux/duration.js'
import type {ReconcileOutcome} from '../lib/flux/reconcile.js'
import {colors} from '../ui/color.js'
import {pickHost} from '../lib/config/hosts.js'

/**
 * The `homelab reconcile --json` result: one outcome per object, sources first with
 * `--with-source`: `{ok, skipped: [{kind, namespace, name, reason}], results: [{kind, namespace,
 * name, outcome: "ready"|"failed"|"timeout", requestedAt, message, revision?, elapsedMs}]}`.
 * Exit 1 when any outcome is not `ready`.
 */
export interface ReconcileResult {
  ok: boolean
  skipped: Array<{kind: string; namespace: string; name: string; reason: string}>
  results: ReconcileOutcome[]
}

export default class Reconcile extends HomelabCommand {
  static override summary = 'Make Flux reconcile now and wait until each object handled the request and is Ready.'

  static override description = `Requests reconciliation the way \`flux reconcile\` does: a merge patch of the annotation reconcile.fluxcd.io/requestedAt on each object (the GitRepository first with --with-source), then polls with one \`k3s kubectl get\` every 2 seconds until each object's status.lastHandledReconcileAt reaches the request and it is Ready, or it fails (Ready False, Stalled), or --timeout passes. The objects still pending are shown live on a terminal.

NAME is a Kustomization or HelmRelease name, NAMESPACE/NAME, or KIND/[NAMESPACE/]NAME with KIND one of kustomization (ks), helmrelease (hr), gitrepository (source). Suspended objects are refused (and skipped with --all).
Exit status: 0 all Ready, 1 any failed or timed out, 2 host unreachable, 3 bad arguments.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> apps --with-source', description: 'Fetch the source now, then apply the apps Kustomization and wait.'},
    {command: '<%= config.bin %> <%= command.id %> --all --timeout 10m', description: 'Reconcile every Kustomization and HelmRelease, waiting up to 10 minutes.'},
    {command: '<%= config.bin %> <%= command.id %> ks/flux-system/infrastructure --json', description: 'One object, the outcome as JSON.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    names: Args.string({ignoreStdin: true, description: 'objects to reconcile: NAME, NAMESPACE/NAME or KIND/[NAMESPACE/]NAME', required: false}),
  }

  static override strict = false

  static override flags = {
    all: Flags.boolean({description: 'every Kustomization and HelmRelease that is not suspended', default: false}),
    'with-source': Flags.boolean({description: 'reconcile the GitRepository of each object first', default: false}),
    timeout: Flags.string({description: 'how long to wait, e.g. 90s, 5m, 1h', default: '5m'}),
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    ...connectionFlags,
  }

  async run(): Promise<ReconcileResult> {
    const {argv, flags} = await this.parse(Reconcile)
    const names = argv as string[]
    if (names.length === 0 && !flags.all) throw new UsageError('name at least one Kustomization or HelmRelease, or pass --all', {suggestions: ['homelab reconcile apps', 'homelab reconcile --all']})
    if (names.length > 0 && flags.all) throw new UsageError('give names or --all, not both')
    const timeoutMs = parseDuration(flags.timeout)
    const homelab = await this.homelab(flags.repo)
    const host = pickHost(homelab, flags.host)
    const [{getFluxState, reconcileAndWait, resolveTargets}, {renderPending}, {openHostConnection}] = await Promise.all([
      import('../lib/flux/index.js'),
      import('../ui/status.js'),
      import('../ui/host-connection.js'),
    ])
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const state = await getFluxState({connection})
      const {skipped, targets} = resolveTargets(state, names, {all: flags.all})
      const c = colors(process.stderr)
      const live = !this.jsonEnabled()
      const progressShown = live && Boolean(process.stderr.isTTY) // progress on a terminal only, never on a pipe or under --json (issue 17)
      let drawn = 0
      const results = await reconcileAndWait({
        connection,
        onProgress(progress) {
          if (!progressShown) return
          const text = renderPending(progress.pending, progress.elapsedMs, c)
          const clear = process.stderr.isTTY && drawn > 0 ? `\u001B[${drawn}F\u001B[J` : ''
          if (process.stderr.isTTY || progress.pending.length > 0) process.stderr.write(`${clear}${text}\n`)
          drawn = text.split('\n').length
        },
        state,
        targets: targets.map((t) => ({kind: t.kind, name: t.name, namespace: t.namespace})),
        timeoutMs,
        withSource: flags['with-source'],
      })
      const result: ReconcileResult = {
        ok: results.every((r) => r.outcome === 'ready'),
        results,
        skipped: skipped.map((s) => ({kind: s.kind, name: s.name, namespace: s.namespace, reason: 'suspended'})),
      }
      if (live) {
        const out = colors()
        for (const s of result.skipped) this.log(`${out.yellow('‖')} ${s.kind} ${s.namespace}/${s.name}: skipped (suspended)`)
        for (const r of results) {
          const mark = r.outcome === 'ready' ? out.green('✓') : out.red('✗')
          const took = `${(r.elapsedMs / 1000).toFixed(1)}s`
          this.log(`${mark} ${r.kind} ${r.namespace}/${r.name}: ${r.outcome === 'ready' ? `Ready, ${r.message}` : r.message} (${took})`)
        }
      }

      if (!result.ok) process.exitCode = 1
      return result
    } finally {
      await connection.close()
    }
  }
}
