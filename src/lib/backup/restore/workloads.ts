import {HomelabError} from '../../errors.js'
import {type BackupHost, shellQuote} from '../host.js'
import {lastLine} from './step-error.js'

/** A Deployment or StatefulSet of the app's namespace, as kubectl names it (`deployment/NAME`). */
export interface Workload {
  /** `deployment/NAME` or `statefulset/NAME`. */
  ref: string
  /** spec.replicas (Kubernetes' default 1 when unset). */
  replicas: number
  /** status.replicas: pods that exist, 0 when unset. */
  current: number
  /** status.readyReplicas, 0 when unset. */
  ready: number
  /**
   * Its pods as a kubectl label selector (`-l`), from spec.selector: matchLabels as `k=v`,
   * matchExpressions as `k in (a,b)`, `k notin (a)`, `k`, `!k`, joined by commas; null when the
   * object has none (apps/v1 requires one, so only hand-made objects).
   */
  selector: string | null
  /** The Flux Kustomization that applied it (labels `kustomize.toolkit.fluxcd.io/name` and `/namespace`); undefined when none did. */
  kustomization?: KustomizationRef
}

/** A Flux Kustomization, by namespace and name. */
export interface KustomizationRef {
  namespace: string
  name: string
}

interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: {key: string; operator: string; values?: string[]}[]
}

interface KubeList {
  items?: {
    kind?: string
    metadata?: {name?: string; labels?: Record<string, string>}
    spec?: {replicas?: number; selector?: LabelSelector}
    status?: {replicas?: number; readyReplicas?: number}
  }[]
}

