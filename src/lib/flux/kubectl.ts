import {HomelabError} from '../errors.js'
import {parseFluxState} from './parse.js'
import {FLUX_RESOURCES, type FluxKind, type FluxState} from './types.js'

/** Result of one command on the host (the SSH transport's `HostConnection.exec`). */
export interface RemoteResult {
  exitCode: number | null
  stdout: string
  stderr: string
}

/** Options of one remote command (a subset of the SSH transport's exec options). */
export interface RemoteExecOptions {
  stdin?: string
  timeoutMs?: number
}

/**
 * What the Flux and status readers need from a connection: the SSH transport's
 * `HostConnection` (src/lib/ssh) satisfies it. Several `exec` calls may run at once; each is a
 * channel of the same SSH connection.
 */
export interface RemoteRunner {
  exec(command: string, options?: RemoteExecOptions): Promise<RemoteResult>
  /** Runs `command` as root through sudo (the password, if any, goes on stdin only). */
  sudo(command: string, options?: RemoteExecOptions): Promise<RemoteResult>
}

/** k3s's kubeconfig on the host (root-only by default). */
export const K3S_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'
/** Exit status of the kubectl wrapper when the kubeconfig is not readable by the SSH user. */
const NEEDS_SUDO = 97

/** A kubectl call on the host failed (not JSON, API unreachable, forbidden). Exit 1. */
export class KubectlError extends HomelabError {}

/** Quotes one argument for a POSIX shell (single quotes). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", String.raw`'\''`)}'`
}

const sudoNeeded = new WeakMap<object, boolean>()

/**
 * Runs `k3s kubectl ARGS` on the host with `KUBECONFIG=/etc/rancher/k3s/k3s.yaml`: directly when
 * the SSH user can read the kubeconfig, else through `connection.sudo` (decided once per
 * connection, by a readability test in the same command, so no extra round trip).
 *
 * @returns kubectl's stdout
 * @throws KubectlError naming the command and kubectl's first error line when it exits non-zero
 */
export async function runKubectl(connection: RemoteRunner, args: string[], options: {timeoutMs?: number} = {}): Promise<string> {
  const argv = args.map((a) => shellQuote(a)).join(' ')
  const direct = `if [ -r ${K3S_KUBECONFIG} ]; then KUBECONFIG=${K3S_KUBECONFIG} exec k3s kubectl ${argv}; else exit ${NEEDS_SUDO}; fi`
  const viaSudo = `env KUBECONFIG=${K3S_KUBECONFIG} k3s kubectl ${argv}`
  let result: RemoteResult
  if (sudoNeeded.get(connection) === true) {
    result = await connection.sudo(viaSudo, {timeoutMs: options.timeoutMs})
  } else {
    result = await connection.exec(direct, {timeoutMs: options.timeoutMs})
    if (result.exitCode === NEEDS_SUDO) {
      sudoNeeded.set(connection, true)
      result = await connection.sudo(viaSudo, {timeoutMs: options.timeoutMs})
    } else sudoNeeded.set(connection, false)
  }

  if (result.exitCode !== 0) {
    const line = result.stderr.trim().split('\n').find((l) => l.trim() !== '') ?? `exit status ${result.exitCode}`
    const what = args.slice(0, 2).map((a, i) => (i === 1 ? a.split(',').map((r) => r.split('.')[0]).join(',') : a)).join(' ')
    throw new KubectlError(`k3s kubectl ${what} on the host failed: ${line}`, {
      suggestions: ['check that k3s is running on the host (`systemctl status k3s`) and Flux is installed (`flux check`)'],
    })
  }

  return result.stdout
}

/**
 * Reads every GitRepository, Kustomization and HelmRelease in all namespaces (and the Nodes when
 * `nodes` is true) with ONE `k3s kubectl get <kinds> -A -o json` call.
 *
 * @throws KubectlError when kubectl fails; HomelabError when its output is not JSON
 */
export async function getFluxState(options: {connection: RemoteRunner; nodes?: boolean; kinds?: FluxKind[]; timeoutMs?: number}): Promise<FluxState> {
  const kinds = options.kinds ?? (['GitRepository', 'Kustomization', 'HelmRelease'] as FluxKind[])
  const resources = [...(options.nodes ? ['nodes'] : []), ...kinds.map((k) => FLUX_RESOURCES[k])].join(',')
  const stdout = await runKubectl(options.connection, ['get', resources, '-A', '-o', 'json'], {timeoutMs: options.timeoutMs})
  return parseFluxState(stdout)
}
