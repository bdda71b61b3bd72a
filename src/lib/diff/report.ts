import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {serverHost} from '../config/hosts.js'
import {HomelabError} from '../errors.js'
import type {HostConnection} from '../ssh/index.js'
import {run} from './exec.js'
import type {HostDiff} from './host.js'
import {hostChanged, skippedHost} from './host-result.js'
import {diffCluster, type DiffReport, type Identities} from './index.js'
import {resolveCommit} from './revision.js'

export {defaultBuildCacheDir} from './build-cache.js'

/** The root Flux Kustomization (flux bootstrap's `flux-system/flux-system`): its lastAppliedRevision is what the cluster runs. */
export const ROOT_KUSTOMIZATION = {name: 'flux-system', namespace: 'flux-system'}

/**
 * `homelab diff --json` (schemas/diff.schema.json): the cluster report of {@link diffCluster}
 * plus `hosts[]`, one {@link HostDiff} per selected host; `changed` counts host changes too;
 * `ok` is false when the cluster side has an error or a host part failed; `fromSource` says where
 * the cluster side's old revision came from.
 */
export interface FullDiffReport extends DiffReport {
  schemaVersion: 1
  hosts: HostDiff[]
  /** True when the cluster side alone differs (`changed` also counts the hosts). */
  clusterChanged: boolean
  /** `flag` (--from), `flux` (the root Kustomization's lastAppliedRevision), `remote` (`<remote>/<branch>`, offline), `head` (no remote-tracking branch). */
  fromSource: 'flag' | 'flux' | 'remote' | 'head'
}

/** What {@link diffAll} needs. */
export interface DiffAllOptions {
  homelab: Homelab
  /** Hosts whose part is built (selectHosts). */
  hosts: HostConfig[]
  /** --from; undefined = what Flux last applied (online) or the remote branch head (offline). */
  from?: string
  /** --to; undefined = the working tree (cluster side) and HEAD (host side: only commits can be built on a host). */
  to?: string
  offline: boolean
  /** The operator's age identities, or a loader of them (see DiffClusterOptions.identities). */
  identities: Identities
  path: string | undefined
  /** Opens a connection to a host (the command's openHostConnection); throws HostUnreachableError (exit 2). */
  open(host: HostConfig): Promise<HostConnection>
  onLine?(host: string, line: string): void
  /** The persistent kustomize build cache folder (DiffClusterOptions.buildCache); undefined: none. */
  buildCache?: string
}

/**
 * Reads the root Kustomization's `status.lastAppliedRevision` (`main@sha1:<sha>`) over
 * `connection` with `k3s kubectl get`. Returns the commit, or undefined when Flux has applied
 * nothing yet (empty status).
 * @throws KubectlError when kubectl fails on the host
 */
export async function readFluxApplied(connection: HostConnection): Promise<string | undefined> {
  const [{runKubectl}, {parseRevision}] = await Promise.all([import('../flux/kubectl.js'), import('../flux/revision.js')])
  const out = await runKubectl(connection, ['get', 'kustomization', ROOT_KUSTOMIZATION.name, '-n', ROOT_KUSTOMIZATION.namespace, '-o', 'jsonpath={.status.lastAppliedRevision}'])
  const raw = out.trim()
  return raw ? parseRevision(raw).commit : undefined
}

/** `<remote>/<branch>` when the repository has that remote-tracking branch, else undefined. */
async function remoteTracking(root: string, remote: string, branch: string): Promise<string | undefined> {
  const ref = `${remote}/${branch}`
  const r = await run('git', ['rev-parse', '--verify', '--quiet', `refs/remotes/${ref}^{commit}`], {cwd: root})
  return r.exitCode === 0 && r.stdout.trim() ? ref : undefined
}

/**
 * The whole `homelab diff`: the cluster side (offline, {@link diffCluster}) and one host part
 * per host ({@link diffHost}), in parallel. The host side builds the commit `--to` names, else
 * HEAD (what deploy pushes); it must be on the remote branch already (else that host part is
 * skipped with one line). Old side of the cluster: `--from`; else, online, the root
 * Kustomization's lastAppliedRevision read on the k3s server host (a failure to read it is a
 * warning and falls back like offline); offline, `<remote>/<branch>`, else HEAD.
 * With `offline` nothing connects and every host part is `skipped`. Connections are closed.
 * @throws UsageError for an unknown revision; HomelabError when Flux's commit is not in the local repository; AgeIdentityError for an unreadable or malformed key file
 */
