import {isDeepStrictEqual} from 'node:util'
import {stringify} from 'yaml'

import {parseQuantity} from '../validate/quantity.js'
import type {BuiltKustomization, BuiltObject, RevisionBuild} from './build.js'

/**
 * What Flux does to one object when the change lands:
 * - `added`: created;
 * - `changed`: patched (server-side apply);
 * - `pruned`: deleted by garbage collection (the Kustomization has `spec.prune: true`, or the
 *   whole Kustomization is deleted and had prune on);
 * - `orphaned`: no longer in the tree but left in the cluster (`prune: false`, or the object
 *   carries `kustomize.toolkit.fluxcd.io/prune: disabled`);
 * - `moved`: now applied by another Kustomization (Flux's garbage collection skips objects
 *   another Kustomization owns, so it is not deleted).
 * Source: kustomize-controller docs, "Garbage collection" and "Prune"
 * (https://fluxcd.io/flux/components/kustomize/kustomizations/#prune).
 */
export type ObjectAction = 'added' | 'changed' | 'moved' | 'orphaned' | 'pruned'

/** One key of a Secret's data/stringData and what happens to it (the value itself is never reported). */
export interface SecretKeyChange {
  /** `data.KEY` or `stringData.KEY`. */
  key: string
  change: 'added' | 'removed' | 'value changed'
}

/** One object that differs between the revisions. */
export interface ObjectChange {
  action: ObjectAction
  /** `namespace/name` of the Flux Kustomization it belongs to (the new one for added, the old one otherwise). */
  kustomization: string
  /** `kind/namespace/name` (`kind/name` when cluster-scoped). */
  object: string
  kind: string
  namespace?: string
  name: string
  /** Unified diff of the object's YAML (noise dropped; Secret data/stringData left out, see secretKeys); '' when none. */
  diff: string
  /** For a Secret: the data/stringData keys added, removed or changed. */
  secretKeys?: SecretKeyChange[]
  /** For `moved`: the Kustomization that applies it now. */
  movedTo?: string
}

/** A change Kubernetes refuses or that loses data: an error of the diff (exit 1). */
export interface DiffError {
  kustomization: string
  /** The object it is about; undefined for a Kustomization that does not build. */
  object?: string
  message: string
}

/** A Flux Kustomization and what happens to it. */
export interface KustomizationChange {
  id: string
  /** `added`/`removed` for a Kustomization only on one side; `changed` when any of its objects differ. */
  status: 'added' | 'changed' | 'removed' | 'unchanged'
  /** spec.prune on the side that counts (the new one, the old one when removed). */
  prune: boolean
  /** Why it was not built (not this repository's source), when so. */
  skipped?: string
  /** Removed from the tree but left in the cluster (its parent does not prune it): it keeps applying its last objects, which are not listed. */
  orphaned?: boolean
}

/** The cluster diff of two built revisions. */
export interface ClusterDiff {
  kustomizations: KustomizationChange[]
  /** Grouped by Kustomization (in order of {@link kustomizations}), deletions (pruned, orphaned, moved) first, then by object. */
  objects: ObjectChange[]
  errors: DiffError[]
  warnings: string[]
}

/** Labels and annotations Flux adds in the cluster (kustomize-controller), and other fields that are never part of a change. */
const NOISE_METADATA = [/^kustomize\.toolkit\.fluxcd\.io\/(name|namespace|checksum)$/, /^kubectl\.kubernetes\.io\/last-applied-configuration$/]
const DELETION_ORDER: Record<ObjectAction, number> = {added: 3, changed: 4, moved: 2, orphaned: 1, pruned: 0}
const PRUNE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/prune'

/**
 * Compares two built revisions, Kustomization by Kustomization: objects added, changed (a
 * unified YAML diff with noise dropped), pruned or orphaned, and the errors: builds that fail,
 * and changes Kubernetes refuses or that delete storage (see {@link immutableErrors}).
 * @param labels how the diff headers name the two sides (`HEAD`, `working tree`)
 */
