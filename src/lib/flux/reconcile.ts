import {HomelabError, UsageError} from '../errors.js'
import {appliedRevision, assessHealth, findCondition} from './health.js'
import {getFluxState, type RemoteRunner, runKubectl} from './kubectl.js'
import {FLUX_RESOURCES, type FluxKind, type FluxObject, type FluxState, objectKey, RECONCILE_REQUEST_ANNOTATION} from './types.js'

/** One object to reconcile. */
export interface ReconcileTarget {
  kind: FluxKind
  namespace: string
  name: string
}

/** How one reconciliation ended. */
export interface ReconcileOutcome extends ReconcileTarget {
  /** `ready`: handled and Ready; `failed`: handled and Ready False / Stalled; `timeout`: not done in time. */
  outcome: 'failed' | 'ready' | 'timeout'
  /** The requestedAt value written (RFC 3339, fraction trimmed like Go's RFC3339Nano). */
  requestedAt: string
  /** The Ready message (one line) when done, or what was still missing at the timeout. */
  message: string
  /** The revision applied when done (Kustomization lastAppliedRevision, chart@version, artifact revision). */
  revision?: string
  /** Milliseconds from the request until the outcome. */
  elapsedMs: number
}

/** Progress of a wait: the objects still pending, each with its current state in a few words. */
export interface WaitProgress {
  pending: Array<ReconcileTarget & {state: string}>
  done: ReconcileOutcome[]
  elapsedMs: number
}

/** Injected clock and sleep (tests); defaults are Date.now and setTimeout. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms))}

/** `flux reconcile` polls every 2 s (flux2 `cmd/flux/reconcile.go`, rootArgs.pollInterval). */
export const DEFAULT_POLL_MS = 2000
/** `flux reconcile --timeout` default: 5 minutes. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000

/**
 * Go's `time.RFC3339Nano` layout for a UTC time with millisecond precision: trailing zeros of
 * the fraction are dropped, as Go does (`2026-01-02T03:04:05.12Z`, `2026-01-02T03:04:05Z`).
 */
export function rfc3339Nano(date: Date): string {
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'))
}

/**
 * Requests reconciliation the way `flux reconcile` does: a JSON merge patch setting the
 * annotation `reconcile.fluxcd.io/requestedAt` to `requestedAt` (flux2 `cmd/flux/reconcile.go`
 * requestReconciliation). The controller acts when the annotation differs from
 * `status.lastHandledReconcileAt`.
 *
 * @throws KubectlError when the patch fails
 */
export async function requestReconcile(options: {connection: RemoteRunner; target: ReconcileTarget; requestedAt: string}): Promise<void> {
  const {target} = options
  const patch = JSON.stringify({metadata: {annotations: {[RECONCILE_REQUEST_ANNOTATION]: options.requestedAt}}})
  await runKubectl(options.connection, ['patch', FLUX_RESOURCES[target.kind], target.name, '-n', target.namespace, '--type', 'merge', '-p', patch])
}

const KIND_ALIASES: Record<string, FluxKind> = {
  gitrepo: 'GitRepository',
  gitrepository: 'GitRepository',
  helmrelease: 'HelmRelease',
  hr: 'HelmRelease',
  kustomization: 'Kustomization',
  ks: 'Kustomization',
  source: 'GitRepository',
}

/**
 * Resolves the names given to `homelab reconcile` against the cluster's objects. A name is
 * `NAME`, `NAMESPACE/NAME`, `KIND/NAME` or `KIND/NAMESPACE/NAME` (KIND: kustomization|ks,
 * helmrelease|hr, gitrepository|source). `all` selects every Kustomization and HelmRelease that
 * is not suspended.
 *
 * @returns the targets and the suspended ones skipped under `all`
 * @throws UsageError for an unknown or ambiguous name, or a suspended object named explicitly
 *   (`flux reconcile` refuses those too)
 */
