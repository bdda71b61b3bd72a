/**
 * Builds one revision of the cluster the way Flux's kustomize-controller does
 * (https://fluxcd.io/flux/components/kustomize/kustomizations/): every Flux Kustomization reachable
 * from the cluster folder, recursively (a Kustomization whose build holds Kustomizations is
 * followed), each with `kubectl kustomize` of its `spec.path` — relative to the source root (the
 * repository) — plus what the controller adds on top: `targetNamespace`, `namePrefix`,
 * `nameSuffix`, `patches`, `images` and `components` (it writes them into the kustomization it
 * builds; here an overlay kustomization in a temp folder does the same), a generated
 * kustomization when the folder has none, then `postBuild` substitution (see substitute.ts).
 */
import {createHash} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {isDeepStrictEqual} from 'node:util'
import {parseAllDocuments, stringify} from 'yaml'

import {isRemoteEntry} from '../validate/kustomizations.js'
import {mapLimit} from '../validate/tools.js'
import type {BuildCache, BuildCounts} from './build-cache.js'
import {run} from './exec.js'
import type {MaterialisedRevision, RevisionSide} from './revision.js'
import type {SecretValues} from './secrets.js'
import {substituteObject, VARIABLE_NAME} from './substitute.js'

/** The Flux Kustomization API group (kustomize-controller api/v1). */
export const FLUX_KUSTOMIZE_GROUP = 'kustomize.toolkit.fluxcd.io'
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']

/** A Kubernetes object of a build, with its identity. */
export interface BuiltObject {
  /** Identity: `group/kind/namespace/name` (empty group for the core API, empty namespace when cluster-scoped). */
  key: string
  /** `kind/namespace/name`, or `kind/name` for a cluster-scoped object: how reports name it. */
  display: string
  kind: string
  namespace?: string
  name: string
  /** The object as Flux would apply it (substituted; SOPS values as markers, see SecretValues). May be a getter that parses on first use. */
  value: Record<string, unknown>
  /**
   * The YAML document of kubectl kustomize's output this object is, when its value is exactly
   * that text parsed with SOPS values as markers (no post-build substitution changes it): two
   * objects with the same `text` are equal, without parsing either (see {@link sameObject}).
   */
  text?: string
}

/** One Flux Kustomization of a revision and what its build holds. */
export interface BuiltKustomization {
  /** `namespace/name` of the Flux Kustomization. */
  id: string
  name: string
  namespace: string
  /** spec.path as written. */
  path: string
  /** spec.prune (false when absent, as in the API). */
  prune: boolean
  /** The id of the Kustomization whose build holds this one; undefined for the root. */
  parent?: string
  /** Objects by key. */
  objects: Map<string, BuiltObject>
  /** Why it did not build (one line); its objects are then unknown. */
  error?: string
  /** Why it was not built although found (a source other than this repository). */
  skipped?: string
  /**
   * Not built (yet): a leaf whose build may be the same at both revisions (see
   * {@link BuildOptions.defer}); {@link resolveDeferred} builds it or leaves it empty on both sides.
   */
  deferred?: DeferredBuild
}

/** A Kustomization whose build was put off ({@link BuildOptions.defer}). */
export interface DeferredBuild {
  /** The build's cache key (from {@link exactInputs}). */
  key: string
  pending: Pending
  /** Runs (or finds in the cache) the build. */
  build(): Promise<BuildOutput>
  /** Its inputs mention a ConfigMap or Secret: it may hold a postBuild.substituteFrom source, so it is built once a Kustomization of its revision reads one. */
  sources: boolean
}

/** The same inputs and the same Flux spec (variables aside). */
function sameDeferred(a: DeferredBuild, b: DeferredBuild): boolean {
  return a.key === b.key && isDeepStrictEqual(a.pending.spec, b.pending.spec)
}

/** A whole revision, built. */
export interface RevisionBuild {
  side: RevisionSide
  /** By id, in discovery order (root first). */
  kustomizations: Map<string, BuiltKustomization>
  /** Things the person should know (not errors): a Kustomization defined twice, a missing optional source. */
  warnings: string[]
}

/** What {@link buildRevision} needs. */
export interface BuildOptions {
  revision: MaterialisedRevision
  /** Repository-relative cluster folder (homelab.yaml cluster.path): the root Kustomization's path. */
  clusterPath: string
  /** Absolute path of kubectl. */
  kubectl: string
  secrets: SecretValues
  /** Shared between the two revisions: build output by input hash (an unchanged folder is built once). */
  cache: Map<string, Promise<BuildOutput>>
  /**
   * The persistent build cache (build-cache.ts), shared by both revisions: a build with a key is
   * looked up there before kubectl runs, and a successful one stored (kubectl's output as printed,
   * before post-build substitution). Undefined: nothing persists (--no-cache).
   */
  store?: BuildCache
  /** Shared between the two revisions: kubectl kustomize runs started and builds taken from {@link store}, counted here. */
  counts?: BuildCounts
  /** Builds at once (default: the CPU count, at least 2). */
  concurrency?: number
  /** Shared between the two revisions: parsed objects by the text of their YAML document (a document both builds print is parsed once; never mutated). */
  parsed?: Map<string, Record<string, unknown> | undefined>
  /** Awaited before the first build's objects are read (e.g. SOPS values still being decrypted, see SecretValues.learnChanged). */
  ready?: Promise<unknown>
  /** Called once the root's build and the builds started ahead of it are running (before `ready` is awaited). */
  onStarted?: () => void
  /**
   * Put off the build of a leaf Kustomization (inputs known exactly, none mentioning a Flux
   * Kustomization: it makes no Kustomization) and leave it `deferred`: when the other revision
   * gives it the same inputs, Flux spec and variables it cannot differ and need not be built at
   * all ({@link resolveDeferred}). One whose inputs mention a ConfigMap or Secret may hold a
   * substituteFrom source: it is built as soon as a Kustomization of the same revision has a
   * `postBuild.substituteFrom` (before that one's variables are looked up). The map is shared by
   * both revisions: a leaf whose inputs differ is built as soon as both sides know it.
   */
  defer?: Map<string, DeferredBuild[]>
  /**
   * Shared between the two revisions: the leaf Kustomizations the root folder's files define, as
   * each revision plans them ahead of the root's build (prefetchChildren), by id. When both
   * revisions have planned one and its key or spec differs, both builds start at once, while the
   * roots build (at most as many such pairs as builds run at once).
   */
  early?: EarlyLeaves
}

/** See {@link BuildOptions.early}. */
export interface EarlyLeaves {
  byId: Map<string, {key: string; spec: Record<string, unknown>; start: () => void}>
  /** Pairs started so far. */
  started: number
}

/** The result of one `kubectl kustomize`: its documents (parsed on demand, see {@link splitBuildOutput}), or the error line. */
export type BuildOutput = {docs: OutputDoc[]} | {error: string}

