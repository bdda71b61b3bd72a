import {HomelabError} from '../errors.js'
import {assessHealth} from './health.js'
import {getFluxState, type RemoteRunner} from './kubectl.js'
import {type Clock, DEFAULT_POLL_MS, DEFAULT_TIMEOUT_MS, realClock, requestReconcile, rfc3339Nano} from './reconcile.js'
import {shortCommit} from './revision.js'
import {type FluxObject, type FluxState, type GitRepositoryObject, type KustomizationObject, objectKey} from './types.js'

/** Where one object stands while waiting for a commit. */
export interface ConvergenceItem {
  kind: 'GitRepository' | 'Kustomization'
  namespace: string
  name: string
  /** `done`: serves/applied the commit and Ready; `pending`: not yet; `failed`: tried the commit and failed. */
  state: 'done' | 'failed' | 'pending'
  /** A few words: `serves main@sha1:…`, `applied abc1234, Ready`, the Ready message when failing. */
  detail: string
}

/** Progress of {@link waitForConvergence}, after every poll. */
export interface ConvergenceProgress {
  commit: string
  elapsedMs: number
  items: ConvergenceItem[]
}

/** The result of a successful {@link waitForConvergence}. */
export interface ConvergenceResult {
  commit: string
  /** Milliseconds from the start until every object converged. */
  elapsedMs: number
  items: ConvergenceItem[]
}

/** The commit did not converge: a Kustomization failed on it, a source stalled, or the timeout passed. Exit 1. */
export class ConvergenceError extends HomelabError {
  /** The last known state of every object. */
  readonly items: ConvergenceItem[]
  constructor(message: string, items: ConvergenceItem[], suggestions: string[]) {
    super(message, {exitCode: 1, suggestions})
    this.items = items
  }
}

const matches = (commit: string | undefined, wanted: string) =>
  commit !== undefined && (commit === wanted || (wanted.length < 40 && wanted.length >= 7 && commit.startsWith(wanted)))

/**
 * Evaluates one snapshot of the cluster against `commit`: each GitRepository that a
 * (not suspended) Kustomization takes its source from must serve it
 * (`status.artifact.revision` names it), and each such Kustomization's `lastAppliedRevision` must
 * be it while Ready. A Kustomization whose `lastAttemptedRevision` is the commit and that is
 * Ready False (not DependencyNotReady) or Stalled has failed on it; a Stalled source has failed.
 */
export function convergenceOf(state: FluxState, commit: string): ConvergenceItem[] {
  const kustomizations = state.kustomizations.filter((k) => !k.suspended && (k.sourceRef.kind ?? 'GitRepository') === 'GitRepository')
  const sourceKeys = new Set(kustomizations.map((k) => `GitRepository/${k.sourceRef.namespace}/${k.sourceRef.name}`))
  const sources = state.gitRepositories.filter((g) => !g.suspended && (sourceKeys.size === 0 || sourceKeys.has(objectKey(g))))
  return [...sources.map((g) => sourceItem(g, commit)), ...kustomizations.map((k) => kustomizationItem(k, commit))]
}

function sourceItem(g: GitRepositoryObject, commit: string): ConvergenceItem {
  const base = {kind: 'GitRepository' as const, name: g.name, namespace: g.namespace}
  const health = assessHealth(g)
  const serving = g.artifact?.revision
  if (matches(serving?.commit, commit)) return {...base, detail: `serves ${shortCommit(commit)}`, state: 'done'}
  if (health.health === 'stalled') return {...base, detail: `stalled: ${health.message}`, state: 'failed'}
  const now = serving?.commit ? `serves ${shortCommit(serving.commit)}` : 'no artifact yet'
  return {...base, detail: health.health === 'failed' ? `${now}; fetch failing: ${health.message}` : now, state: 'pending'}
}

function kustomizationItem(k: KustomizationObject, commit: string): ConvergenceItem {
  const base = {kind: 'Kustomization' as const, name: k.name, namespace: k.namespace}
  const health = assessHealth(k)
  const applied = k.lastAppliedRevision?.commit
  if (matches(applied, commit) && health.health === 'ready') return {...base, detail: `applied ${shortCommit(commit)}, Ready`, state: 'done'}
  const triedIt = matches(k.lastAttemptedRevision?.commit, commit)
  if ((triedIt && health.health === 'failed') || health.health === 'stalled')
    return {...base, detail: `${health.reason}: ${health.message}`, state: 'failed'}
  const now = applied ? `applied ${shortCommit(applied)}` : 'nothing applied yet'
  return {...base, detail: `${now}; ${health.health === 'ready' ? 'Ready' : health.message || health.health}`, state: 'pending'}
}

/**
 * `homelab deploy --wait`: waits until the cluster runs `commit`. First requests reconciliation
 * of the GitRepositories (the `reconcile.fluxcd.io/requestedAt` annotation, as `flux reconcile
 * source git` does) so Flux fetches now instead of at its next interval, then polls with one
 * `k3s kubectl get` per tick until every item of {@link convergenceOf} is done.
 *
 * @param options.commit the full (or at least 7-character) Git commit id pushed
 * @param options.timeoutMs give up after this many milliseconds (default 5 minutes)
 * @param options.onProgress called after every poll
 * @param options.requestReconcile set false to only watch (default true)
 * @returns the final items when everything converged
 * @throws ConvergenceError when a Kustomization failed on the commit, a source stalled, or the
 *   timeout passed (the message names the objects); KubectlError when kubectl fails
 */
export async function waitForConvergence(options: {
  connection: RemoteRunner
  commit: string
  timeoutMs?: number
  onProgress?: (progress: ConvergenceProgress) => void
  requestReconcile?: boolean
  pollMs?: number
  clock?: Clock
}): Promise<ConvergenceResult> {
  const clock = options.clock ?? realClock
  const start = clock.now()
  const deadline = start + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  const {commit, connection} = options
  let requested = options.requestReconcile === false
  for (;;) {
    const state = await getFluxState({connection, kinds: ['GitRepository', 'Kustomization']})
    const items = convergenceOf(state, commit)
    const now = clock.now()
    options.onProgress?.({commit, elapsedMs: now - start, items})
    const failed = items.filter((i) => i.state === 'failed')
    if (failed.length > 0)
      throw new ConvergenceError(
        `${shortCommit(commit)} did not converge: ${failed.map((f) => `${f.kind} ${f.namespace}/${f.name}: ${f.detail}`).join('; ')}`,
        items,
        ['fix the cause and push again, then `homelab status`'],
      )
    if (items.length > 0 && items.every((i) => i.state === 'done')) return {commit, elapsedMs: now - start, items}
    if (now >= deadline) {
      const pending = items.filter((i) => i.state !== 'done')
      throw new ConvergenceError(
        `timed out waiting for ${shortCommit(commit)}: ${pending.length > 0 ? pending.map((p) => `${p.kind} ${p.namespace}/${p.name} (${p.detail})`).join('; ') : 'no Kustomizations found'}`,
        items,
        ['run `homelab status` to see why, or wait longer with a bigger --timeout'],
      )
    }

    if (!requested) {
      requested = true
      const requestedAt = rfc3339Nano(new Date(clock.now()))
      const sources: FluxObject[] = state.gitRepositories.filter((g) => items.some((i) => i.kind === 'GitRepository' && i.name === g.name && i.namespace === g.namespace && i.state !== 'done'))
      await Promise.all(sources.map((s) => requestReconcile({connection, requestedAt, target: s})))
      continue
    }

    await clock.sleep(Math.min(options.pollMs ?? DEFAULT_POLL_MS, Math.max(0, deadline - now)))
  }
}