/** A LabelSelector (metav1) as kubectl's `-l` syntax; null when it selects nothing expressible (absent or empty). */
export function selectorText(selector: LabelSelector | undefined): string | null {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',')
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`)
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`)
    else if (e.operator === 'Exists') parts.push(e.key)
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`)
  }

  return parts.length === 0 ? null : parts.join(',')
}

/**
 * The Deployments and StatefulSets of `namespace`: `k3s kubectl get deployments,statefulsets -n NS
 * -o json` as root on the host (k3s' kubeconfig is root's).
 * @throws HomelabError with kubectl's last line when the call fails or prints no List
 */
export async function listWorkloads(connection: BackupHost, namespace: string): Promise<Workload[]> {
  const r = await connection.sudo(`k3s kubectl get deployments,statefulsets -n ${shellQuote(namespace)} -o json`)
  if (r.exitCode !== 0) throw new HomelabError(`k3s kubectl get deployments,statefulsets -n ${namespace}: ${lastLine(r)}`)
  let list: KubeList
  try {
    list = JSON.parse(r.stdout) as KubeList
  } catch {
    throw new HomelabError(`k3s kubectl get deployments,statefulsets -n ${namespace} -o json printed no JSON`)
  }

  return (list.items ?? [])
    .filter((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata?.name)
    .map((o) => {
      const ksName = o.metadata?.labels?.['kustomize.toolkit.fluxcd.io/name']
      const ksNamespace = o.metadata?.labels?.['kustomize.toolkit.fluxcd.io/namespace']
      return {
        current: o.status?.replicas ?? 0,
        ready: o.status?.readyReplicas ?? 0,
        ref: `${o.kind!.toLowerCase()}/${o.metadata!.name}`,
        replicas: o.spec?.replicas ?? 1,
        selector: selectorText(o.spec?.selector),
        ...(ksName && ksNamespace ? {kustomization: {name: ksName, namespace: ksNamespace}} : {}),
      }
    })
}

interface PodList {
  items?: {metadata?: {name?: string; deletionTimestamp?: string}; status?: {phase?: string}}[]
}

/**
 * The pods of `namespace` matching `selector` that still have (or may have) running containers:
 * `k3s kubectl get pods -n NS -l SELECTOR -o json`, terminating ones (metadata.deletionTimestamp
 * set) included; pods whose phase is Succeeded or Failed (e.g. evicted) are left out, their
 * containers have exited.
 * @returns the pod names, terminating ones marked ` (terminating)`
 * @throws HomelabError with kubectl's last line when the call fails or prints no JSON
 */
export async function listLivePods(connection: BackupHost, namespace: string, selector: string): Promise<string[]> {
  const command = `k3s kubectl get pods -n ${shellQuote(namespace)} -l ${shellQuote(selector)} -o json`
  const r = await connection.sudo(command)
  if (r.exitCode !== 0) throw new HomelabError(`k3s kubectl get pods -n ${namespace} -l ${selector}: ${lastLine(r)}`)
  let list: PodList
  try {
    list = JSON.parse(r.stdout) as PodList
  } catch {
    throw new HomelabError(`k3s kubectl get pods -n ${namespace} -l ${selector} -o json printed no JSON`)
  }

  return (list.items ?? [])
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .map((p) => `${p.metadata?.name ?? '?'}${p.metadata?.deletionTimestamp ? ' (terminating)' : ''}`)
}

/**
 * `k3s kubectl scale WORKLOAD -n NS --replicas=N`.
 * @throws HomelabError with kubectl's last line
 */
export async function scaleWorkload(connection: BackupHost, namespace: string, ref: string, replicas: number): Promise<void> {
  const r = await connection.sudo(`k3s kubectl scale ${shellQuote(ref)} -n ${shellQuote(namespace)} --replicas=${replicas}`)
  if (r.exitCode !== 0) throw new HomelabError(`scaling ${ref} to ${replicas}: ${lastLine(r)}`)
}

/**
 * Waits until each of `refs` has no pod left: first its status (status.replicas and readyReplicas
 * 0), then its pods by its selector ({@link listLivePods}), since status.replicas drops to 0
 * while the pods are still terminating (their containers may still write to the app folder).
 * A workload without a selector is judged by its status alone. Polls every `pollMs`.
 * @param timeoutMs give up after this long (default 5 min)
 * @throws HomelabError naming the workloads (or pods) still there
 */
export async function waitScaledDown(connection: BackupHost, namespace: string, refs: string[], options: {timeoutMs?: number; pollMs?: number} = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000)
  for (;;) {
    const workloads = (await listWorkloads(connection, namespace)).filter((w) => refs.includes(w.ref))
    const left = workloads.filter((w) => w.current > 0 || w.ready > 0).map((w) => `${w.ref} (${w.current} pods)`)
    if (left.length === 0) {
      for (const w of workloads) {
        if (w.selector === null) continue
        const pods = await listLivePods(connection, namespace, w.selector)
        if (pods.length > 0) left.push(`${w.ref} (pods ${pods.join(', ')})`)
      }
    }

    if (left.length === 0) return
    if (Date.now() > deadline) throw new HomelabError(`${left.join(', ')} did not scale down to 0`)
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000))
  }
}

/**
 * `k3s kubectl rollout status WORKLOAD -n NS --timeout=Ns`: waits until the workload is Ready.
 * @param timeoutSeconds kubectl's --timeout (default 300)
 * @throws HomelabError with kubectl's last line ("timed out waiting for the condition")
 */
export async function waitReady(connection: BackupHost, namespace: string, ref: string, timeoutSeconds = 300): Promise<void> {
  const r = await connection.sudo(`k3s kubectl rollout status ${shellQuote(ref)} -n ${shellQuote(namespace)} --timeout=${timeoutSeconds}s`)
  if (r.exitCode !== 0) throw new HomelabError(`${ref} is not Ready: ${lastLine(r)}`)
}

/**
 * Whether the Flux Kustomization `ks` is suspended (spec.suspend): `k3s kubectl get kustomization
 * NAME -n NS -o json`.
 * @returns null when it does not exist (NotFound: nothing to suspend)
 * @throws HomelabError with kubectl's last line for any other failure
 */
export async function kustomizationSuspended(connection: BackupHost, ks: KustomizationRef): Promise<boolean | null> {
  const r = await connection.sudo(`k3s kubectl get kustomization ${shellQuote(ks.name)} -n ${shellQuote(ks.namespace)} -o json`)
  if (r.exitCode !== 0) {
    if (/\(NotFound\)/.test(r.stderr)) return null
    throw new HomelabError(`reading Kustomization ${ks.namespace}/${ks.name}: ${lastLine(r)}`)
  }

  try {
    return (JSON.parse(r.stdout) as {spec?: {suspend?: boolean}}).spec?.suspend === true
  } catch {
    throw new HomelabError(`k3s kubectl get kustomization ${ks.name} -n ${ks.namespace} -o json printed no JSON`)
  }
}

/**
 * Suspends (`true`) or resumes (`false`) a Flux Kustomization, as `flux suspend|resume` does:
 * `k3s kubectl patch kustomization NAME -n NS --type merge -p '{"spec":{"suspend":BOOL}}'`.
 * While suspended, kustomize-controller does not reconcile it, so it does not put back the
 * replicas of git over a `kubectl scale`.
 * @throws HomelabError with kubectl's last line
 */
export async function setKustomizationSuspended(connection: BackupHost, ks: KustomizationRef, suspend: boolean): Promise<void> {
  const patch = JSON.stringify({spec: {suspend}})
  const r = await connection.sudo(`k3s kubectl patch kustomization ${shellQuote(ks.name)} -n ${shellQuote(ks.namespace)} --type merge -p ${shellQuote(patch)}`)
  if (r.exitCode !== 0) throw new HomelabError(`${suspend ? 'suspending' : 'resuming'} Kustomization ${ks.namespace}/${ks.name}: ${lastLine(r)}`)
}