/** The identity fields of a document, read from its text ({@link documentHead}). */
export interface DocumentHead {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

/** One document of kubectl kustomize's output. */
export interface OutputDoc {
  /** Its text, with its identity ({@link documentHead}); undefined when it had to be parsed at once. */
  text?: string
  head?: DocumentHead
  /** The parsed object (parsed once per text, shared by both revisions; never mutated). */
  value(): Record<string, unknown>
}

/** A Kustomization of a level as buildRevision settles it: its result so far, its build output, what was found. */
type LevelItem = {k: BuiltKustomization; output: BuildOutput; pending: Pending}

/** A Flux Kustomization found and not settled yet. */
export interface Pending {
  id: string
  name: string
  namespace: string
  spec: Record<string, unknown>
  parent?: string
}

/**
 * Builds every Flux Kustomization of one revision, level by level (the root, then what its build
 * defines, …), the builds of a level in parallel.
 * @returns the build; a Kustomization that fails to build carries `error` (never throws for that)
 */
export async function buildRevision(options: BuildOptions): Promise<RevisionBuild> {
  const {revision} = options
  const clusterRel = normaliseRel(options.clusterPath) ?? '.'
  const build: RevisionBuild = {kustomizations: new Map(), side: {commit: revision.commit, label: revision.label}, warnings: []}
  const concurrency = options.concurrency ?? Math.max(2, os.availableParallelism())
  options = {...options, parsed: options.parsed ?? new Map()}

  // The root: the cluster folder, applied by the Flux Kustomization that points at it (flux bootstrap: flux-system/flux-system).
  const rootBuild = buildPath(options, clusterRel, {})
  // Meanwhile, the Flux Kustomizations the root's files define are built ahead (when that is safe: see prefetchChildren).
  await prefetchChildren(options, clusterRel).catch(() => {})
  options.onStarted?.()
  const rootOutput = await rootBuild
  await options.ready
  if ('error' in rootOutput) {
    build.kustomizations.set('flux-system/flux-system', {...emptyKustomization('flux-system/flux-system', clusterRel), error: rootOutput.error})
    return build
  }

  const self = rootOutput.docs
    .filter((d) => !d.head || isFluxHead(d.head))
    .map((d) => d.value())
    .find((o) => isFluxKustomization(o) && normaliseRel(String(specOf(o).path ?? '')) === clusterRel)
  const root: Pending = self
    ? {id: idOf(self), name: nameOf(self), namespace: namespaceOf(self) ?? 'flux-system', spec: specOf(self)}
    : {id: 'flux-system/flux-system', name: 'flux-system', namespace: 'flux-system', spec: {path: `./${clusterRel}`, prune: true}}
  const rootSource = sourceOf(root)
  let level: Pending[] = [root]
  const seen = new Set<string>([root.id])
  const allObjects: BuiltObject[] = []

  let deferred: LevelItem[] = []
  // Deferred builds that may hold substituteFrom sources (DeferredBuild.sources), until a substituteFrom makes them built.
  const heldSources: LevelItem[] = []
  let readSources = false
  while (level.length > 0) {
    const built = await mapLimit(level, concurrency, async (pending) => {
      const k = emptyKustomization(pending.id, String(pending.spec.path ?? ''))
      Object.assign(k, {name: pending.name, namespace: pending.namespace, parent: pending.parent, prune: pending.spec.prune === true})
      const source = sourceOf(pending)
      if (pending !== root && source !== rootSource) {
        k.skipped = `its sourceRef ${source} is not this repository (${rootSource}); not built`
        return {k, output: {docs: []} as BuildOutput, pending}
      }

      if (pending === root) return {k, output: rootOutput, pending}
      const plan = await planBuild(options, undefined, pending.spec)
      // Once a Kustomization of this revision reads substituteFrom sources, a build that may hold one is not put off (it would be built next anyway).
      if (options.defer && !('error' in plan) && plan.leaf && plan.key !== undefined && !(plan.sources && readSources)) {
        const sideOptions = options
        k.deferred = {build: () => buildPath(sideOptions, undefined, pending.spec, plan), key: plan.key, pending, sources: plan.sources}
        const both = [...(options.defer.get(pending.id) ?? []), k.deferred]
        options.defer.set(pending.id, both)
        // Both revisions have it and it differs: build both now (resolveDeferred then finds the builds in the cache).
        if (both.length === 2 && !sameDeferred(both[0], both[1])) for (const d of both) d.build().catch(() => {})
        return {k, output: {docs: []} as BuildOutput, pending}
      }

      return {k, output: await buildPath(options, undefined, pending.spec, plan), pending}
    })

    const next: Pending[] = []
    // Held sources of earlier levels built now: settled before this level's own.
    const late: LevelItem[] = []
    for (const item of built) if (item.k.deferred?.sources) heldSources.push(item)
    // A substituteFrom reads objects of any Kustomization of the revision: once one is seen (deferred
    // or not), the deferred builds that may hold its sources are built, these and any of later levels.
    readSources ||= [...deferred, ...built].some((item) => readsSources(item.pending))
    if (readSources && heldSources.length > 0) {
      const undeferred = heldSources.splice(0)
      await Promise.all(
        undeferred.map(async (item) => {
          item.output = await item.k.deferred!.build()
          delete item.k.deferred
        }),
      )
      // Those of earlier levels are settled now, so their objects are there for this level's lookups (this level's below).
      for (const item of undeferred) if (!built.includes(item)) late.push(item)
    }

    // A Kustomization whose postBuild reads an object not built yet (another Kustomization of the
    // same or a later level makes it; in the cluster dependsOn orders this) waits until it is there.
    const waiting: LevelItem[] = []
    const settle = (item: LevelItem, last: boolean): boolean => {
      const {k, output, pending} = item
      build.kustomizations.set(k.id, k)
      if ('error' in output) {
        k.error = output.error
        return true
      }

      if (k.deferred) return true
      const settled = settleObjects(output.docs, pending, allObjects, options.secrets)
      if ('varsError' in settled) {
        if (!last) return false
        k.error = settled.varsError
        return true
      }

      if ('error' in settled) {
        k.error = settled.error
        return true
      }

      build.warnings.push(...settled.warnings)
      const {objects} = settled
      for (const b of objects) {
        k.objects.set(b.key, b)
        allObjects.push(b)
        if (b.kind !== 'Kustomization' || !b.key.startsWith(`${FLUX_KUSTOMIZE_GROUP}/`)) continue
        const object = b.value
        if (!isFluxKustomization(object)) continue
        const id = idOf(object)
        if (id === root.id) continue
        if (seen.has(id)) {
          build.warnings.push(`Flux Kustomization ${id} is defined more than once (again in the build of ${k.id}); the first one is used`)
          continue
        }

        seen.add(id)
        next.push({id, name: nameOf(object), namespace: namespaceOf(object) ?? 'default', parent: k.id, spec: specOf(object)})
      }

      return true
    }

    for (const item of late) if (!settle(item, false)) waiting.push(item)
    // substituteFrom takes the first object that matches, as a full build meets them: in tree order, not in the order the late ones were built.
    if (late.length > 0) allObjects.splice(0, allObjects.length, ...[...build.kustomizations.values()].flatMap((k) => [...k.objects.values()]))
    for (const item of [...deferred, ...built]) if (!settle(item, false)) waiting.push(item)
    deferred = []
    // Retry while progress is made; what still waits goes on to the next level (or fails at the end).
    let progress = true
    while (progress && waiting.length > 0) {
      progress = false
      for (const item of waiting.splice(0)) if (settle(item, false)) progress = true
      else waiting.push(item)
    }

    if (next.length === 0) for (const item of waiting) settle(item, true)
    else deferred = waiting
    level = next
  }

  return build
}

/**
 * Starts the builds of the Flux Kustomizations the root folder defines before the root's own
 * build is done (that build is what names them; waiting for it puts a whole kubectl run on the
 * path). Only when the root's kustomization is of the simplest shape (simpleKustomization) with
 * nothing but `resources` naming files in the folder — then kustomize prints those objects as
 * written. A Kustomization that would not be put off (BuildOptions.defer) is built ahead when
 * there are at most as many as builds run at once; a leaf that would be put off is built ahead
 * only once the other revision has planned it too and it differs there (BuildOptions.early). The
 * builds go into the cache under their keys; buildRevision then finds them when the root's
 * output names the same Kustomizations. One that the output names differently was built for
 * nothing (never used: the cache is keyed by inputs and spec).
 */
async function prefetchChildren(options: BuildOptions, clusterRel: string): Promise<void> {
  const dir = path.join(options.revision.dir, clusterRel)
  await options.revision.ensure(clusterRel)
  const present = KUSTOMIZATION_FILES.filter((f) => existsSync(path.join(dir, f)))
  if (present.length !== 1) return
  const k = simpleKustomization(await fs.readFile(path.join(dir, present[0]), 'utf8'))
  if (!k || Object.keys(k).some((key) => !['apiVersion', 'kind', 'resources'].includes(key)) || !Array.isArray(k.resources)) return
  const specs: Array<{id: string; spec: Record<string, unknown>}> = []
  for (const resource of k.resources as string[]) {
    const rel = normaliseRel(path.posix.join(clusterRel, resource))
    if (rel === undefined || path.posix.dirname(rel) !== clusterRel) return
    const text = await fs.readFile(path.join(options.revision.dir, rel), 'utf8').catch(() => undefined)
    if (text === undefined) return
    if (!text.includes(FLUX_KUSTOMIZE_GROUP)) continue
    for (const value of parseBuildOutput(text, options.parsed ?? new Map()))
      if (isFluxKustomization(value) && normaliseRel(String(specOf(value).path ?? '')) !== clusterRel) specs.push({id: idOf(value), spec: specOf(value)})
  }

  const concurrency = options.concurrency ?? Math.max(2, os.availableParallelism())
  const planned = await Promise.all(specs.map(async ({id, spec}) => ({id, plan: await planBuild(options, undefined, spec), spec})))
  // Not put off (BuildOptions.defer): built ahead, at most as many as builds run at once (a folder defining more waits for the root as before).
  const ahead = planned.filter(({plan}) => !('error' in plan) && !(options.defer && plan.leaf && plan.key !== undefined))
  if (ahead.length <= concurrency) for (const {plan, spec} of ahead) buildPath(options, undefined, spec, plan).catch(() => {})
  // Put off: built ahead only when the other revision planned it too and it differs there (it will be built on both sides).
  const {early} = options
  if (!early || !options.defer) return
  for (const {id, plan, spec} of planned) {
    if ('error' in plan || !plan.leaf || plan.key === undefined) continue
    const start = () => {
      buildPath(options, undefined, spec, plan).catch(() => {})
    }

    const other = early.byId.get(id)
    if (!other) {
      early.byId.set(id, {key: plan.key, spec, start})
      continue
    }

    if ((other.key !== plan.key || !isDeepStrictEqual(other.spec, spec)) && early.started < concurrency) {
      early.started++
      other.start()
      start()
    }
  }
}

/**
 * A build's objects as Flux applies them: SOPS values as markers (SecretValues.redact), then the
 * postBuild substitution with the variables of substituteFrom (looked up among `others` and the
 * build's own objects) and substitute. Objects are parsed only when something reads them
 * (compare.ts compares equal texts without parsing).
 * @returns the objects and warnings; `varsError` when a substituteFrom source is not found (yet); `error` when substitution breaks the YAML
 */
function settleObjects(
  docs: readonly OutputDoc[],
  pending: Pending,
  others: readonly BuiltObject[],
  secrets: SecretValues,
): {objects: BuiltObject[]; warnings: string[]} | {varsError: string} | {error: string} {
  const redacted = docs.map((d) => builtOf(d, secrets))
  const warnings: string[] = []
  const postBuild = isRecord(pending.spec.postBuild) ? pending.spec.postBuild : undefined
  if (!postBuild) return {objects: redacted, warnings}
  const vars = variablesFor(pending, postBuild, [...others, ...redacted], secrets, warnings)
  if ('error' in vars) return {varsError: vars.error}
  try {
    // Only objects holding `${` can change (JSON.stringify keeps `$` and `{` as they are). A
    // document whose text has no `$` and no `\\` escape holds no `$` at all: not parsed for this.
    const objects = redacted.map((b) => {
      if (b.text !== undefined && !/[$\\]/.test(b.text)) return b
      const value = b.value
      if (!JSON.stringify(value).includes('${')) return b
      const substituted = substituteObject(value, vars.vars)
      return substituted === value ? b : toBuilt(substituted)
    })
    return {objects, warnings}
  } catch (error) {
    return {error: `post-build substitution made invalid YAML: ${(error as Error).message.split('\n')[0]}`}
  }
}

/**
 * Settles the Kustomizations {@link BuildOptions.defer} put off, once both revisions are built.
 * One that both revisions have with the same inputs, Flux spec and postBuild variables (each
 * side's, from its own objects) holds the same objects on both sides: it stays unbuilt, empty on
 * both sides (reported unchanged). Any other is built now (the build usually started already) and
 * its objects settled as buildRevision does. With `all`, every deferred one is built.
 * @param secrets the SecretValues both revisions were built with
 */
export async function resolveDeferred(from: RevisionBuild, to: RevisionBuild, secrets: SecretValues, all = false): Promise<void> {
  const ids = new Set<string>()
  for (const b of [from, to]) for (const k of b.kustomizations.values()) if (k.deferred) ids.add(k.id)
  const objectsOf = (b: RevisionBuild) => [...b.kustomizations.values()].flatMap((k) => [...k.objects.values()])
  const varsOf = (b: RevisionBuild, d: DeferredBuild) => {
    const postBuild = isRecord(d.pending.spec.postBuild) ? d.pending.spec.postBuild : undefined
    if (!postBuild) return {vars: new Map<string, string>(), warnings: []}
    const warnings: string[] = []
    const vars = variablesFor(d.pending, postBuild, objectsOf(b), secrets, warnings)
    return 'error' in vars ? undefined : {vars: vars.vars, warnings}
  }

  const settle = async (b: RevisionBuild, k: BuiltKustomization) => {
    const d = k.deferred!
    const output = await d.build()
    delete k.deferred
    if ('error' in output) {
      k.error = output.error
      return
    }

    const settled = settleObjects(output.docs, d.pending, objectsOf(b), secrets)
    if ('varsError' in settled) k.error = settled.varsError
    else if ('error' in settled) k.error = settled.error
    else {
      b.warnings.push(...settled.warnings)
      for (const o of settled.objects) k.objects.set(o.key, o)
    }
  }

  await Promise.all(
    [...ids].map(async (id) => {
      const a = from.kustomizations.get(id)
      const b = to.kustomizations.get(id)
      if (!all && a?.deferred && b?.deferred && sameDeferred(a.deferred, b.deferred)) {
        const [va, vb] = [varsOf(from, a.deferred), varsOf(to, b.deferred)]
        if (va && vb && isDeepStrictEqual([...va.vars].sort(), [...vb.vars].sort())) {
          from.warnings.push(...va.warnings)
          to.warnings.push(...vb.warnings)
          return
        }
      }

      await Promise.all([a?.deferred ? settle(from, a) : undefined, b?.deferred ? settle(to, b) : undefined])
    }),
  )
}

function emptyKustomization(id: string, specPath: string): BuiltKustomization {
  const [namespace, name] = id.split('/')
  return {id, name, namespace, objects: new Map(), path: specPath, prune: false}
}

/**
 * The variables of a Kustomization's postBuild: `substituteFrom` ConfigMaps and Secrets (looked
 * up among the objects of this revision, in the Kustomization's namespace, as Flux reads them
 * from the cluster), then `substitute`. Secret values stay markers (never plaintext).
 */
function variablesFor(
  pending: Pending,
  postBuild: Record<string, unknown>,
  objects: readonly BuiltObject[],
  secrets: SecretValues,
  warnings: string[],
): {vars: Map<string, string>} | {error: string} {
  const vars = new Map<string, string>()
  const from = Array.isArray(postBuild.substituteFrom) ? postBuild.substituteFrom : []
  for (const ref of from) {
    if (!isRecord(ref) || typeof ref.kind !== 'string' || typeof ref.name !== 'string') return {error: 'postBuild.substituteFrom entry needs kind and name'}
    const found = objects.find((o) => o.kind === ref.kind && o.name === ref.name && (o.namespace ?? 'default') === pending.namespace)
    if (!found) {
      if (ref.optional === true) {
        warnings.push(`${pending.id}: postBuild.substituteFrom ${ref.kind} ${pending.namespace}/${ref.name} is not in the tree (optional: true; skipped, as Flux does when it is not in the cluster)`)
        continue
      }

      return {error: `postBuild.substituteFrom ${ref.kind} ${pending.namespace}/${ref.name} is not in the tree: Flux would fail to substitute (add it, or mark the reference optional: true)`}
    }

    const data = isRecord(found.value.data) ? found.value.data : {}
    const stringData = isRecord(found.value.stringData) ? found.value.stringData : {}
    for (const [key, value] of Object.entries({...data, ...stringData})) {
      if (!VARIABLE_NAME.test(key)) continue
      if (ref.kind === 'Secret') {
        // Never the value: a marker that changes when the value does.
        const text = String(value)
        vars.set(key, text.startsWith('<') ? text : `<secret value ${secrets.fingerprint(key in data ? Buffer.from(text, 'base64').toString('utf8') : text)}>`)
      } else vars.set(key, String(value))
    }
  }

  if (isRecord(postBuild.substitute)) for (const [key, value] of Object.entries(postBuild.substitute)) vars.set(key, String(value))
  return {vars}
}

/**
 * Builds a folder with `kubectl kustomize`: `clusterRel` as it is, or a Flux Kustomization's
 * `spec` (path plus the controller's own fields, through an overlay). Output cached by
 * {@link buildKey}: the same key in both revisions is built once, and with
 * {@link BuildOptions.store} a build of an earlier run is read instead of run again.
 */
async function buildPath(options: BuildOptions, clusterRel: string | undefined, spec: Record<string, unknown>, planned?: BuildPlan | {error: string}): Promise<BuildOutput> {
  const plan = planned ?? (await planBuild(options, clusterRel, spec))
  if ('error' in plan) return plan
  if (plan.key === undefined) return runBuild(options, plan.dir, plan.written, plan.fields)
  const cached = options.cache.get(plan.key)
  if (cached) return cached
  const {key} = plan
  const {store} = options
  const run = store
    ? (async (): Promise<BuildOutput> => {
        const text = await store.get(key)
        if (text === undefined) {
          // The working tree can change while kubectl reads it (an editor's save, a checkout): its key is worked out again, and the output kept only if it still holds.
          const confirm = options.revision.commit ? undefined : async () => {
            const again = await makePlan(options, clusterRel, spec)
            return !('error' in again) && again.key === key
          }
          return runBuild(options, plan.dir, plan.written, plan.fields, (stdout) => store.put(key, stdout, confirm))
        }

        if (options.counts) options.counts.cached++
        return {docs: splitBuildOutput(text, options.parsed ?? new Map())}
      })()
    : runBuild(options, plan.dir, plan.written, plan.fields)
  options.cache.set(key, run)
  return run
}

/** A build before it runs: where, with which of the controller's fields, and its cache key. */
interface BuildPlan {
  dir: string
  written: string
  fields: Record<string, unknown>
  /** {@link exactBuildKey}, else {@link buildKey}; undefined when the build cannot be shared. */
  key?: string
  /** From {@link exactInputs}: the build's inputs hold no Flux Kustomization (see {@link BuildOptions.defer}). */
  leaf: boolean
  /** From {@link exactInputs}: the build's inputs mention a ConfigMap or Secret. */
  sources: boolean
}

/** Plans made, per revision, by what they depend on ({@link planBuild}). */
const plans = new WeakMap<MaterialisedRevision, Map<string, Promise<BuildPlan | {error: string}>>>()

/**
 * The plan of a build: where it runs, the controller's fields, its key and whether it is a leaf.
 * Made once per revision, path and fields: a Kustomization built ahead of the root's build
 * (prefetchChildren) is planned again when the root's output names it, and reading its inputs
 * for the key ({@link exactInputs}) is most of the time of a build read from the cache.
 */
function planBuild(options: BuildOptions, clusterRel: string | undefined, spec: Record<string, unknown>): Promise<BuildPlan | {error: string}> {
  let byRevision = plans.get(options.revision)
  if (!byRevision) {
    byRevision = new Map()
    plans.set(options.revision, byRevision)
  }

  const fields = [spec.components, spec.images, spec.namePrefix, spec.nameSuffix, spec.patches, spec.targetNamespace]
  // undefined and null are different fields to the key (JSON keeps null, drops undefined).
  const id = JSON.stringify([clusterRel ?? null, clusterRel === undefined ? String(spec.path ?? '') : null, ...fields.map((f) => (f === undefined ? [] : [f]))])
  let plan = byRevision.get(id)
  if (!plan) {
    plan = makePlan(options, clusterRel, spec)
    byRevision.set(id, plan)
  }

  return plan
}

async function makePlan(options: BuildOptions, clusterRel: string | undefined, spec: Record<string, unknown>): Promise<BuildPlan | {error: string}> {
  const written = clusterRel ?? String(spec.path ?? '')
  const rel = normaliseRel(written)
  if (rel === undefined) return {error: `spec.path ${written} must be a relative path inside the repository`}
  await options.revision.ensure(rel)
  const dir = path.join(options.revision.dir, rel)
  const stat = await fs.stat(dir).catch(() => undefined)
  if (!stat?.isDirectory()) return {error: `spec.path ${written} does not exist in ${options.revision.label}`}

  const fields = {
    components: spec.components,
    images: spec.images,
    namePrefix: spec.namePrefix,
    nameSuffix: spec.nameSuffix,
    patches: spec.patches,
    targetNamespace: spec.targetNamespace,
  }
  const exact = await exactInputs(options.revision, rel, fields)
  if (exact) {
    const key = createHash('sha256').update(JSON.stringify(['exact', rel, written, fields, exact.ids])).digest('hex')
    return {dir, fields, key, leaf: exact.leaf, sources: exact.sources, written}
  }

  return {dir, fields, key: await buildKey(options.revision, rel, written, fields), leaf: false, sources: true, written}
}

/**
 * Runs one `kubectl kustomize` (through an overlay for the controller's fields). `keep` receives
 * kubectl's stdout of a successful build that can be reused by a later run: not one whose output
 * names the temp overlay folder, the path from it to the revision, or the revision's folder (the
 * temp copy of a commit has a random name), which would differ next time.
 */
async function runBuild(options: BuildOptions, dir: string, written: string, fields: Record<string, unknown>, keep?: (stdout: string) => void): Promise<BuildOutput> {
  const hasKustomization = KUSTOMIZATION_FILES.some((f) => existsSync(path.join(dir, f)))
  const needsOverlay = !hasKustomization || Object.values(fields).some((v) => v !== undefined && !(Array.isArray(v) && v.length === 0))
  let overlay: string | undefined
  try {
    let target = dir
    if (needsOverlay) {
      overlay = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-diff-overlay-'))
      await fs.writeFile(path.join(overlay, 'kustomization.yaml'), await overlayKustomization(overlay, dir, hasKustomization, fields))
      target = overlay
    }

    const args = ['kustomize', ...(needsOverlay ? ['--load-restrictor', 'LoadRestrictionsNone'] : []), target]
    if (options.counts) options.counts.run++
    const result = await run(options.kubectl, args, {timeout: 300_000})
    if (result.exitCode !== 0) {
      const {kubectlError} = await import('../validate/checks/kustomize.js')
      return {error: `kubectl kustomize ${written} failed: ${kubectlError(result.stderr, options.revision.dir)}`}
    }

    const stdout = String(result.stdout)
    if (keep) {
      const revisionDir = options.revision.dir
      const local = [revisionDir, ...(overlay ? [overlay, path.basename(overlay), path.relative(overlay, revisionDir)] : [])]
      // A commit's temp folder has a random name (revision.ts materialiseCommit); the working tree's name is the person's.
      if (options.revision.commit) local.push(path.basename(revisionDir))
      if (!local.some((p) => p && stdout.includes(p))) keep(stdout)
    }

    return {docs: splitBuildOutput(stdout, options.parsed ?? new Map())}
  } finally {
    if (overlay) await fs.rm(overlay, {force: true, recursive: true})
  }
}

/**
 * The kustomization kustomize-controller builds for a Flux Kustomization: the folder as a
 * resource (or, when it has no kustomization file, every manifest in it and every sub-folder
 * holding a kustomization, as the controller's generator lists them) with `namespace` from
 * targetNamespace, namePrefix/nameSuffix, patches, images and components.
 */
async function overlayKustomization(overlay: string, dir: string, hasKustomization: boolean, fields: Record<string, unknown>): Promise<string> {
  const rel = (p: string) => path.relative(overlay, p).split(path.sep).join('/')
  const resources = hasKustomization ? [rel(dir)] : (await generatedResources(dir)).map(rel)
  const k: Record<string, unknown> = {apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources}
  if (typeof fields.targetNamespace === 'string') k.namespace = fields.targetNamespace
  if (typeof fields.namePrefix === 'string') k.namePrefix = fields.namePrefix
  if (typeof fields.nameSuffix === 'string') k.nameSuffix = fields.nameSuffix
  if (Array.isArray(fields.patches)) k.patches = fields.patches
  if (Array.isArray(fields.images)) k.images = fields.images
  if (Array.isArray(fields.components)) k.components = fields.components.map((c) => (typeof c === 'string' ? rel(path.join(dir, c)) : c))
  return stringify(k)
}

/** The manifests a folder without a kustomization file stands for (fluxcd/pkg kustomize generator): YAML files holding an object with apiVersion and kind; sub-folders with a kustomization as a whole. */
async function generatedResources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of (await fs.readdir(dir, {withFileTypes: true})).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name.startsWith('.')) continue
      if (KUSTOMIZATION_FILES.some((f) => existsSync(path.join(full, f)))) out.push(full)
      else out.push(...(await generatedResources(full)))
    } else if (entry.isFile() && /\.ya?ml$/i.test(entry.name)) {
      const text = await fs.readFile(full, 'utf8')
      if (/^apiVersion:/m.test(text) && /^kind:/m.test(text)) out.push(full)
    }
  }

  return out
}

