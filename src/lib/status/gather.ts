import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {appliedRevision, assessHealth, sortFailuresFirst} from '../flux/health.js'
import {getFluxState, type RemoteRunner} from '../flux/kubectl.js'
import {shortCommit} from '../flux/revision.js'
import type {FluxState, GitRepositoryObject, HelmReleaseObject, KustomizationObject} from '../flux/types.js'
import {type HostFacts, readHostFacts} from './host-facts.js'
import {type LocalGit, readLocalGit} from './local-git.js'
import type {BackupLine, DriftEntry, ObjectStatus, SourceStatus, StatusReport} from './types.js'

/** Disk use at or above this percentage of the storage root degrades the verdict. */
export const DISK_FULL_PERCENT = 90

/** Reads the backup lines at `now` (over the same connection); injected so status works without the backup reader. */
export type BackupReader = (now: Date) => Promise<BackupLine[]>

const normalizePath = (p: string) => p.replace(/^\.\//, '').replace(/\/+$/, '')

/** The Kustomization that applies `cluster.path` (Flux's root), else one named flux-system, else the first. */
export function rootKustomization(state: FluxState, clusterPath: string): KustomizationObject | undefined {
  return (
    state.kustomizations.find((k) => normalizePath(k.path) === normalizePath(clusterPath)) ??
    state.kustomizations.find((k) => k.name === 'flux-system') ??
    state.kustomizations[0]
  )
}

/** The GitRepository the root Kustomization takes its source from, else flux-system, else the first. */
export function rootSource(state: FluxState, root: KustomizationObject | undefined): GitRepositoryObject | undefined {
  return (
    (root && state.gitRepositories.find((g) => g.name === root.sourceRef.name && g.namespace === root.sourceRef.namespace)) ??
    state.gitRepositories.find((g) => g.name === 'flux-system') ??
    state.gitRepositories[0]
  )
}

/**
 * Gathers everything `homelab status` shows, in parallel: ONE `k3s kubectl get` of Nodes and
 * Flux objects, the host facts (two more channels of the same SSH connection), the backup lines
 * (when a reader is given), and the local Git facts (fetch of `<remote>/<branch>`) on this side.
 * Never throws for one fact: what cannot be read is null and listed in `errors` (and degrades
 * the verdict).
 *
 * @param options.now the time of the check (tests pass a fixed one)
 */
export async function gatherStatus(options: {
  connection: RemoteRunner
  homelab: Homelab
  host: HostConfig
  now?: Date
  fetch?: boolean
  /** The caller's environment, for the local git fetch (GIT_SSH_COMMAND). */
  env?: Record<string, string | undefined>
  readBackups?: BackupReader
  timeoutMs?: number
}): Promise<StatusReport> {
  const {connection, homelab, host} = options
  const now = options.now ?? new Date()
  const errors: StatusReport['errors'] = []
  const [flux, facts, git, backups] = await Promise.all([
    getFluxState({connection, nodes: true, timeoutMs: options.timeoutMs}).catch((error: Error) => {
      errors.push({fact: 'flux', message: error.message})
      return null
    }),
    readHostFacts({connection, flakeDir: host.flakeDir, flakeInput: host.flakeInput, storageRoot: homelab.config.storage.root, timeoutMs: options.timeoutMs}),
    readLocalGit({branch: homelab.config.git.branch, cwd: homelab.root, env: options.env, fetch: options.fetch, remote: homelab.config.git.remote}),
    options.readBackups
      ? options.readBackups(now).catch((error: Error) => {
          errors.push({fact: 'backups', message: error.message})
          return null
        })
      : Promise.resolve(null),
  ])
  errors.push(...facts.errors)
  if (git.fetchError) errors.push({fact: 'git-fetch', message: `git fetch ${homelab.config.git.remote} ${homelab.config.git.branch}: ${git.fetchError} (using the last fetched head)`})
  return buildReport({backups, errors, facts, flux, git, homelab, host, now})
}

/** Builds the report from gathered facts (pure apart from the local Git queries). */
export async function buildReport(input: {
  flux: FluxState | null
  facts: HostFacts
  git: LocalGit
  backups: BackupLine[] | null
  homelab: Homelab
  host: HostConfig
  now: Date
  errors: StatusReport['errors']
}): Promise<StatusReport> {
  const {facts, flux, git, homelab} = input
  const {branch, remote} = homelab.config.git
  const root = flux ? rootKustomization(flux, homelab.config.cluster.path) : undefined
  const sourceObj = flux ? rootSource(flux, root) : undefined

  const source = sourceObj ? await sourceStatus(sourceObj, git) : null
  const objects: ObjectStatus[] = flux
    ? sortFailuresFirst<KustomizationObject | HelmReleaseObject>([...flux.kustomizations, ...flux.helmReleases]).map((o) => {
        const h = assessHealth(o)
        return {
          appliedCommit: o.kind === 'Kustomization' ? (o.lastAppliedRevision?.commit ?? null) : null,
          appliedRevision: appliedRevision(o) ?? null,
          health: h.health,
          kind: o.kind,
          message: h.message,
          name: o.name,
          namespace: o.namespace,
          ready: h.ready,
          reason: h.reason,
          since: h.since ?? null,
          suspended: h.suspended,
        }
      })
    : []

  const entry = async (commit: string | null | undefined): Promise<DriftEntry> => ({
    behind: commit && git.remoteHead ? await git.behind(commit, git.remoteHead) : null,
    commit: commit ?? null,
  })
  const configRev = facts.configurationRevision ? facts.configurationRevision.replace(/-dirty$/, '') : null
  const drift = {
    agree: false,
    branchRef: `${remote}/${branch}`,
    fluxApplied: await entry(root?.lastAppliedRevision?.commit),
    hostConfiguration: await entry(configRev && /^[0-9a-f]{7,64}$/.test(configRev) ? configRev : null),
    remote: {behind: git.remoteHead ? 0 : null, commit: git.remoteHead},
  }
  drift.agree = Boolean(drift.remote.commit && drift.fluxApplied.commit === drift.remote.commit && drift.hostConfiguration.commit === drift.remote.commit)

  const node = flux?.nodes[0]
  const system: StatusReport['system'] = {
    configurationRevision: facts.configurationRevision,
    failedUnits: facts.failedUnits,
    flakeLock: facts.flakeLock ? {...facts.flakeLock, behindHead: git.head ? await git.behind(facts.flakeLock.commit, git.head) : null} : null,
    generation: facts.generation,
    node: node ? {kubeletVersion: node.kubeletVersion ?? null, message: node.message, name: node.name, ready: node.ready} : null,
    storage: facts.storage,
    uptimeSeconds: facts.uptimeSeconds,
  }
  if (flux && !node) input.errors.push({fact: 'node', message: 'kubectl listed no Nodes'})

  const problems: string[] = []
  if (source?.state === 'fetch-failing') problems.push(`GitRepository ${source.namespace}/${source.name}: fetch failing`)
  for (const o of objects) if (['dependency-not-ready', 'failed', 'stalled'].includes(o.health)) problems.push(`${o.kind} ${o.namespace}/${o.name}: ${o.health} (${o.reason})`)
  if (node && node.ready !== 'True') problems.push(`node ${node.name} not Ready`)
  if (system.failedUnits && system.failedUnits.length > 0) problems.push(`failed units: ${system.failedUnits.join(', ')}`)
  if (system.storage && system.storage.usedPercent >= DISK_FULL_PERCENT) problems.push(`${system.storage.path} ${system.storage.usedPercent}% full`)
  for (const b of input.backups ?? []) if (b.state !== 'ok') problems.push(`backup ${b.source}: ${b.state}`)
  for (const e of input.errors) if (e.fact !== 'git-fetch') problems.push(`could not read ${e.fact}`)

  return {
    backups: input.backups,
    checkedAt: input.now.toISOString(),
    drift,
    errors: input.errors,
    host: {name: input.host.name, ssh: input.host.ssh},
    objects,
    problems,
    schemaVersion: 1,
    source,
    system,
    verdict: problems.length > 0 ? 'degraded' : 'healthy',
  }
}

async function sourceStatus(g: GitRepositoryObject, git: LocalGit): Promise<SourceStatus> {
  const h = assessHealth(g)
  const commit = g.artifact?.revision.commit ?? null
  let behind: SourceStatus['behind'] = null
  if (commit && git.remoteHead) {
    const count = await git.behind(commit, git.remoteHead)
    if (count !== null) behind = {commits: count > 0 ? await git.commitsBetween(commit, git.remoteHead, 20) : [], count}
  }

  let state: SourceStatus['state'] = 'unknown'
  if (h.health === 'failed' || h.health === 'stalled') state = 'fetch-failing'
  else if (behind && behind.count > 0) state = 'behind'
  else if (commit && commit === git.remoteHead) state = 'in-sync'
  return {
    behind,
    branch: g.ref.branch,
    commit,
    localHead: git.head,
    message: h.message,
    name: g.name,
    namespace: g.namespace,
    ready: h.ready,
    reason: h.reason,
    remoteHead: git.remoteHead,
    revision: g.artifact?.revision.raw ?? null,
    state,
    url: g.url,
  }
}

/** `abc1234` or `-`. */
export function short(commit: string | null | undefined): string {
  return commit ? shortCommit(commit) : '-'
}
