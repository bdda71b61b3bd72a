import type {AgeIdentity} from '../age/identities.js'
import {HomelabError} from '../errors.js'
import {findExecutable} from '../validate/tools.js'
import {type BuildOutput, buildRevision, type DeferredBuild, type EarlyLeaves, resolveDeferred} from './build.js'
import {BuildCache, type BuildCounts} from './build-cache.js'
import {type ClusterDiff, compareBuilds} from './compare.js'
import {materialise, type MaterialisedRevision, type RevisionSide} from './revision.js'
import {SecretValues} from './secrets.js'

export {type BuiltKustomization, type BuiltObject, type RevisionBuild} from './build.js'
export {type BuildCounts} from './build-cache.js'
export {type ClusterDiff, type DiffError, type KustomizationChange, type ObjectAction, type ObjectChange, type SecretKeyChange} from './compare.js'
export {WORKING_TREE} from './revision.js'

/** What {@link diffCluster} needs. */
export interface DiffClusterOptions {
  /** Absolute repository root (the folder holding homelab.yaml). */
  root: string
  /** Repository-relative cluster folder (homelab.yaml `cluster.path`). */
  clusterPath: string
  /** Old side: a git revision (default `HEAD`). */
  from?: string
  /** New side: a git revision; undefined for the working tree. */
  to?: string
  /**
   * The operator's age identities, to compare SOPS values (loadIdentities), or a loader of them:
   * called once both revisions' first builds run, so loading the age library and the key files
   * overlaps kubectl instead of delaying it. A rejection is thrown by diffCluster (after its temp
   * folders are removed).
   */
  identities: Identities
  /** PATH to find kubectl on. */
  path: string | undefined
  /** The commits `from` and `to` name, when the caller resolved them already (resolveCommit): not resolved again. */
  commits?: {from?: string; to?: string}
  /**
   * The persistent kustomize build cache folder (build-cache.ts; the commands pass
   * defaultBuildCacheDir(), `homelab diff --no-cache` nothing): builds of earlier runs are read
   * from it, this run's are added. Undefined: nothing is read or written there.
   */
  buildCache?: string
}

/** Age identities, or a loader of them (see DiffClusterOptions.identities). */
export type Identities = readonly AgeIdentity[] | (() => Promise<readonly AgeIdentity[]>)

/** The report of `homelab diff` (cluster side). `ok` is false when there is any error. */
export interface DiffReport extends ClusterDiff {
  ok: boolean
  /** True when anything differs (objects or Kustomizations), for --exit-code. */
  changed: boolean
  from: RevisionSide
  to: RevisionSide
  cluster: string
  /** kubectl kustomize builds this run started (`run`) and took from the persistent build cache (`cached`). */
  builds: BuildCounts
}

/**
 * The cluster diff of two revisions of the repository, offline: each revision is put in a temp
 * folder (`git archive`; the working tree is read where it is), built like Flux builds it
 * (build.ts, with `kubectl kustomize`, the builds in parallel and a folder that is the same in
 * both built once), SOPS values decrypted in memory and compared by fingerprint only
 * (secrets.ts), then compared (compare.ts). With `buildCache`, builds of earlier runs are read
 * from the persistent cache and this run's kept there (build-cache.ts; `builds` counts both).
 * Temp folders are removed, also on failure.
 * @throws UsageError for an unknown revision; HomelabError when kubectl is not installed or git cannot read a revision; what the identities loader throws (AgeIdentityError for an unreadable or malformed key file)
 */
