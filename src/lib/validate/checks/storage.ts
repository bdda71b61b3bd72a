import path from 'node:path'

import type {Check} from '../check.js'
import {describeObject, isCore} from '../check.js'
import {isRecord, type KubeObject, lineOf} from '../context.js'
import {FindingList} from '../finding.js'
import {parseQuantity} from '../quantity.js'
import {isUnder} from '../../fs/path-under.js'

/**
 * Check 3: every PersistentVolumeClaim binds to exactly one PersistentVolume, following the
 * Kubernetes static binding rules (pkg/controller/volume/persistentvolume: `volumeName` and the
 * PV's `claimRef` agree, equal `storageClassName` — unset on the claim means the default class —,
 * the PV offers every requested access mode, capacity >= request); every hostPath
 * PersistentVolume lies under the storage root; no two PersistentVolumes share (or nest) a hostPath.
 */
export const storageCheck: Check = {
  id: 'storage',
  title: 'every PVC binds to exactly one PV; hostPath PVs under the storage root, none shared',
  async run(context) {
    const out = new FindingList('storage')
    const pvs = context.objects.filter((o) => isCore(o, 'PersistentVolume') && o.name)
    const pvcs = context.objects.filter((o) => isCore(o, 'PersistentVolumeClaim') && o.name)
    const claimedBy = new Map<KubeObject, KubeObject>()

    for (const pvc of pvcs) {
      const spec = specOf(pvc)
      const namespace = pvc.namespace ?? 'default'
      const volumeName = typeof spec.volumeName === 'string' ? spec.volumeName : undefined
      const here = (keyPath: Array<string | number>) => lineOf(pvc, keyPath)
      const who = `PersistentVolumeClaim ${namespace}/${pvc.name}`
      const byName = volumeName === undefined ? undefined : pvs.find((pv) => pv.name === volumeName)
      if (volumeName !== undefined && !byName) {
        out.error(pvc.file.rel, here(['spec', 'volumeName']), `${who}: volumeName ${volumeName} matches no PersistentVolume`)
        continue
      }

      const byClaimRef = pvs.filter((pv) => {
        const ref = specOf(pv).claimRef
        return isRecord(ref) && ref.name === pvc.name && (ref.namespace ?? 'default') === namespace
      })
      const candidates = [...new Set([...(byName ? [byName] : []), ...byClaimRef])]
      if (candidates.length === 0) {
        out.error(pvc.file.rel, here(['metadata', 'name']), `${who}: binds to no PersistentVolume (set spec.volumeName and the PersistentVolume's claimRef)`)
        continue
      }

      if (candidates.length > 1) {
        out.error(pvc.file.rel, here(['metadata', 'name']), `${who}: binds to ${candidates.length} PersistentVolumes (${candidates.map((pv) => pv.name).join(', ')}); exactly one allowed`)
        continue
      }

      const pv = candidates[0]
      const pvSpec = specOf(pv)
      const ref = pvSpec.claimRef
      if (isRecord(ref) && (ref.name !== pvc.name || (ref.namespace ?? 'default') !== namespace)) {
        out.error(pvc.file.rel, here(['spec', 'volumeName']), `${who}: PersistentVolume ${pv.name} is reserved for claim ${String(ref.namespace ?? 'default')}/${String(ref.name)} (claimRef)`)
        continue
      }

      const previous = claimedBy.get(pv)
      if (previous) {
        out.error(pvc.file.rel, here(['metadata', 'name']), `${who}: PersistentVolume ${pv.name} is already bound to PersistentVolumeClaim ${previous.namespace ?? 'default'}/${previous.name}`)
        continue
      }

      claimedBy.set(pv, pvc)
      const pvcClass = spec.storageClassName
      const pvClass = pvSpec.storageClassName ?? ''
      if (pvcClass !== pvClass)
        out.error(
          pvc.file.rel,
          here(['spec', 'storageClassName']),
          `${who}: storageClassName ${showClass(pvcClass)} differs from PersistentVolume ${pv.name}'s ${showClass(pvClass)}`,
        )

      const wanted = Array.isArray(spec.accessModes) ? spec.accessModes.map(String) : []
      const offered = Array.isArray(pvSpec.accessModes) ? pvSpec.accessModes.map(String) : []
      const missing = wanted.filter((mode) => !offered.includes(mode))
      if (wanted.length === 0) out.error(pvc.file.rel, here(['spec']), `${who}: spec.accessModes is empty`)
      else if (missing.length > 0)
        out.error(pvc.file.rel, here(['spec', 'accessModes']), `${who}: PersistentVolume ${pv.name} does not offer access mode ${missing.join(', ')} (it offers ${offered.join(', ') || 'none'})`)

      const requested = isRecord(spec.resources) && isRecord(spec.resources.requests) ? spec.resources.requests.storage : undefined
      const capacity = isRecord(pvSpec.capacity) ? pvSpec.capacity.storage : undefined
      const requestBytes = parseQuantity(requested)
      const capacityBytes = parseQuantity(capacity)
      if (requestBytes === undefined) out.error(pvc.file.rel, here(['spec', 'resources', 'requests', 'storage']), `${who}: spec.resources.requests.storage must be a quantity like 10Gi`)
      else if (capacityBytes === undefined) out.error(pv.file.rel, lineOf(pv, ['spec', 'capacity', 'storage']), `PersistentVolume ${pv.name}: spec.capacity.storage must be a quantity like 10Gi`)
      else if (capacityBytes < requestBytes)
        out.error(pvc.file.rel, here(['spec', 'resources', 'requests', 'storage']), `${who}: requests ${String(requested)} but PersistentVolume ${pv.name} holds ${String(capacity)}`)
    }

    const root = context.storageRoot
    const seen: Array<{pv: KubeObject; path: string}> = []
    for (const pv of pvs) {
      const hostPath = specOf(pv).hostPath
      if (!isRecord(hostPath)) continue
      const line = lineOf(pv, ['spec', 'hostPath', 'path'])
      if (typeof hostPath.path !== 'string' || !hostPath.path.startsWith('/')) {
        out.error(pv.file.rel, line, `${describeObject(pv)}: hostPath.path must be an absolute path`)
        continue
      }

      const hp = path.posix.normalize(hostPath.path).replace(/(.)\/+$/, '$1')
      if (!isUnder(hp, root) || hp === path.posix.normalize(root).replace(/(.)\/+$/, '$1'))
        out.error(pv.file.rel, line, `${describeObject(pv)}: hostPath ${hostPath.path} is not under the storage root ${root}`)
      const other = seen.find((s) => isUnder(hp, s.path) || isUnder(s.path, hp))
      if (other)
        out.error(
          pv.file.rel,
          line,
          other.path === hp
            ? `${describeObject(pv)}: hostPath ${hp} is also used by PersistentVolume ${other.pv.name}`
            : `${describeObject(pv)}: hostPath ${hp} overlaps PersistentVolume ${other.pv.name}'s ${other.path}`,
        )
      seen.push({path: hp, pv})
      checkNodeAffinity(out, context.homelab?.config.hosts.map((h) => h.name) ?? [], pv)
    }

    return {findings: out.findings}
  },
}