/**
 * The objects of `kubectl kustomize` output. The output is split at its `---` separator lines
 * (kustomize prints one per object; at column 0 it always starts a new document, YAML 1.2 §9.1)
 * and each document is parsed once per text through `parsed`, so the objects two builds share
 * are parsed once. Output with any other document marker is parsed whole.
 */
export function parseBuildOutput(text: string, parsed: Map<string, Record<string, unknown> | undefined>): Array<Record<string, unknown>> {
  const parseDocs = (t: string) => parseAllDocuments(t).flatMap((doc) => (Array.isArray(doc) ? [] : [doc.toJS({maxAliasCount: -1}) as unknown]))
  if (/^(---[^\S\n]*\S|\.\.\.)/m.test(text)) return parseDocs(text).filter((v) => isRecord(v))
  const objects: Array<Record<string, unknown>> = []
  for (const doc of text.split(/^---[^\S\n]*(?:\n|$)/m)) {
    if (!doc.trim()) continue
    let value = parsed.get(doc)
    if (!parsed.has(doc)) {
      const values = parseDocs(doc)
      value = values.length === 1 && isRecord(values[0]) ? values[0] : undefined
      if (values.length > 1) {
        objects.push(...values.filter((v) => isRecord(v)))
        continue
      }

      parsed.set(doc, value)
    }

    if (value) objects.push(value)
  }

  return objects
}