export async function diffAll(options: DiffAllOptions): Promise<FullDiffReport> {
  const {homelab} = options
  const {remote, branch} = homelab.config.git
  // Unknown revisions are usage errors before anything connects.
  const [toResolved, fromResolved] = await Promise.allSettled([
    resolveCommit(homelab.root, options.to ?? 'HEAD', '--to'),
    options.from === undefined ? undefined : resolveCommit(homelab.root, options.from, '--from'),
  ])
  if (toResolved.status === 'rejected') throw toResolved.reason
  if (fromResolved.status === 'rejected') throw fromResolved.reason
  // A bad key file is reported before anything connects (offline, it loads while the builds run).
  const identities = !options.offline && typeof options.identities === 'function' ? await options.identities() : options.identities
  const hostCommit = toResolved.value
  const connections = new Map<string, HostConnection>()
  const failed = new Map<string, HostDiff>()
  const warnings: string[] = []
  try {
    let from = options.from
    let fromSource: FullDiffReport['fromSource'] = 'flag'
    if (!options.offline) {
      await Promise.all(
        options.hosts.map(async (host) => {
          try {
            connections.set(host.name, await options.open(host))
          } catch (error) {
            const e = error as HomelabError
            failed.set(host.name, skippedHost(host.name, e.message, e.exitCode === 2 ? 2 : 1))
          }
        }),
      )
      if (from === undefined) {
        const server = serverHost(homelab)
        try {
          let conn = connections.get(server.name)
          if (!conn && !failed.has(server.name)) {
            conn = await options.open(server)
            connections.set(server.name, conn)
          }

          if (!conn) throw new Error(failed.get(server.name)?.message ?? 'not reachable')
          const applied = await readFluxApplied(conn)
          if (applied) {
            const known = await run('git', ['cat-file', '-e', `${applied}^{commit}`], {cwd: homelab.root})
            if (known.exitCode !== 0)
              throw new HomelabError(`Flux last applied ${applied.slice(0, 7)}, which this repository does not have`, {suggestions: [`git fetch ${remote}, or give --from`]})
            from = applied
            fromSource = 'flux'
          } else warnings.push(`Kustomization ${ROOT_KUSTOMIZATION.namespace}/${ROOT_KUSTOMIZATION.name} has applied nothing yet`)
        } catch (error) {
          if (error instanceof HomelabError && /does not have/.test(error.message)) throw error
          warnings.push(`cannot read what Flux last applied on ${server.name} (${(error as Error).message}); comparing against ${remote}/${branch} instead`)
        }
      }
    }

    if (from === undefined) {
      const tracking = await remoteTracking(homelab.root, remote, branch)
      from = tracking ?? 'HEAD'
      fromSource = tracking ? 'remote' : 'head'
    }

    const hostParts = Promise.all(
      options.hosts.map(async (host) => {
        if (options.offline) return skippedHost(host.name, '--offline: not connected')
        const conn = connections.get(host.name)
        if (!conn) return failed.get(host.name)!
        const {diffHost} = await import('./host.js')
        return diffHost({branch, commit: hostCommit, connection: conn, host, onLine: (l) => options.onLine?.(host.name, l), remote, root: homelab.root})
      }),
    )
    const [cluster, hosts] = await Promise.all([
      diffCluster({
        buildCache: options.buildCache,
        clusterPath: homelab.config.cluster.path,
        // The commits resolved above, when the cluster side reads the same revisions (saves git runs).
        commits: {from: from === options.from ? fromResolved.value : undefined, to: options.to === undefined ? undefined : hostCommit},
        from,
        identities,
        path: options.path,
        root: homelab.root,
        to: options.to,
      }),
      hostParts,
    ])
    const hostsFailed = hosts.some((h) => h.status === 'failed')
    // A commit id as the old side reads better as where it came from.
    if (fromSource === 'flux' && cluster.from.commit) cluster.from.label = `Flux last applied (${cluster.from.commit.slice(0, 7)})`
    return {
      ...cluster,
      changed: cluster.changed || hosts.some((h) => hostChanged(h)),
      clusterChanged: cluster.changed,
      fromSource,
      hosts,
      ok: cluster.ok && !hostsFailed,
      schemaVersion: 1,
      warnings: [...warnings, ...cluster.warnings],
    }
  } finally {
    await Promise.all([...connections.values()].map((c) => c.close().catch(() => {})))
  }
}
