import type {RemoteExecOptions, RemoteResult, RemoteRunner} from '../../../src/lib/flux/kubectl.js'

type Item = {kind: string; metadata: {name: string; namespace: string; annotations?: Record<string, string>}; status: Record<string, unknown>; [k: string]: unknown}

/**
 * An in-memory host for unit tests: answers `k3s kubectl get … -o json` from a List and
 * `k3s kubectl patch` by setting the annotation; on the next get, a "controller" marks each
 * request handled and applies `outcome[name]` (ready by default, 'failed', or 'ignore').
 */
export class FakeHost implements RemoteRunner {
  readonly commands: string[] = []
  readonly patches: Array<{resource: string; name: string; namespace: string; patch: unknown}> = []
  outcome: Record<string, 'failed' | 'ignore' | 'ready'> = {}
  /** Commit the source serves after a reconcile request (converge tests). */
  fetchCommit?: string
  kubeconfigReadable = true
  sudoCalls = 0

  constructor(public list: {items: Item[]}) {}

  async exec(command: string, _options?: RemoteExecOptions): Promise<RemoteResult> {
    this.commands.push(command)
    if (!this.kubeconfigReadable) return {exitCode: 97, stderr: '', stdout: ''}
    return this.kubectl(command)
  }

  async sudo(command: string, _options?: RemoteExecOptions): Promise<RemoteResult> {
    this.sudoCalls++
    this.commands.push(`sudo ${command}`)
    return this.kubectl(command)
  }

  private kubectl(command: string): RemoteResult {
    if (/ kubectl get /.test(command)) {
      this.controllerTick()
      return {exitCode: 0, stderr: '', stdout: JSON.stringify(this.list)}
    }

    const m = / kubectl patch (\S+) (\S+) -n (\S+) --type merge -p '(.*)'/.exec(command)
    if (m) {
      const patch = JSON.parse(m[4])
      this.patches.push({name: m[2], namespace: m[3], patch, resource: m[1]})
      const item = this.list.items.find((i) => i.metadata.name === m[2] && i.metadata.namespace === m[3] && m[1].startsWith(i.kind.toLowerCase().replace(/y$/, '')))
      if (!item) return {exitCode: 1, stderr: `Error from server (NotFound): ${m[1]} "${m[2]}" not found\n`, stdout: ''}
      item.metadata.annotations = {...item.metadata.annotations, ...patch.metadata.annotations}
      return {exitCode: 0, stderr: '', stdout: `${m[1]}/${m[2]} patched\n`}
    }

    return {exitCode: 127, stderr: `unexpected command ${command}`, stdout: ''}
  }

  private controllerTick(): void {
    for (const item of this.list.items) {
      const requested = item.metadata.annotations?.['reconcile.fluxcd.io/requestedAt']
      if (!requested || item.status.lastHandledReconcileAt === requested) continue
      const outcome = this.outcome[item.metadata.name] ?? 'ready'
      if (outcome === 'ignore') continue
      item.status.lastHandledReconcileAt = requested
      const conditions = outcome === 'ready'
        ? [{lastTransitionTime: requested, message: 'Applied revision: main@sha1:x', reason: 'ReconciliationSucceeded', status: 'True', type: 'Ready'}]
        : [{lastTransitionTime: requested, message: 'kustomize build failed: boom', reason: 'BuildFailed', status: 'False', type: 'Ready'}]
      item.status.conditions = conditions
      if (item.kind === 'GitRepository' && this.fetchCommit) {
        item.status.artifact = {revision: `main@sha1:${this.fetchCommit}`}
      }
    }
  }
}

/** A clock that advances when slept on. */
export function fakeClock(start = Date.parse('2026-11-24T08:00:00Z')) {
  let t = start
  return {now: () => t, sleep: async (ms: number) => { t += ms }}
}
