import type {HostConfig} from '../config/schema.js'
import {runKubectl} from '../flux/kubectl.js'
import type {HostConnection} from '../ssh/index.js'

/**
 * The ordered, health-gated rollout across hosts (issue 14): every host builds in parallel, then
 * the hosts activate in waves, the k3s server first, then the agents at most `maxUnavailable` at
 * a time. After each host's switch a health gate runs before its magic rollback is cancelled; a
 * failing gate switches that host back and stops the rollout (later waves are not started).
 */

/** Options of the ordered rollout (`homelab deploy --max-unavailable`, `--drain`, `--gate-timeout`). */
export interface RolloutOptions {
  /** Agents activated at once (>= 1). */
  maxUnavailable: number
  /** Drain agents (`kubectl drain`) instead of cordoning them, when their activation restarts k3s. */
  drain: boolean
  /** Seconds each gate may wait for k3s active / node Ready / API ready. */
  gateTimeoutSeconds: number
  /** Seconds between two gate polls; default 2. */
  pollSeconds?: number
}

/**
 * The activation waves: each server alone (homelab.yaml order), then the agents in chunks of
 * `maxUnavailable`. Hosts keep their homelab.yaml order inside a role.
 */
export function activationWaves<H extends Pick<HostConfig, 'name' | 'role'>>(hosts: H[], maxUnavailable: number): H[][] {
  const size = Math.max(1, Math.floor(maxUnavailable))
  const servers = hosts.filter((h) => h.role === 'server').map((h) => [h])
  const agents = hosts.filter((h) => h.role !== 'server')
  const waves: H[][] = [...servers]
  for (let i = 0; i < agents.length; i += size) waves.push(agents.slice(i, i + size))
  return waves
}

/** One Node's Ready condition as `kubectl get node NAME -o json` reports it. */
export function nodeReady(node: unknown): {ready: boolean; reason: string} {
  const conditions = ((node as {status?: {conditions?: {type?: string; status?: string; reason?: string; message?: string}[]}})?.status?.conditions ?? [])
  const ready = conditions.find((c) => c.type === 'Ready')
  if (!ready) return {ready: false, reason: 'no Ready condition yet'}
  return {ready: ready.status === 'True', reason: ready.status === 'True' ? 'Ready' : `Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}${ready.message ? `: ${ready.message}` : ''}`}
}

/** A node's Lease (`kubectl get lease NODE -n kube-node-lease -o json`): when its kubelet last renewed it, ms since the epoch (NaN when absent). */
export function leaseRenewedMs(lease: unknown): number {
  return Date.parse(String((lease as {spec?: {renewTime?: string}})?.spec?.renewTime ?? ''))
}

/** A kubelet renews its node's Lease every 10 s; a renewal within this many seconds proves it runs. */
export const LEASE_FRESH_SECONDS = 15

/**
 * The health gate of one host, on its confirmation connection: k3s.service active on the host and
 * not restarted since the previous poll, (server) the API's `/readyz` answers `ok`, the host's
 * node reports Ready to the server, and the node's kubelet renewed its Lease (kube-node-lease/<node>)
 * after k3s.service last started and within the last {@link LEASE_FRESH_SECONDS} s.
 *
 * Why the Lease: right after a switch, neither of the first two proves the new k3s works. An
 * agent's k3s.service is `Type = if cfg.role == "agent" then "exec" else "notify"` in nixpkgs
 * (nixos/modules/services/cluster/k3s/default.nix: active the moment the process starts), and a
 * node's Ready condition stays True for the node-monitor grace period (40 s, 50 s from
 * Kubernetes 1.32) after its kubelet stops. The kubelet renews its Lease every 10 s
 * (kubernetes.io/docs/concepts/architecture/nodes/#node-heartbeats: "updates its Lease object
 * every 10 seconds (the default update interval)"). All times are the host's own clock (the
 * kubelet runs there; `systemctl show --timestamp=unix` and `date +%s` are read there), so no
 * clock skew between machines enters. A k3s crash-looping under `Restart=always` changes
 * NRestarts between polls and keeps the gate unhealthy: the gate passes only on a poll that finds
 * NRestarts as the previous poll did (so on the second poll at the earliest).
 * Polls every `pollSeconds` until all hold or `gateTimeoutSeconds` pass.
 * @param server the server's connection (`hostConn` itself for the server host)
 * @returns a one-line detail (`k3s active, API ready, node NAME Ready, Lease renewed after N s`)
 * @throws Error naming what was still wrong when the time ran out
 */
export async function healthGate(options: {host: Pick<HostConfig, 'name' | 'role'>; hostConn: HostConnection; server: () => Promise<HostConnection>; rollout: RolloutOptions}): Promise<string> {
  const {host, hostConn, rollout} = options
  const started = performance.now()
  const deadline = started + rollout.gateTimeoutSeconds * 1000
  let last = 'not checked yet'
  const restarts: {previous?: number} = {}
  for (;;) {
    // A call that fails or times out (the connection hiccups while k3s restarts) is one more
    // unhealthy poll, not the end of the gate.
    last = await gateProblem(host, hostConn, options.server, restarts).catch((error: Error) => `the check did not answer (${error.message})`)
    if (last === '') return `k3s active${host.role === 'server' ? ', API ready' : ''}, node ${host.name} Ready, Lease renewed after ${Math.round((performance.now() - started) / 1000)} s`
    if (performance.now() >= deadline) throw new Error(`${last} after ${rollout.gateTimeoutSeconds} s`)
    await new Promise((resolve) => setTimeout(resolve, (rollout.pollSeconds ?? 2) * 1000))
  }
}