export async function compareBuilds(from: RevisionBuild, to: RevisionBuild, labels: {from: string; to: string}): Promise<ClusterDiff> {
  const {createTwoFilesPatch} = await import('diff')
  const out: ClusterDiff = {errors: [], kustomizations: [], objects: [], warnings: [...new Set([...from.warnings, ...to.warnings])]}
  const ids = [...new Set([...to.kustomizations.keys(), ...from.kustomizations.keys()])]
  const newOwner = new Map<string, string>()
  for (const k of to.kustomizations.values()) for (const key of k.objects.keys()) newOwner.set(key, k.id)
  const fate = deletionFate(from, to)

  for (const id of ids) {
    const before = from.kustomizations.get(id)
    const after = to.kustomizations.get(id)
    const k = (after ?? before)!
    const failed = [before, after].filter((b): b is BuiltKustomization => b?.error !== undefined)
    for (const f of failed) out.errors.push({kustomization: id, message: `${f === before ? labels.from : labels.to}: ${f.error}`})
    const change: KustomizationChange = {id, prune: k.prune, status: !before ? 'added' : !after ? 'removed' : 'unchanged'}
    if (k.skipped) change.skipped = k.skipped
    out.kustomizations.push(change)
    if (failed.length > 0) continue
    // Removed from the tree but not deleted from the cluster: it keeps applying what it last had.
    if (!after && fate(id) === 'orphaned') {
      change.orphaned = true
      continue
    }

    const changes: ObjectChange[] = []
    const oldObjects = before?.objects ?? new Map<string, BuiltObject>()
    const newObjects = after?.objects ?? new Map<string, BuiltObject>()
    for (const [key, old] of oldObjects) {
      if (newObjects.has(key)) continue
      const owner = newOwner.get(key)
      let action: ObjectAction
      if (owner !== undefined) action = 'moved'
      else if (annotation(old, PRUNE_ANNOTATION) === 'disabled') action = 'orphaned'
      else if (after) action = after.prune ? 'pruned' : 'orphaned'
      else action = fate(id) === 'deleted' && before!.prune ? 'pruned' : 'orphaned'
      const change: ObjectChange = {...describe(old), action, diff: patch(createTwoFilesPatch, old, undefined, labels), kustomization: id}
      if (owner !== undefined) change.movedTo = owner
      if (old.kind === 'Secret') change.secretKeys = secretKeyChanges(old, undefined)
      changes.push(change)
    }

    for (const [key, now] of newObjects) {
      const old = oldObjects.get(key)
      if (old && sameObject(old, now)) continue
      if (!old && from.kustomizations.size > 0 && [...from.kustomizations.values()].some((f) => f.objects.has(key))) {
        // Moved in from another Kustomization: the move is reported there; a content change here.
        const previous = [...from.kustomizations.values()].find((f) => f.objects.get(key))!.objects.get(key)!
        if (sameObject(previous, now)) continue
        changes.push(changed(createTwoFilesPatch, previous, now, id, labels))
        continue
      }

      changes.push(old ? changed(createTwoFilesPatch, old, now, id, labels) : {...describe(now), action: 'added', diff: patch(createTwoFilesPatch, undefined, now, labels), kustomization: id, ...(now.kind === 'Secret' ? {secretKeys: secretKeyChanges(undefined, now)} : {})})
    }

    changes.sort((a, b) => DELETION_ORDER[a.action] - DELETION_ORDER[b.action] || a.object.localeCompare(b.object))
    if (changes.length > 0 && change.status === 'unchanged') change.status = 'changed'
    out.objects.push(...changes)
    for (const c of changes) {
      const old = c.action === 'added' ? undefined : findObject(from, c)
      const now = c.action === 'changed' || c.action === 'added' ? findObject(to, c) : undefined
      for (const message of immutableErrors(c.action, old?.value, now?.value)) out.errors.push({kustomization: id, message: `${c.object}: ${message}`, object: c.object})
    }
  }

  return out
}

type PatchFn = typeof import('diff').createTwoFilesPatch

function changed(createTwoFilesPatch: PatchFn, old: BuiltObject, now: BuiltObject, id: string, labels: {from: string; to: string}): ObjectChange {
  const change: ObjectChange = {...describe(now), action: 'changed', diff: patch(createTwoFilesPatch, old, now, labels), kustomization: id}
  if (now.kind === 'Secret') change.secretKeys = secretKeyChanges(old, now)
  return change
}

function findObject(build: RevisionBuild, change: ObjectChange): BuiltObject | undefined {
  for (const k of build.kustomizations.values()) for (const o of k.objects.values()) if (o.display === change.object && o.kind === change.kind) return o
  return undefined
}

