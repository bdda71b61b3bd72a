import {UsageError} from '../errors.js'
import {runKubectl, type RemoteRunner} from './kubectl.js'
import {type Clock, reconcileAndWait, type ReconcileOutcome, type WaitProgress} from './reconcile.js'
import {FLUX_RESOURCES, type FluxKind, type FluxObject, type FluxState, objectKey} from './types.js'

/**
 * `homelab suspend` / `homelab resume`, as `flux suspend|resume kustomization` (flux2
 * `cmd/flux/suspend.go`, `resume.go`): set `spec.suspend` of the object (here a JSON merge patch
 * over the status connection's `k3s kubectl`), and on resume wait until the controller
 * reconciled it and it is Ready (through {@link reconcileAndWait}: a reconcile request then the
 * same wait as `homelab reconcile`, so a Ready condition left from before the suspension does not
 * count).
 */

/** The kinds `--kind` takes, by the word flux uses (`flux suspend kustomization|helmrelease|source git`). */
export const SUSPEND_KINDS: Readonly<Record<string, FluxKind>> = {
  gitrepository: 'GitRepository',
  helmrelease: 'HelmRelease',
  kustomization: 'Kustomization',
}

/** What happened to one object on suspend. */
export interface SuspendOutcome {
  kind: FluxKind
  namespace: string
  name: string
  /** `suspended`: patched now; `already-suspended`: spec.suspend was true already (nothing done). */
  outcome: 'already-suspended' | 'suspended'
}

/**
 * The objects named (NAME or NAMESPACE/NAME) of `kind`, or with `all` every one of that kind
 * in every namespace: for suspend the ones not suspended yet, for resume the suspended ones.
 * @throws UsageError for an unknown or ambiguous name (listing the known ones)
 */
export function resolveSuspendTargets(state: FluxState, kind: FluxKind, names: string[], options: {all?: boolean; resume?: boolean} = {}): FluxObject[] {
  const objects: FluxObject[] = kind === 'Kustomization' ? state.kustomizations : kind === 'HelmRelease' ? state.helmReleases : state.gitRepositories
  if (options.all) return objects.filter((o) => o.suspended === Boolean(options.resume))
  const targets: FluxObject[] = []
  for (const name of names) {
    const parts = name.split('/')
    if (parts.length > 2 || parts.some((p) => p === '')) throw new UsageError(`${name}: expected NAME or NAMESPACE/NAME`)
    const [ns, n] = parts.length === 2 ? parts : [undefined, parts[0]]
    const matches = objects.filter((o) => o.name === n && (ns === undefined || o.namespace === ns))
    if (matches.length === 0)
      throw new UsageError(`${name}: no such ${kind} in the cluster`, {
        suggestions: [objects.length > 0 ? `known: ${objects.map((o) => `${o.namespace}/${o.name}`).join(', ')}` : `the cluster has no ${kind}`],
      })
    if (matches.length > 1) throw new UsageError(`${name}: ambiguous, matches ${matches.map((o) => objectKey(o)).join(', ')}`, {suggestions: ['give it as NAMESPACE/NAME']})
    if (!targets.some((t) => objectKey(t) === objectKey(matches[0]))) targets.push(matches[0])
  }

  return targets
}

/**
 * Sets `spec.suspend` of one object with a JSON merge patch `{"spec":{"suspend":…}}`.
 * @throws KubectlError when kubectl fails
 */
export async function patchSuspend(connection: RemoteRunner, target: Pick<FluxObject, 'kind' | 'name' | 'namespace'>, suspend: boolean): Promise<void> {
  await runKubectl(connection, ['patch', FLUX_RESOURCES[target.kind], target.name, '-n', target.namespace, '--type', 'merge', '-p', JSON.stringify({spec: {suspend}})])
}

/**
 * Suspends each target (those already suspended are reported, not patched again).
 * @throws KubectlError when a patch fails
 */
export async function suspendObjects(connection: RemoteRunner, targets: FluxObject[]): Promise<SuspendOutcome[]> {
  const out: SuspendOutcome[] = []
  for (const t of targets) {
    const base = {kind: t.kind, name: t.name, namespace: t.namespace}
    if (t.suspended) {
      out.push({...base, outcome: 'already-suspended'})
      continue
    }

    await patchSuspend(connection, t, true)
    out.push({...base, outcome: 'suspended'})
  }

  return out
}

/**
 * Resumes each target (`spec.suspend: false`), then requests reconciliation and waits until each
 * handled it and is Ready, failed, or `timeoutMs` passed (src/lib/flux reconcileAndWait).
 * @returns one outcome per target, in order; never throws for a failed or timed-out object
 * @throws KubectlError when a patch or a read fails
 */
export async function resumeAndWait(options: {
  connection: RemoteRunner
  targets: FluxObject[]
  timeoutMs?: number
  pollMs?: number
  clock?: Clock
  onProgress?: (progress: WaitProgress) => void
}): Promise<ReconcileOutcome[]> {
  for (const t of options.targets) await patchSuspend(options.connection, t, false)
  return reconcileAndWait({
    clock: options.clock,
    connection: options.connection,
    onProgress: options.onProgress,
    pollMs: options.pollMs,
    targets: options.targets.map((t) => ({kind: t.kind, name: t.name, namespace: t.namespace})),
    timeoutMs: options.timeoutMs,
  })
}