/** The `kubernetes.io/hostname` values a PersistentVolume's required node affinity allows (undefined: none set). */
export function pinnedNodes(pv: KubeObject): string[] | undefined {
  const affinity = specOf(pv).nodeAffinity
  const required = isRecord(affinity) && isRecord(affinity.required) ? affinity.required : undefined
  const terms = required && Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms : undefined
  if (!terms) return undefined
  const nodes: string[] = []
  for (const term of terms) {
    const expressions = isRecord(term) && Array.isArray(term.matchExpressions) ? term.matchExpressions : []
    for (const e of expressions)
      if (isRecord(e) && e.key === 'kubernetes.io/hostname' && e.operator === 'In' && Array.isArray(e.values)) nodes.push(...e.values.map(String))
  }

  return nodes.length > 0 ? nodes : undefined
}

/**
 * With more than one host, a hostPath PersistentVolume without required node affinity on
 * `kubernetes.io/hostname` would follow a rescheduled pod to another node and mount an empty
 * folder there: an error; so is affinity to a node that is not a host.
 */
function checkNodeAffinity(out: FindingList, hosts: string[], pv: KubeObject): void {
  const nodes = pinnedNodes(pv)
  const line = lineOf(pv, ['spec', 'nodeAffinity'])
  if (nodes === undefined) {
    if (hosts.length > 1)
      out.error(pv.file.rel, lineOf(pv, ['spec', 'hostPath']), `${describeObject(pv)}: hostPath volume without node affinity, and homelab.yaml has ${hosts.length} hosts; add spec.nodeAffinity.required.nodeSelectorTerms with kubernetes.io/hostname In [<the host holding it>]`)
    return
  }

  const unknown = nodes.filter((n) => !hosts.includes(n))
  if (hosts.length > 0 && unknown.length > 0) out.error(pv.file.rel, line, `${describeObject(pv)}: pinned to ${unknown.join(', ')}, not a host of homelab.yaml (hosts: ${hosts.join(', ')})`)
}

function specOf(object: KubeObject): Record<string, unknown> {
  return isRecord(object.value.spec) ? object.value.spec : {}
}

function showClass(value: unknown): string {
  return value === undefined ? '(unset: the default class)' : JSON.stringify(value)
}