function describe(object: BuiltObject): Pick<ObjectChange, 'kind' | 'name' | 'namespace' | 'object'> {
  return {kind: object.kind, name: object.name, object: object.display, ...(object.namespace ? {namespace: object.namespace} : {})}
}

/**
 * What happens to a Kustomization of the old revision that the new one no longer defines:
 * `kept` (still defined), `deleted` (its parent prunes it: the parent's new `prune`, or the
 * parent's old `prune` when the parent is deleted too), `orphaned` (left in the cluster, still
 * applying its objects).
 */
function deletionFate(from: RevisionBuild, to: RevisionBuild): (id: string) => 'deleted' | 'kept' | 'orphaned' {
  const memo = new Map<string, 'deleted' | 'kept' | 'orphaned'>()
  const fate = (id: string): 'deleted' | 'kept' | 'orphaned' => {
    const known = memo.get(id)
    if (known) return known
    memo.set(id, 'kept') // cycle guard
    let result: 'deleted' | 'kept' | 'orphaned'
    const old = from.kustomizations.get(id)
    if (to.kustomizations.has(id) || !old?.parent) result = 'kept'
    else {
      const parentFate = fate(old.parent)
      const parent = parentFate === 'kept' ? to.kustomizations.get(old.parent) : from.kustomizations.get(old.parent)
      result = parentFate === 'orphaned' ? 'orphaned' : parent?.prune ? 'deleted' : 'orphaned'
    }

    memo.set(id, result)
    return result
  }

  return fate
}

/** True when two built objects are the same as Flux applies them: the same output text (nothing parsed), else equal without the noise ({@link clean}). */
export function sameObject(a: BuiltObject, b: BuiltObject): boolean {
  if (a.text !== undefined && a.text === b.text) return true
  return isDeepStrictEqual(clean(a), clean(b))
}

/** An object without the noise: status, Flux's own labels/annotations, server-set metadata. Secret values stay (as markers). */
export function clean(object: BuiltObject): Record<string, unknown> {
  const {status: _status, ...rest} = object.value
  const metadata = isRecord(rest.metadata) ? {...rest.metadata} : undefined
  if (metadata) {
    for (const field of ['creationTimestamp', 'resourceVersion', 'uid', 'generation', 'managedFields']) delete metadata[field]
    for (const field of ['labels', 'annotations']) {
      if (!isRecord(metadata[field])) continue
      const kept = Object.fromEntries(Object.entries(metadata[field]).filter(([k]) => !NOISE_METADATA.some((re) => re.test(k))))
      if (Object.keys(kept).length > 0) metadata[field] = kept
      else delete metadata[field]
    }

    rest.metadata = metadata
  }

  return rest
}

/** The YAML a diff shows: {@link clean}, and for a Secret without data/stringData (reported as key names). */
function shown(object: BuiltObject | undefined): string {
  if (!object) return ''
  const value = clean(object)
  if (object.kind === 'Secret') {
    delete value.data
    delete value.stringData
  }

  return stringify(value, {lineWidth: 0})
}

function patch(createTwoFilesPatch: PatchFn, old: BuiltObject | undefined, now: BuiltObject | undefined, labels: {from: string; to: string}): string {
  const a = shown(old)
  const b = shown(now)
  if (a === b) return ''
  const name = (old ?? now)!.display
  const text = createTwoFilesPatch(`${labels.from}/${name}`, `${labels.to}/${name}`, a, b, undefined, undefined, {context: 3})
  // Drop the `===` separator line the diff package writes before the headers.
  return text
    .split('\n')
    .filter((line) => !/^=+$/.test(line))
    .join('\n')
    .trimEnd()
}

/** data/stringData keys of a Secret that appear, disappear or change value (values compared as markers, never shown). */
export function secretKeyChanges(old: BuiltObject | undefined, now: BuiltObject | undefined): SecretKeyChange[] {
  const entries = (o: BuiltObject | undefined) => {
    const out = new Map<string, unknown>()
    for (const field of ['data', 'stringData']) {
      const map = o?.value[field]
      if (isRecord(map)) for (const [k, v] of Object.entries(map)) out.set(`${field}.${k}`, v)
    }

    return out
  }

  const a = entries(old)
  const b = entries(now)
  const out: SecretKeyChange[] = []
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (!b.has(key)) out.push({change: 'removed', key})
    else if (!a.has(key)) out.push({change: 'added', key})
    else if (!isDeepStrictEqual(a.get(key), b.get(key))) out.push({change: 'value changed', key})
  }

  return out
}