/**
 * The documents of `kubectl kustomize` output, each parsed only when read (once per text through
 * `parsed`, shared by both revisions). Split like {@link parseBuildOutput}; a document whose
 * identity {@link documentHead} cannot read from its text is parsed at once, and output with any
 * other document marker is parsed whole.
 */
export function splitBuildOutput(text: string, parsed: Map<string, Record<string, unknown> | undefined>): OutputDoc[] {
  const parsedDoc = (value: Record<string, unknown>): OutputDoc => ({value: () => value})
  if (/^(---[^\S\n]*\S|\.\.\.)/m.test(text)) return parseBuildOutput(text, parsed).map(parsedDoc)
  const out: OutputDoc[] = []
  for (const doc of text.split(/^---[^\S\n]*(?:\n|$)/m)) {
    if (!doc.trim()) continue
    const head = documentHead(doc)
    if (!head) {
      out.push(...parseBuildOutput(doc, parsed).map(parsedDoc))
      continue
    }

    out.push({
      head,
      text: doc,
      value() {
        if (!parsed.has(doc)) parseBuildOutput(doc, parsed)
        return parsed.get(doc)!
      },
    })
  }

  return out
}

/** A plain scalar that the YAML 1.2 core schema reads as this same string (a letter first; not a boolean or null). */
const PLAIN_STRING = /^[A-Za-z][\w./-]*$/
const NOT_STRING = /^(true|True|TRUE|false|False|FALSE|null|Null|NULL)$/
/** A block mapping key written plain, with its value on the same line (or none). */
const TOP_KEY = /^([A-Za-z][\w.-]*):(?: (.*))?$/
const METADATA_KEY = /^ {2}([A-Za-z][\w.-]*):(?: (.*))?$/