export async function diffCluster(options: DiffClusterOptions): Promise<DiffReport> {
  const fromRev = options.from ?? 'HEAD'
  // Only the top-level folder of the cluster path is extracted up front (others on demand).
  const top = [options.clusterPath.replace(/^\.\//, '').split('/')[0] || '.']
  // Both revisions are read at once; a side that was read is removed even when the other fails.
  const [kubectl, ...sides] = await Promise.allSettled([
    findExecutable('kubectl', options.path),
    materialise(options.root, fromRev, '--from', top, options.commits?.from),
    materialise(options.root, options.to, '--to', top, options.commits?.to),
  ])
  const [fromSide, toSide] = sides as Array<PromiseSettledResult<MaterialisedRevision>>
  let store: BuildCache | undefined
  const cleanup = () => Promise.all(sides.map((s) => (s.status === 'fulfilled' ? (s.value as MaterialisedRevision).cleanup() : undefined)))
  try {
    if (kubectl.status === 'rejected') throw kubectl.reason
    if (!kubectl.value)
      throw new HomelabError('kubectl not found on PATH: homelab diff builds each Flux Kustomization with `kubectl kustomize`', {
        suggestions: ['install kubectl (nix shell nixpkgs#kubectl, or your package manager)'],
      })
    if (fromSide.status === 'rejected') throw fromSide.reason
    if (toSide.status === 'rejected') throw toSide.reason
    const from = fromSide.value
    const to = toSide.value
    // Decrypting the changed SOPS files overlaps the first builds; objects are read only after it.
    // Decrypting (CPU work on this thread) starts once both revisions have started their first builds.
    let started = 0
    let bothStarted!: () => void
    const builds = new Promise<void>((resolve) => {
      bothStarted = resolve
    })
    const {identities: given} = options
    const identities = typeof given === 'function' ? builds.then(given) : Promise.resolve(given)
    // A bad key file fails the diff once the builds are done; never an unhandled rejection meanwhile.
    identities.catch(() => {})
    const secrets = new SecretValues(identities)
    const onStarted = () => {
      if (++started === 2) bothStarted()
    }

    // Two commits: a file with the same blob id in both is the same (not read).
    const same =
      from.commit && to.commit && from.identity && to.identity
        ? async (file: string) => {
            const [a, b] = await Promise.all([from.identity!(file), to.identity!(file)])
            return a !== undefined && a !== 'absent' && a === b
          }
        : undefined
    const ready = builds.then(() => secrets.learnChanged(from.dir, to.dir, top[0], same))
    // compare.ts's diff package loads while kubectl runs.
    void builds.then(() => import('diff')).catch(() => {})
    ready.catch(() => {}) // awaited below; this only keeps an early failure from being unhandled
    const cache = new Map<string, Promise<BuildOutput>>()
    store = options.buildCache === undefined ? undefined : new BuildCache(options.buildCache, kubectl.value)
    const counts: BuildCounts = {cached: 0, run: 0}
    const defer = new Map<string, DeferredBuild[]>()
    const early: EarlyLeaves = {byId: new Map(), started: 0}
    const common = {cache, clusterPath: options.clusterPath, counts, defer, early, kubectl: kubectl.value, onStarted, parsed: new Map(), ready, secrets, store}
    const [before, after] = await Promise.all([buildRevision({...common, revision: from}), buildRevision({...common, revision: to})])
    await ready
    await identities
    // A leaf Kustomization the same at both revisions is not built (build.ts BuildOptions.defer).
    await resolveDeferred(before, after, secrets)
    const labels = {from: from.commit ? `${from.label} (${from.commit.slice(0, 7)})` : from.label, to: to.commit ? `${to.label} (${to.commit.slice(0, 7)})` : to.label}
    let diff = await compareBuilds(before, after, {from: from.label, to: to.label})
    // An object added, removed or moved may be one an unbuilt Kustomization holds too (moved, not pruned): then build them all and compare again.
    const unbuilt = [...before.kustomizations.values(), ...after.kustomizations.values()].some((k) => k.deferred)
    if (unbuilt && diff.objects.some((o) => o.action !== 'changed')) {
      await resolveDeferred(before, after, secrets, true)
      diff = await compareBuilds(before, after, {from: from.label, to: to.label})
    }

    // This run's cache writes are done by now (they started as each build finished); a write that failed is one warning.
    await store?.flush()
    if (store?.warning) diff.warnings.push(store.warning)
    if (secrets.failures.size > 0) {
      const [file, reason] = [...secrets.failures][0]
      diff.warnings.push(`${secrets.failures.size} changed SOPS file(s) could not be decrypted (${file}: ${reason}): their values are compared by ciphertext, so a re-encrypted value shows as "value changed"`)
    }

    return {
      ...diff,
      changed: diff.objects.length > 0 || diff.kustomizations.some((k) => k.status !== 'unchanged'),
      cluster: options.clusterPath,
      from: {commit: from.commit, label: labels.from},
      builds: counts,
      ok: diff.errors.length === 0,
      to: {commit: to.commit, label: labels.to},
    }
  } finally {
    // The cache is pruned (when this run wrote to it) while the temp folders are removed.
    await Promise.all([cleanup(), store?.close()])
  }
}