/** k3s.service as `systemctl show --timestamp=unix` reports it, and the host's clock (seconds). */
interface K3sUnitState {
  active: string
  /** When the running k3s process started, seconds (undefined before the first start). */
  startedAt?: number
  nRestarts?: number
  now: number
}

/** Reads k3s.service's state and the host's clock in one call. @throws Error when the answer is not understood */
export async function k3sUnitState(hostConn: HostConnection): Promise<K3sUnitState> {
  const r = await hostConn.exec('systemctl show k3s.service -p ActiveState -p NRestarts -p ExecMainStartTimestamp --timestamp=unix; date +%s', {timeoutMs: 30_000})
  const lines = r.stdout.trim().split('\n')
  const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1).trim() ?? ''
  const now = Number(lines.at(-1))
  if (!Number.isFinite(now) || now <= 0) throw new Error(`systemctl show k3s.service; date +%s answered "${r.stdout.trim().split('\n').join(' ')}"`)
  const started = Number(value('ExecMainStartTimestamp').replace(/^@/, ''))
  const nRestarts = value('NRestarts')
  return {active: value('ActiveState'), now, nRestarts: nRestarts === '' ? undefined : Number(nRestarts), startedAt: started > 0 ? started : undefined}
}

/** What is wrong with the host now ('' when healthy); `restarts.previous`: NRestarts at the previous poll (updated). */
async function gateProblem(host: Pick<HostConfig, 'name' | 'role'>, hostConn: HostConnection, server: () => Promise<HostConnection>, restarts: {previous?: number}): Promise<string> {
  const unit = await k3sUnitState(hostConn)
  if (unit.active !== 'active') return `k3s.service is ${unit.active || 'not active'} on ${host.name}`
  const {previous} = restarts
  restarts.previous = unit.nRestarts
  if (previous !== undefined && unit.nRestarts !== undefined && unit.nRestarts !== previous) return `k3s.service restarted during the gate on ${host.name} (NRestarts ${previous} → ${unit.nRestarts})`
  const serverConn = host.role === 'server' ? hostConn : await server()
  if (host.role === 'server') {
    try {
      const readyz = await runKubectl(serverConn, ['get', '--raw=/readyz'], {timeoutMs: 30_000})
      if (readyz.trim() !== 'ok') return `the k3s API /readyz answers "${readyz.trim().split('\n')[0]}"`
    } catch (error) {
      return `the k3s API does not answer (${(error as Error).message})`
    }
  }

  try {
    const node = JSON.parse(await runKubectl(serverConn, ['get', 'node', host.name, '-o', 'json'], {timeoutMs: 30_000}))
    const {ready, reason} = nodeReady(node)
    if (!ready) return `node ${host.name} is not Ready (${reason})`
  } catch (error) {
    return `node ${host.name} is not known to the server (${(error as Error).message})`
  }

  const lease = JSON.parse(await runKubectl(serverConn, ['get', 'lease', host.name, '-n', 'kube-node-lease', '-o', 'json'], {timeoutMs: 30_000}))
  const renewed = leaseRenewedMs(lease)
  const sinceStart = unit.startedAt !== undefined && unit.startedAt > unit.now - LEASE_FRESH_SECONDS
  const anchor = sinceStart ? unit.startedAt! : unit.now - LEASE_FRESH_SECONDS
  if (Number.isNaN(renewed)) return `node ${host.name}'s Lease has no renewTime yet`
  if (renewed < anchor * 1000)
    return `node ${host.name}'s kubelet has not renewed its Lease ${sinceStart ? 'since k3s.service started' : `in the last ${LEASE_FRESH_SECONDS} s`} (last renewal ${Math.round(unit.now - renewed / 1000)} s ago)`
  // Healthy once is not enough: the next poll must find the same NRestarts (no crash in between).
  if (previous === undefined && unit.nRestarts !== undefined) return `${host.name} looked healthy once; polling again to see k3s.service stay up`
  return ''
}

/**
 * Cordons (or drains) a node on the server before its switch restarts k3s.
 * @throws KubectlError when kubectl fails (the host is then not activated)
 */
export async function cordonNode(server: HostConnection, node: string, drain: boolean): Promise<void> {
  if (drain) await runKubectl(server, ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=300s'], {timeoutMs: 330_000})
  else await runKubectl(server, ['cordon', node], {timeoutMs: 30_000})
}

/** Makes a node schedulable again after its gate passed. @throws KubectlError */
export async function uncordonNode(server: HostConnection, node: string): Promise<void> {
  await runKubectl(server, ['uncordon', node], {timeoutMs: 30_000})
}