export function resolveTargets(state: FluxState, names: string[], options: {all?: boolean} = {}): {targets: FluxObject[]; skipped: FluxObject[]} {
  const candidates: FluxObject[] = [...state.kustomizations, ...state.helmReleases, ...state.gitRepositories]
  if (options.all) {
    const all = [...state.kustomizations, ...state.helmReleases]
    return {skipped: all.filter((o) => o.suspended), targets: all.filter((o) => !o.suspended)}
  }

  const targets: FluxObject[] = []
  for (const name of names) {
    const parts = name.split('/')
    let kind: FluxKind | undefined
    if (parts.length > 1 && KIND_ALIASES[parts[0].toLowerCase()]) kind = KIND_ALIASES[parts.shift()!.toLowerCase()]
    if (parts.length > 2 || parts.some((p) => p === '')) throw new UsageError(`${name}: expected NAME, NAMESPACE/NAME or KIND/[NAMESPACE/]NAME`)
    const [ns, n] = parts.length === 2 ? parts : [undefined, parts[0]]
    // GitRepositories only when asked for by kind: a bare name means a Kustomization or HelmRelease.
    const matches = candidates.filter((o) => o.name === n && (ns === undefined || o.namespace === ns) && (kind ? o.kind === kind : o.kind !== 'GitRepository'))
    if (matches.length === 0) {
      const known = [...state.kustomizations, ...state.helmReleases].map((o) => `${o.namespace}/${o.name}`)
      throw new UsageError(`${name}: no such ${kind ?? 'Kustomization or HelmRelease'} in the cluster`, {
        suggestions: [known.length > 0 ? `known: ${known.join(', ')}` : 'the cluster has no Kustomizations or HelmReleases'],
      })
    }

    if (matches.length > 1)
      throw new UsageError(`${name}: ambiguous, matches ${matches.map((o) => objectKey(o)).join(', ')}`, {
        suggestions: ['prefix the name with its kind or namespace, e.g. ks/flux-system/apps'],
      })
    const [match] = matches
    if (match.suspended)
      throw new UsageError(`${match.kind} ${match.namespace}/${match.name} is suspended: Flux will not reconcile it`, {
        suggestions: [`resume it first: flux resume ${match.kind === 'HelmRelease' ? 'helmrelease' : match.kind === 'Kustomization' ? 'kustomization' : 'source git'} ${match.name} -n ${match.namespace}`],
      })
    if (!targets.some((t) => objectKey(t) === objectKey(match))) targets.push(match)
  }

  return {skipped: [], targets}
}

/** The GitRepositories the targets take their source from (deduplicated), for `--with-source`. */
export function sourcesOf(state: FluxState, targets: FluxObject[]): FluxObject[] {
  const out = new Map<string, FluxObject>()
  for (const t of targets) {
    const ref = t.kind === 'Kustomization' ? t.sourceRef : t.kind === 'HelmRelease' ? t.sourceRef : undefined
    if (!ref || (ref.kind && ref.kind !== 'GitRepository')) continue
    const source = state.gitRepositories.find((g) => g.name === ref.name && g.namespace === ref.namespace)
    if (source && !source.suspended) out.set(objectKey(source), source)
  }

  return [...out.values()]
}

/** True when the controller has handled the request made at `requestedAt` (same value, or a later one). */
export function requestHandled(object: FluxObject, requestedAt: string): boolean {
  const handled = object.lastHandledReconcileAt
  if (handled === undefined) return false
  if (handled === requestedAt) return true
  const h = Date.parse(handled)
  const r = Date.parse(requestedAt)
  return Number.isFinite(h) && Number.isFinite(r) && h >= r
}

/**
 * Where one object stands after a request: done (ready/failed) or still pending with a few
 * words on why (`not handled yet`, `Reconciling: …`).
 */
export function requestState(object: FluxObject, requestedAt: string): {done: false; state: string} | {done: true; outcome: 'failed' | 'ready'; message: string} {
  if (!requestHandled(object, requestedAt)) return {done: false, state: 'request not handled yet'}
  const health = assessHealth(object)
  if (health.health === 'stalled' || health.health === 'failed' || health.health === 'dependency-not-ready')
    return {done: true, message: `${health.reason}: ${health.message}`, outcome: 'failed'}
  const reconciling = findCondition(object.conditions, 'Reconciling')
  if (health.health === 'ready' && reconciling?.status !== 'True') return {done: true, message: health.message, outcome: 'ready'}
  return {done: false, state: health.message || health.health}
}

/**
 * Requests reconciliation of each target and waits, polling with one `kubectl get` per tick,
 * until each has handled the request (`status.lastHandledReconcileAt` reaches the requestedAt
 * value) and is Ready, or has failed (Ready False / Stalled), or `timeoutMs` passes. With
 * `withSource`, the targets' GitRepositories are reconciled and waited for first, as
 * `flux reconcile --with-source` does.
 *
 * @param options.onProgress called after every poll with the pending objects
 * @returns one outcome per object (sources first when `withSource`); never throws for a failed
 *   or timed-out object: the caller decides the exit code
 * @throws KubectlError when a patch or a read fails
 */