/**
 * The identity (apiVersion, kind, metadata.name, metadata.namespace) of one YAML document as
 * `kubectl kustomize` prints it (kyaml: a block mapping, keys at column 0, metadata's keys
 * indented by two, long values folded onto lines indented further), read from the text without
 * parsing it. Undefined — parse it instead — for anything else: a column-0 line that is not a
 * plain `key:` (a comment, a quoted or complex key, a flow or quoted top-level value, a
 * directive), a key written twice, a `metadata:` with a value on its line, a line indented by two
 * under metadata that is not a plain `key:`, or an identity value that is not a plain string on
 * one line (quoted, a number, `true`, a `${var}`, folded onto the next line).
 */
export function documentHead(text: string): DocumentHead | undefined {
  const lines = text.split('\n')
  const top = new Map<string, string | undefined>()
  const metadata = new Map<string, string | undefined>()
  let inMetadata = false
  // The value must be one plain string, and the next non-empty line no deeper than its key (not a continuation).
  const single = (value: string | undefined, at: number, indent: number): boolean => {
    if (value === undefined || !PLAIN_STRING.test(value) || NOT_STRING.test(value)) return false
    for (let j = at + 1; j < lines.length; j++) if (lines[j].trim() !== '') return lines[j].length - lines[j].trimStart().length <= indent
    return true
  }

  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue
    if (line[0] !== ' ') {
      const m = TOP_KEY.exec(line)
      if (!m || top.has(m[1])) return undefined
      if (m[2] !== undefined && /^["'{[&*!?%@`]/.test(m[2])) return undefined
      top.set(m[1], m[2])
      inMetadata = m[1] === 'metadata'
      if (inMetadata && m[2] !== undefined) return undefined
      if ((m[1] === 'apiVersion' || m[1] === 'kind') && !single(m[2], i, 0)) return undefined
      continue
    }

    if (!inMetadata || line[2] === ' ') continue
    const m = METADATA_KEY.exec(line)
    if (!m || metadata.has(m[1])) return undefined
    metadata.set(m[1], m[2])
    if ((m[1] === 'name' || m[1] === 'namespace') && !single(m[2], i, 2)) return undefined
  }

  const [apiVersion, kind, name] = [top.get('apiVersion'), top.get('kind'), metadata.get('name')]
  if (!apiVersion || !kind || !name || !top.has('metadata')) return undefined
  const namespace = metadata.get('namespace')
  return namespace === undefined ? {apiVersion, kind, name} : {apiVersion, kind, name, namespace}
}

/** A built object for an output document: its identity from the text, its value (SOPS values as markers) parsed on first use. */
function builtOf(doc: OutputDoc, secrets: SecretValues): BuiltObject {
  if (!doc.head || doc.text === undefined) return toBuilt(secrets.redact(doc.value()))
  const {apiVersion, kind, name, namespace} = doc.head
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : ''
  let value: Record<string, unknown> | undefined
  return {
    display: namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`,
    key: `${group}/${kind}/${namespace ?? ''}/${name}`,
    kind,
    name,
    namespace,
    text: doc.text,
    get value() {
      value ??= secrets.redact(doc.value())
      return value
    },
  }
}

/** True for the head of a Flux Kustomization (kustomize.toolkit.fluxcd.io, any version). */
function isFluxHead(head: DocumentHead): boolean {
  return head.kind === 'Kustomization' && head.apiVersion.startsWith(`${FLUX_KUSTOMIZE_GROUP}/`)
}

/** What a kustomization file's values point at: paths with a `..` segment, and whether it reaches beyond what can be followed. */
interface KustomizationRefs {
  /** Single-line values with a `..` segment (a `key=path` value: the path), as written. */
  up: string[]
  /** A remote base, an absolute path or a multi-line value with a `..` segment: the build may read anything. */
  open: 'remote' | 'absolute' | 'whole' | undefined
}

const refsByText = new Map<string, KustomizationRefs | undefined>()

/** The references of a kustomization file's values (comments are free text); undefined when it does not parse. Cached by text. */
function kustomizationRefs(text: string): KustomizationRefs | undefined {
  if (refsByText.has(text)) return refsByText.get(text)
  let refs: KustomizationRefs | undefined
  try {
    const strings: string[] = []
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v)
      else if (Array.isArray(v)) for (const item of v) walk(item)
      else if (isRecord(v)) for (const [k, item] of Object.entries(v)) {
        strings.push(k)
        walk(item)
      }
    }

    for (const doc of parseAllDocuments(text)) {
      if (Array.isArray(doc)) continue
      if (doc.errors.length > 0) throw doc.errors[0]
      walk(doc.toJS())
    }

    refs = {open: undefined, up: []}
    for (const value of strings) {
      if (isRemoteEntry(value)) refs.open = 'remote'
      const single = !/\s/.test(value.trim())
      const candidate = single && value.includes('=') ? value.slice(value.indexOf('=') + 1) : value.trim()
      if (single && candidate.startsWith('/') && candidate.length > 1) refs.open ??= 'absolute'
      if (!/(^|[/\s"'=])\.\.([/\s"']|$)/.test(value)) continue
      if (single) refs.up.push(candidate)
      else refs.open ??= 'whole'
    }
  } catch {
    refs = undefined
  }

  if (refsByText.size > 1000) refsByText.clear()
  refsByText.set(text, refs)
  return refs
}

/**
 * The cache key of a build: the spec.path, the controller's fields and the identity (git tree or
 * blob id, see MaterialisedRevision.identity) of every path the build can read. That is spec.path's
 * folder, plus every path a kustomization file anywhere under it reaches with `..` (and the
 * `components` of the spec), followed recursively into those paths' own kustomization files. A
 * value that is not provably inside the repository (a kustomization that does not parse, a
 * multi-line value with `..`) keys on the whole repository; a remote base, an absolute path, a
 * path outside the repository or anything without an identity (a symlink, the whole working tree)
 * gives no key: that build is not shared.
 */
export async function buildKey(revision: MaterialisedRevision, rel: string, written: string, fields: Record<string, unknown>): Promise<string | undefined> {
  if (!revision.identity) return undefined
  const read = new Set<string>()
  const queue = [rel]
  const components = Array.isArray(fields.components) ? fields.components.filter((c): c is string => typeof c === 'string') : []
  for (const c of components) {
    const target = normaliseRel(path.posix.join(rel, c))
    if (target === undefined) return undefined
    queue.push(target)
  }

  const covered = (p: string) => read.has('.') || [...read].some((r) => p === r || p.startsWith(`${r}/`))
  while (queue.length > 0) {
    const next = queue.shift()!
    if (covered(next)) continue
    read.add(next)
    if (next === '.') break
    await revision.ensure(next)
    for (const file of await kustomizationFilesUnder(path.join(revision.dir, next))) {
      const refs = kustomizationRefs(await fs.readFile(file, 'utf8'))
      if (refs === undefined || refs.open === 'whole') {
        queue.push('.')
        continue
      }

      if (refs.open) return undefined
      const from = path.relative(revision.dir, path.dirname(file)).split(path.sep).join('/') || '.'
      for (const up of refs.up) {
        const target = normaliseRel(path.posix.join(from, up))
        if (target === undefined) return undefined
        queue.push(target)
      }
    }
  }

  const ids: Array<[string, string]> = []
  for (const p of [...read].sort()) {
    const id = await revision.identity(p)
    if (id === undefined) return undefined
    ids.push([p, id])
  }

  return createHash('sha256').update(JSON.stringify([rel, written, fields, ids])).digest('hex')
}

/** A plain scalar the YAML core schema reads as this same string: a letter, `_`, `.` or `/` first, then word characters, `.`, `/` and `-` (not a boolean or null). */
const PLAIN_PATH = /^[A-Za-z_./][\w./-]*$/

/**
 * A kustomization file of the simplest shape, read without the YAML parser: only comment and
 * blank lines, `key: value` at column 0 with a plain value ({@link PLAIN_PATH}), and `key:`
 * followed by a block sequence of plain values (`- item`, indented or not). The object the
 * parser would give; undefined for anything else (the caller parses it).
 */
export function simpleKustomization(text: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {}
  let list: {items: string[]; indent: number} | undefined
  for (const line of text.split('\n')) {
    if (/^\s*(#.*)?$/.test(line)) continue
    if (list) {
      const item = /^( *)- (\S+)$/.exec(line)
      if (item && (list.indent === -1 || item[1].length === list.indent)) {
        if (!PLAIN_PATH.test(item[2]) || NOT_STRING.test(item[2])) return undefined
        list.indent = item[1].length
        list.items.push(item[2])
        continue
      }

      if (line[0] === ' ' || line[0] === '-') return undefined
      list = undefined
    }

    const m = TOP_KEY.exec(line)
    if (!m || m[1] in out) return undefined
    if (m[2] === undefined || m[2].trim() === '') {
      list = {indent: -1, items: []}
      out[m[1]] = list.items
    } else if (PLAIN_PATH.test(m[2]) && !NOT_STRING.test(m[2])) out[m[1]] = m[2]
    else return undefined
  }

  // A key with nothing under it is null to the parser.
  for (const [key, value] of Object.entries(out)) if (Array.isArray(value) && value.length === 0) out[key] = null
  return out
}

/** Kustomization fields that name no file (kustomize's Kustomization type). */
const NO_FILE_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'images',
  'replicas',
  'buildMetadata',
  'sortOptions',
  'generatorOptions',
])

/** Text in an input that makes a build more than a leaf: a Flux Kustomization (children). */
const NOT_LEAF = /kustomize\.toolkit\.fluxcd\.io/i

/** Text in an input that may make a substituteFrom source: a ConfigMap or Secret (also a generator of one). */
const SOURCES = /configmap|secret/i

/** True when the Kustomization's postBuild reads variables from ConfigMaps or Secrets (`substituteFrom`). */
function readsSources(pending: Pending): boolean {
  const postBuild = isRecord(pending.spec.postBuild) ? pending.spec.postBuild : undefined
  return Array.isArray(postBuild?.substituteFrom) && postBuild.substituteFrom.length > 0
}

/**
 * Exactly the files a `kubectl kustomize` of `rel` (with the controller's `fields`) reads, with
 * their identities (MaterialisedRevision.identity): each kustomization file, and what its
 * `resources`/`bases`/`components` (files, or folders followed into their kustomization),
 * `patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`,
 * `configMapGenerator`/`secretGenerator` `files`/`envs`/`env` and `crds` name, recursively. The
 * three kustomization file names of each folder count (an absent one as `absent`).
 * Undefined — the caller keys on folders instead ({@link buildKey}) — when anything is not a plain
 * local path or cannot be vouched for: a field not listed here or in NO_FILE_FIELDS, a remote
 * base, a path outside the repository, a folder without a kustomization file, a kustomization
 * that does not parse, a symlink on the way, a path without an identity.
 * `leaf` is true when no input's text mentions a Flux Kustomization, no kustomization has a
 * ConfigMap or Secret generator (it can fail with every file there) and
 * every file named is there.
 */
export async function exactInputs(revision: MaterialisedRevision, rel: string, fields: Record<string, unknown>): Promise<{ids: Array<[string, string]>; leaf: boolean; sources: boolean} | undefined> {
  if (!revision.identity) return undefined
  const files = new Set<string>()
  const folders: string[] = [rel]
  const components = Array.isArray(fields.components) ? fields.components : []
  for (const c of components) {
    if (typeof c !== 'string') return undefined
    const target = normaliseRel(path.posix.join(rel, c))
    if (target === undefined) return undefined
    folders.push(target)
  }

  const seenFolders = new Set<string>()
  const texts: string[] = []
  let generates = false
  const realRoot = await fs.realpath(revision.dir).catch(() => undefined)
  if (!realRoot) return undefined
  // A path counts only where it is what it says: no symlink on the way (the identity of a path under a linked folder would be `absent`).
  const realChecked = new Map<string, Promise<boolean>>()
  const real = (p: string) => {
    let known = realChecked.get(p)
    if (!known) {
      known = fs.realpath(path.join(revision.dir, p)).then((r) => r === path.join(realRoot, p), () => false)
      realChecked.set(p, known)
    }

    return known
  }
  const local = (from: string, value: unknown): string | undefined => {
    if (typeof value !== 'string' || value === '' || /\s/.test(value) || isRemoteEntry(value)) return undefined
    return normaliseRel(path.posix.join(from, value))
  }

  while (folders.length > 0) {
    const folder = folders.shift()!
    if (seenFolders.has(folder)) continue
    seenFolders.add(folder)
    await revision.ensure(folder)
    if (!(await real(folder))) return undefined
    const present = KUSTOMIZATION_FILES.filter((f) => existsSync(path.join(revision.dir, folder, f)))
    if (present.length !== 1) return undefined
    for (const f of KUSTOMIZATION_FILES) files.add(path.posix.join(folder, f))
    const text = await fs.readFile(path.join(revision.dir, folder, present[0]), 'utf8').catch(() => undefined)
    if (text === undefined) return undefined
    texts.push(text)
    let k: unknown = simpleKustomization(text)
    if (k === undefined)
      try {
        const docs = [...parseAllDocuments(text)]
        if (docs.length !== 1 || docs[0].errors.length > 0) return undefined
        k = docs[0].toJS()
      } catch {
        return undefined
      }

    if (!isRecord(k)) return undefined
    const addFile = (value: unknown): boolean => {
      const p = local(folder, value)
      if (p === undefined) return false
      files.add(p)
      return true
    }

    const list = (value: unknown): unknown[] | undefined => (value === undefined || value === null ? [] : Array.isArray(value) ? value : undefined)
    for (const [field, value] of Object.entries(k)) {
      if (NO_FILE_FIELDS.has(field)) continue
      const items = list(value)
      if (!items) return undefined
      switch (field) {
        case 'resources':
        case 'bases':
        case 'components': {
          for (const item of items) {
            const p = local(folder, item)
            if (p === undefined) return undefined
            await revision.ensure(p)
            const stat = await fs.stat(path.join(revision.dir, p)).catch(() => undefined)
            if (stat?.isDirectory()) folders.push(p)
            else files.add(p)
          }

          break
        }

        case 'crds': {
          for (const item of items) if (!addFile(item)) return undefined
          break
        }

        case 'patchesStrategicMerge': {
          // A one-line entry is a file; a multi-line one an inline patch.
          for (const item of items) if (typeof item !== 'string' || (!item.trim().includes('\n') && !addFile(item.trim()))) return undefined
          break
        }

        case 'patches':
        case 'patchesJson6902': {
          for (const item of items) {
            if (!isRecord(item)) return undefined
            if (item.path !== undefined && !addFile(item.path)) return undefined
          }

          break
        }

        case 'configMapGenerator':
        case 'secretGenerator': {
          // A generator can fail to build with every file there (a literal without `=`, a bad env key, a clash): never put off, so its error shows.
          if (items.length > 0) generates = true
          for (const item of items) {
            if (!isRecord(item)) return undefined
            const named = [...(list(item.files) ?? [undefined]), ...(list(item.envs) ?? [undefined]), ...(item.env === undefined ? [] : [item.env])]
            for (const entry of named) {
              const value = typeof entry === 'string' && entry.includes('=') ? entry.slice(entry.indexOf('=') + 1) : entry
              if (!addFile(value)) return undefined
            }
          }

          break
        }

        default: {
          return undefined
        }
      }
    }
  }

  const ids: Array<[string, string]> = []
  // A file a kustomization names that is not there fails the build: never a leaf (its error is reported at both revisions).
  let missing = false
  for (const p of [...files].sort()) {
    const id = await revision.identity(p)
    if (id === undefined) return undefined
    if (id === 'absent' && !KUSTOMIZATION_FILES.includes(path.posix.basename(p))) missing = true
    if (id !== 'absent') {
      if (!(await real(path.posix.dirname(p)))) return undefined
      if (!KUSTOMIZATION_FILES.includes(path.posix.basename(p)) || !seenFolders.has(path.posix.dirname(p)))
        texts.push(await fs.readFile(path.join(revision.dir, p), 'utf8').catch(() => ''))
    }

    ids.push([p, id])
  }

  return {ids, leaf: !missing && !generates && !texts.some((t) => NOT_LEAF.test(t)), sources: texts.some((t) => SOURCES.test(t))}
}

/** Every kustomization file under `target` (a folder, recursively, not following links; nothing for a file or a missing path). */
async function kustomizationFilesUnder(target: string): Promise<string[]> {
  const stat = await fs.stat(target).catch(() => undefined)
  if (!stat?.isDirectory()) return []
  const entries = await fs.readdir(target, {recursive: true, withFileTypes: true})
  return entries
    .filter((e) => e.isFile() && KUSTOMIZATION_FILES.includes(e.name) && !path.relative(target, e.parentPath).split(path.sep).includes('.git'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
}

/** A built object's identity and display name. */
export function toBuilt(value: Record<string, unknown>): BuiltObject {
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : ''
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : ''
  const kind = typeof value.kind === 'string' ? value.kind : '?'
  const name = nameOf(value)
  const namespace = namespaceOf(value)
  return {display: namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`, key: `${group}/${kind}/${namespace ?? ''}/${name}`, kind, name, namespace, value}
}

/** spec.path (or any repository path) as a normalised relative POSIX path; undefined when absolute or outside. */
export function normaliseRel(written: string): string | undefined {
  if (path.posix.isAbsolute(written)) return undefined
  const rel = path.posix.normalize(written || '.').replace(/\/+$/, '')
  if (rel === '..' || rel.startsWith('../')) return undefined
  return rel
}

/** True for a Flux Kustomization (kustomize.toolkit.fluxcd.io, any version). */
export function isFluxKustomization(object: Record<string, unknown>): boolean {
  return object.kind === 'Kustomization' && typeof object.apiVersion === 'string' && object.apiVersion.startsWith(`${FLUX_KUSTOMIZE_GROUP}/`)
}

function sourceOf(k: Pending): string {
  const ref = isRecord(k.spec.sourceRef) ? k.spec.sourceRef : {}
  return `${String(ref.kind ?? 'GitRepository')} ${String(ref.namespace ?? k.namespace)}/${String(ref.name ?? 'flux-system')}`
}

function specOf(object: Record<string, unknown>): Record<string, unknown> {
  return isRecord(object.spec) ? object.spec : {}
}

function nameOf(object: Record<string, unknown>): string {
  const metadata = isRecord(object.metadata) ? object.metadata : {}
  return typeof metadata.name === 'string' ? metadata.name : '?'
}

function namespaceOf(object: Record<string, unknown>): string | undefined {
  const metadata = isRecord(object.metadata) ? object.metadata : {}
  return typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined
}

function idOf(object: Record<string, unknown>): string {
  return `${namespaceOf(object) ?? 'default'}/${nameOf(object)}`
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
