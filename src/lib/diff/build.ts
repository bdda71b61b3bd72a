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
import {parseAllDocuments, stringify} from 'yaml'

import {kubectlError} from '../validate/checks/kustomize.js'
import {mapLimit} from '../validate/tools.js'
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
  /** The object as Flux would apply it (substituted; SOPS values as markers, see SecretValues). */
  value: Record<string, unknown>
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
  /** Builds at once (default: the CPU count, at least 2). */
  concurrency?: number
}

/** The result of one `kubectl kustomize`: the parsed objects, or the error line. */
export type BuildOutput = {objects: Array<Record<string, unknown>>} | {error: string}

interface Pending {
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

  // The root: the cluster folder, applied by the Flux Kustomization that points at it (flux bootstrap: flux-system/flux-system).
  const rootOutput = await buildPath(options, clusterRel, {})
  if ('error' in rootOutput) {
    build.kustomizations.set('flux-system/flux-system', {...emptyKustomization('flux-system/flux-system', clusterRel), error: rootOutput.error})
    return build
  }

  const self = rootOutput.objects.find((o) => isFluxKustomization(o) && normaliseRel(String(specOf(o).path ?? '')) === clusterRel)
  const root: Pending = self
    ? {id: idOf(self), name: nameOf(self), namespace: namespaceOf(self) ?? 'flux-system', spec: specOf(self)}
    : {id: 'flux-system/flux-system', name: 'flux-system', namespace: 'flux-system', spec: {path: `./${clusterRel}`, prune: true}}
  const rootSource = sourceOf(root)
  let level: Pending[] = [root]
  const seen = new Set<string>([root.id])
  const allObjects: BuiltObject[] = []

  let deferred: Array<{k: BuiltKustomization; output: BuildOutput; pending: Pending}> = []
  while (level.length > 0) {
    const built = await mapLimit(level, concurrency, async (pending) => {
      const k = emptyKustomization(pending.id, String(pending.spec.path ?? ''))
      Object.assign(k, {name: pending.name, namespace: pending.namespace, parent: pending.parent, prune: pending.spec.prune === true})
      const source = sourceOf(pending)
      if (pending !== root && source !== rootSource) {
        k.skipped = `its sourceRef ${source} is not this repository (${rootSource}); not built`
        return {k, output: {objects: []} as BuildOutput, pending}
      }

      const output = pending === root ? rootOutput : await buildPath(options, undefined, pending.spec)
      return {k, output, pending}
    })

    const next: Pending[] = []
    // A Kustomization whose postBuild reads an object not built yet (another Kustomization of the
    // same or a later level makes it; in the cluster dependsOn orders this) waits until it is there.
    const waiting: Array<{k: BuiltKustomization; output: BuildOutput; pending: Pending}> = []
    const settle = (item: {k: BuiltKustomization; output: BuildOutput; pending: Pending}, last: boolean): boolean => {
      const {k, output, pending} = item
      build.kustomizations.set(k.id, k)
      if ('error' in output) {
        k.error = output.error
        return true
      }

      let objects = output.objects.map((o) => options.secrets.redact(o))
      const postBuild = isRecord(pending.spec.postBuild) ? pending.spec.postBuild : undefined
      if (postBuild) {
        const warnings: string[] = []
        const vars = variablesFor(pending, postBuild, [...allObjects, ...objects.map(toBuilt)], options.secrets, warnings)
        if ('error' in vars) {
          if (!last) return false
          k.error = vars.error
          return true
        }

        build.warnings.push(...warnings)

        try {
          objects = objects.map((o) => substituteObject(o, vars.vars))
        } catch (error) {
          k.error = `post-build substitution made invalid YAML: ${(error as Error).message.split('\n')[0]}`
          return true
        }
      }

      for (const object of objects) {
        const b = toBuilt(object)
        k.objects.set(b.key, b)
        allObjects.push(b)
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
 * `spec` (path plus the controller's own fields, through an overlay). Output cached by the hash of
 * the spec and of the files under the folder, when no kustomization there reaches outside it.
 */
async function buildPath(options: BuildOptions, clusterRel: string | undefined, spec: Record<string, unknown>): Promise<BuildOutput> {
  const written = clusterRel ?? String(spec.path ?? '')
  const rel = normaliseRel(written)
  if (rel === undefined) return {error: `spec.path ${written} must be a relative path inside the repository`}
  await options.revision.ensure(rel)
  const dir = path.join(options.revision.dir, rel)
  const stat = await fs.stat(dir).catch(() => undefined)
  if (!stat?.isDirectory()) return {error: `spec.path ${written} does not exist in ${options.revision.label}`}

  const fluxFields = {
    components: spec.components,
    images: spec.images,
    namePrefix: spec.namePrefix,
    nameSuffix: spec.nameSuffix,
    patches: spec.patches,
    targetNamespace: spec.targetNamespace,
  }
  const hash = await contentHash(dir)
  const key = hash === undefined ? undefined : createHash('sha256').update(JSON.stringify([rel, fluxFields, hash])).digest('hex')
  if (key !== undefined) {
    const cached = options.cache.get(key)
    if (cached) return cached
  }

  const run = runBuild(options, dir, written, fluxFields)
  if (key !== undefined) options.cache.set(key, run)
  return run
}

async function runBuild(options: BuildOptions, dir: string, written: string, fields: Record<string, unknown>): Promise<BuildOutput> {
  const {execa} = await import('execa')
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
    const result = await execa(options.kubectl, args, {maxBuffer: 1024 * 1024 * 1024, reject: false, timeout: 300_000})
    if (result.exitCode !== 0) return {error: `kubectl kustomize ${written} failed: ${kubectlError(String(result.stderr ?? ''), options.revision.dir)}`}
    const objects: Array<Record<string, unknown>> = []
    for (const doc of parseAllDocuments(String(result.stdout))) {
      if (Array.isArray(doc)) continue
      const value = doc.toJS({maxAliasCount: -1}) as unknown
      if (isRecord(value)) objects.push(value)
    }

    return {objects}
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
 * sha256 over every file under `dir` (paths and contents), or undefined when a kustomization file
 * there refers outside the folder (`..`) or to a remote base: then its output depends on more than
 * the folder, and it is not cached.
 */
async function contentHash(dir: string): Promise<string | undefined> {
  const hash = createHash('sha256')
  const entries = await fs.readdir(dir, {recursive: true, withFileTypes: true})
  const files = entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
  for (const file of files) {
    const stat = await fs.lstat(file)
    if (stat.isSymbolicLink()) return undefined
    const data = await fs.readFile(file)
    if (KUSTOMIZATION_FILES.includes(path.basename(file))) {
      // The values only (comments are free text): any `..` segment or remote base makes it uncacheable.
      let values: string
      try {
        values = JSON.stringify(parseAllDocuments(data.toString('utf8')).map((d) => (Array.isArray(d) ? null : d.toJS())))
      } catch {
        return undefined
      }

      if (/(^|[/"])\.\.([/"]|$)/.test(values) || /:\/\/|github\.com\/|git@/.test(values)) return undefined
    }

    hash.update(path.relative(dir, file)).update('\0').update(String(data.length)).update('\0').update(data)
  }

  return hash.digest('hex')
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
