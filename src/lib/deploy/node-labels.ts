import type {HostConfig} from '../config/schema.js'
import {runKubectl} from '../flux/kubectl.js'
import type {HostConnection} from '../ssh/index.js'

/**
 * Node labels of homelab.yaml kept true on the cluster. k3s applies `--node-label` only when a node
 * registers (docs.k3s.io/cli/agent "Node": "only added at registration time ... cannot be changed
 * after that by running K3s commands"), so an edit of a host's `labels:` after its first start
 * would never reach its Node. After a deploy the labels are set on the server with
 * `kubectl label --overwrite`, and the keys homelab set are recorded on the Node in the annotation
 * below, so a label later removed from homelab.yaml is removed from the Node too (and a label
 * someone else set is never touched).
 */
export const MANAGED_LABELS_ANNOTATION = 'homelab.dev/managed-labels'

/** What a Node's labels need: `set` (key → value) and `remove` (keys); `managed` is the annotation's new value (sorted keys). */
export interface NodeLabelChanges {
  set: Record<string, string>
  remove: string[]
  managed: string[]
  /** True when the annotation itself needs writing (its keys differ from `managed`). */
  annotate: boolean
}

/**
 * Compares a Node (`kubectl get node NAME -o json`) with the labels homelab.yaml gives its host.
 * A key is removed only when the annotation says homelab set it.
 */
export function nodeLabelChanges(node: unknown, wanted: Record<string, string>): NodeLabelChanges {
  const metadata = (node as {metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}})?.metadata ?? {}
  const labels = metadata.labels ?? {}
  const before = (metadata.annotations?.[MANAGED_LABELS_ANNOTATION] ?? '').split(',').filter(Boolean).sort()
  const set = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => labels[k] !== v))
  const remove = before.filter((k) => !(k in wanted) && k in labels)
  const managed = Object.keys(wanted).sort()
  return {annotate: managed.join(',') !== before.join(','), managed, remove, set}
}

/**
 * Makes the host's Node carry exactly the labels homelab.yaml gives it (of the keys homelab
 * manages), over the server's connection with `k3s kubectl label|annotate node`.
 * @returns the one-line summary (`set a=b, c=d; removed e`), or undefined when nothing changed
 * @throws KubectlError when the Node cannot be read or a change is refused
 */
export async function reconcileNodeLabels(server: HostConnection, host: Pick<HostConfig, 'labels' | 'name'>): Promise<string | undefined> {
  const node = JSON.parse(await runKubectl(server, ['get', 'node', host.name, '-o', 'json'], {timeoutMs: 30_000}))
  const changes = nodeLabelChanges(node, host.labels ?? {})
  const pairs = [...Object.entries(changes.set).map(([k, v]) => `${k}=${v}`), ...changes.remove.map((k) => `${k}-`)]
  if (pairs.length > 0) await runKubectl(server, ['label', 'node', host.name, '--overwrite', ...pairs], {timeoutMs: 30_000})
  if (changes.annotate)
    await runKubectl(server, ['annotate', 'node', host.name, '--overwrite', changes.managed.length > 0 ? `${MANAGED_LABELS_ANNOTATION}=${changes.managed.join(',')}` : `${MANAGED_LABELS_ANNOTATION}-`], {timeoutMs: 30_000})
  if (pairs.length === 0) return undefined
  const parts = [Object.keys(changes.set).length > 0 ? `set ${Object.entries(changes.set).map(([k, v]) => `${k}=${v}`).join(', ')}` : '', changes.remove.length > 0 ? `removed ${changes.remove.join(', ')}` : ''].filter(Boolean)
  return parts.join('; ')
}
