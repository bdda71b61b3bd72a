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
}

interface KubeList {
  items?: {kind?: string; metadata?: {name?: string}; spec?: {replicas?: number}; status?: {replicas?: number; readyReplicas?: number}}[]
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
    .map((o) => ({
      current: o.status?.replicas ?? 0,
      ready: o.status?.readyReplicas ?? 0,
      ref: `${o.kind!.toLowerCase()}/${o.metadata!.name}`,
      replicas: o.spec?.replicas ?? 1,
    }))
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
 * Waits until each of `refs` reports no pods (status.replicas 0), polling the namespace's list
 * every `pollMs`.
 * @param timeoutMs give up after this long (default 5 min)
 * @throws HomelabError naming the workloads still running
 */
export async function waitScaledDown(connection: BackupHost, namespace: string, refs: string[], options: {timeoutMs?: number; pollMs?: number} = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000)
  for (;;) {
    const running = (await listWorkloads(connection, namespace)).filter((w) => refs.includes(w.ref) && (w.current > 0 || w.ready > 0))
    if (running.length === 0) return
    if (Date.now() > deadline) throw new HomelabError(`${running.map((w) => `${w.ref} (${w.current} pods)`).join(', ')} did not scale down to 0`)
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