export async function reconcileAndWait(options: {
  connection: RemoteRunner
  targets: ReconcileTarget[]
  state?: FluxState
  withSource?: boolean
  timeoutMs?: number
  pollMs?: number
  clock?: Clock
  onProgress?: (progress: WaitProgress) => void
}): Promise<ReconcileOutcome[]> {
  const clock = options.clock ?? realClock
  const start = clock.now()
  const deadline = start + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  const outcomes: ReconcileOutcome[] = []
  const kinds = [...new Set(options.targets.map((t) => t.kind))]
  if (options.withSource) {
    const state = options.state ?? (await getFluxState({connection: options.connection}))
    const targets = options.targets
      .map((t): FluxObject | undefined => [...state.kustomizations, ...state.helmReleases].find((o) => objectKey(o) === objectKey(t)))
      .filter((o): o is FluxObject => o !== undefined)
    const sources = sourcesOf(state, targets)
    if (sources.length > 0) outcomes.push(...(await requestAndWait(options.connection, sources, ['GitRepository'], deadline, start, clock, options, [])))
    const failed = outcomes.filter((o) => o.outcome !== 'ready')
    if (failed.length > 0) {
      // Like flux: a source that did not become Ready stops the rest.
      const why = failed.map((f) => `${f.kind} ${f.namespace}/${f.name}`).join(', ')
      for (const t of options.targets)
        outcomes.push({...t, elapsedMs: 0, message: `not requested: source ${why} did not become Ready`, outcome: 'failed', requestedAt: ''})
      return outcomes
    }
  }

  outcomes.push(...(await requestAndWait(options.connection, options.targets, kinds, deadline, start, clock, options, outcomes)))
  return outcomes
}

async function requestAndWait(
  connection: RemoteRunner,
  targets: ReconcileTarget[],
  kinds: FluxKind[],
  deadline: number,
  start: number,
  clock: Clock,
  options: {pollMs?: number; onProgress?: (progress: WaitProgress) => void},
  earlier: ReconcileOutcome[],
): Promise<ReconcileOutcome[]> {
  const requested = new Map<string, {target: ReconcileTarget; requestedAt: string; at: number}>()
  // Patch a few at a time: each is a channel of the one SSH connection (sshd MaxSessions is 10).
  for (let i = 0; i < targets.length; i += 4) {
    await Promise.all(
      targets.slice(i, i + 4).map(async (target) => {
        const at = clock.now()
        const requestedAt = rfc3339Nano(new Date(at))
        await requestReconcile({connection, requestedAt, target})
        requested.set(objectKey(target), {at, requestedAt, target})
      }),
    )
  }

  const done: ReconcileOutcome[] = []
  const pending = new Map(requested)
  const lastState = new Map<string, string>()
  for (;;) {
    const state = await getFluxState({connection, kinds})
    const objects = new Map([...state.gitRepositories, ...state.kustomizations, ...state.helmReleases].map((o) => [objectKey(o), o]))
    for (const [key, req] of pending) {
      const object = objects.get(key)
      if (!object) {
        lastState.set(key, 'not found')
        continue
      }

      const s = requestState(object, req.requestedAt)
      if (s.done) {
        done.push({...req.target, elapsedMs: clock.now() - req.at, message: s.message, outcome: s.outcome, requestedAt: req.requestedAt, revision: appliedRevision(object)})
        pending.delete(key)
      } else lastState.set(key, s.state)
    }

    const now = clock.now()
    options.onProgress?.({
      done: [...earlier, ...done],
      elapsedMs: now - start,
      pending: [...pending.entries()].map(([key, req]) => ({...req.target, state: lastState.get(key) ?? ''})),
    })
    if (pending.size === 0) break
    if (now >= deadline) {
      for (const [key, req] of pending)
        done.push({...req.target, elapsedMs: now - req.at, message: `timed out: ${lastState.get(key) ?? 'no answer'}`, outcome: 'timeout', requestedAt: req.requestedAt})
      break
    }

    await clock.sleep(Math.min(options.pollMs ?? DEFAULT_POLL_MS, Math.max(0, deadline - now)))
  }

  // Report in the order asked.
  return targets.map((t) => done.find((d) => objectKey(d) === objectKey(t))!).filter(Boolean)
}

/** Thrown by callers when a reconcile or a wait did not end Ready; exit 1. */
export class ReconcileError extends HomelabError {}