/**
 * The changes Kubernetes refuses (the API server's validation of immutable fields) or that lose
 * storage, as one sentence each with what to do:
 * - a PersistentVolume or PersistentVolumeClaim deleted (pruned);
 * - PersistentVolumeClaim: `spec.resources.requests.storage` smaller (a claim can only grow),
 *   `storageClassName`, `volumeName`, `accessModes` changed (immutable once bound:
 *   k8s.io/kubernetes pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate);
 * - PersistentVolume: `capacity.storage` smaller, the volume source (`hostPath`, …),
 *   `storageClassName`, `claimRef`, `accessModes` changed (ValidatePersistentVolumeUpdate: the
 *   source is immutable; the rest unbinds or strands the bound claim);
 * - Deployment/StatefulSet `spec.selector` (immutable in apps/v1), StatefulSet
 *   `spec.volumeClaimTemplates` and `spec.serviceName` (ValidateStatefulSetUpdate).
 */
export function immutableErrors(action: ObjectAction, old: Record<string, unknown> | undefined, now: Record<string, unknown> | undefined): string[] {
  const kind = String((now ?? old)?.kind ?? '')
  const out: string[] = []
  if (action === 'pruned' && (kind === 'PersistentVolume' || kind === 'PersistentVolumeClaim'))
    return [`would be deleted (pruned): a ${kind} holds an app's data; keep it in the tree, or annotate it kustomize.toolkit.fluxcd.io/prune: disabled before removing it`]
  if (action !== 'changed' || !old || !now) return out
  const get = (o: Record<string, unknown>, keyPath: string[]) => keyPath.reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), o)
  const same = (keyPath: string[]) => isDeepStrictEqual(get(old, keyPath), get(now, keyPath))
  const show = (v: unknown) => (v === undefined ? '(unset)' : typeof v === 'string' ? (v === '' ? '""' : v) : JSON.stringify(v))
  const refuse = (keyPath: string[], why: string) => {
    if (!same(keyPath)) out.push(`${keyPath.join('.')} ${show(get(old, keyPath))} → ${show(get(now, keyPath))}: ${why}`)
  }

  const shrink = (keyPath: string[], why: string) => {
    const a = parseQuantity(get(old, keyPath))
    const b = parseQuantity(get(now, keyPath))
    if (a !== undefined && b !== undefined && b < a) out.push(`${keyPath.join('.')} ${show(get(old, keyPath))} → ${show(get(now, keyPath))}: ${why}`)
  }

  const recreate = 'Kubernetes refuses the change; to change it, back up the data, delete the object and let Flux create it again'
  switch (kind) {
    case 'PersistentVolumeClaim': {
      shrink(['spec', 'resources', 'requests', 'storage'], 'a claim can only grow, Kubernetes refuses to shrink it; keep the old size')
      for (const field of ['storageClassName', 'volumeName', 'accessModes']) refuse(['spec', field], `immutable on a bound claim: ${recreate}`)
      break
    }

    case 'PersistentVolume': {
      shrink(['spec', 'capacity', 'storage'], 'smaller than the claim bound to it; keep the old size')
      for (const field of ['hostPath', 'local', 'nfs', 'csi']) refuse(['spec', field], `a volume's source is immutable: ${recreate}`)
      for (const field of ['storageClassName', 'claimRef', 'accessModes']) refuse(['spec', field], `the bound claim would no longer match (or Kubernetes refuses it): ${recreate}`)
      break
    }

    case 'Deployment': {
      refuse(['spec', 'selector'], `immutable in apps/v1: ${recreate.replace('back up the data, ', '')}`)
      break
    }

    case 'StatefulSet': {
      refuse(['spec', 'selector'], `immutable in apps/v1: ${recreate}`)
      refuse(['spec', 'volumeClaimTemplates'], `immutable: ${recreate}`)
      refuse(['spec', 'serviceName'], `immutable: ${recreate}`)
      break
    }

    default:
  }

  return out
}

function annotation(object: BuiltObject, name: string): unknown {
  const metadata = isRecord(object.value.metadata) ? object.value.metadata : {}
  return isRecord(metadata.annotations) ? metadata.annotations[name] : undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
