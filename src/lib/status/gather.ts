import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {appliedRevision, assessHealth, sortFailuresFirst} from '../flux/health.js'
import {getFluxState, type RemoteRunner} from '../flux/kubectl.js'
import {shortCommit} from '../flux/revision.js'
import type {FluxState, GitRepositoryObject, HelmReleaseObject, KustomizationObject} from '../flux/types.js'
import {type HostFacts, readHostFacts} from './host-facts.js'
import {type LocalGit, readLocalGit} from './local-git.js'
import type {BackupLine, DriftEntry, HostStatus, NodeStatus, ObjectStatus, SourceStatus, StatusReport} from './types.js'

/** Disk use at or above this percentage of the storage root degrades the verdict. */
export const DISK_FULL_PERCENT = 90

/** Reads the backup lines at `now` (over the same connection); injected so status works without the backup reader. */
export type BackupReader = (now: Date) => Promise<BackupLine[]>

/**
 * Reads the facts of a host other than the server over that host's own connection (opened by
 * the caller, see src/commands/status.ts); rejects with the reason when the host cannot be reached.
 */
export type HostFactsReader = (host: HostConfig) => Promise<HostFacts>

/** What was read of one selected host: its facts, or why it could not be reached. */
export interface GatheredHost {
  host: HostConfig
  facts: HostFacts | null
  /** Why the host could not be reached (then `facts` is null). */
  error: string | null
}

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
 * (when a reader is given), and the local Git facts (fetch of `<remote>/<branch>`) on this side;
 * meanwhile the facts of every other selected host through `readHost` (each its own connection).
 * Never throws for one fact: what cannot be read is null and listed in `errors` (and degrades
 * the verdict); a selected host that cannot be reached is a `hosts[]` row in state `unreachable`.
 *
 * @param options.connection the k3s server's connection (the cluster part always comes from it)
 * @param options.host the k3s server (homelab.yaml), whose facts are `system`
 * @param options.hosts the hosts of the `hosts` section (default: `[host]`); the server's row reuses its facts
 * @param options.readHost reads a host other than the server (needed when `hosts` names one)
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
  hosts?: HostConfig[]
  readHost?: HostFactsReader
  timeoutMs?: number
}): Promise<StatusReport> {
  const {connection, homelab, host} = options
  const now = options.now ?? new Date()
  const errors: StatusReport['errors'] = []
  const selected = options.hosts ?? [host]
  const others = Promise.all(
    selected
      .filter((h) => h.name !== host.name)
      .map(async (h): Promise<GatheredHost> => {
        if (!options.readHost) return {error: 'no connection to this host', facts: null, host: h}
        try {
          return {error: null, facts: await options.readHost(h), host: h}
        } catch (error) {
          return {error: (error as Error).message.split('\n')[0], facts: null, host: h}
        }
      }),
  )
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
  const read = new Map((await others).map((g) => [g.host.name, g]))
  const gathered = selected.map((h) => (h.name === host.name ? {error: null, facts, host: h} : read.get(h.name)!))
  return buildReport({backups, errors, facts, flux, gathered, git, homelab, host, now})
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
  /** The selected hosts' facts (default: the server's `facts` only). */
  gathered?: GatheredHost[]
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

  // The server's node: the one named like the host (k3s registers the hostname), else the only one.
  const node = flux ? (flux.nodes.find((n) => n.name === input.host.name) ?? (flux.nodes.length === 1 ? flux.nodes[0] : undefined)) : undefined
  const system: StatusReport['system'] = {
    configurationRevision: facts.configurationRevision,
    failedUnits: facts.failedUnits,
    flakeLock: facts.flakeLock ? {...facts.flakeLock, behindHead: git.head ? await git.behind(facts.flakeLock.commit, git.head) : null} : null,
    generation: facts.generation,
    node: node ? {kubeletVersion: node.kubeletVersion ?? null, message: node.message, name: node.name, ready: node.ready} : null,
    storage: facts.storage,
    uptimeSeconds: facts.uptimeSeconds,
  }
  if (flux && !node) input.errors.push({fact: 'node', message: flux.nodes.length === 0 ? 'kubectl listed no Nodes' : `kubectl lists no Node ${input.host.name}`})

  const hostNames = new Set(homelab.config.hosts.map((h) => h.name))
  const nodes: NodeStatus[] | null = flux
    ? [...flux.nodes]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((n) => ({
          host: hostNames.has(n.name) ? n.name : null,
          kubeletVersion: n.kubeletVersion ?? null,
          message: n.message,
          name: n.name,
          ready: n.ready,
          reason: n.reason ?? '',
          roles: n.roles ?? [],
          since: n.since ?? null,
        }))
    : null
  const branchHead = git.remoteHead ?? git.head
  const hosts: HostStatus[] = await Promise.all(
    (input.gathered ?? [{error: null, facts, host: input.host}]).map(async (g) => hostStatus(g, {branchHead, git, nodes})),
  )

  const problems: string[] = []
  if (source?.state === 'fetch-failing') problems.push(`GitRepository ${source.namespace}/${source.name}: fetch failing`)
  for (const o of objects) if (['dependency-not-ready', 'failed', 'stalled'].includes(o.health)) problems.push(`${o.kind} ${o.namespace}/${o.name}: ${o.health} (${o.reason})`)
  for (const n of nodes ?? []) if (n.ready !== 'True') problems.push(`node ${n.name} not Ready`)
  for (const h of hosts) {
    if (h.state === 'unreachable') problems.push(`host ${h.name} unreachable`)
    else if (h.name !== input.host.name) for (const e of h.errors) problems.push(`could not read ${e.fact} on ${h.name}`)
  }
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
    hosts,
    nodes,
    objects,
    problems,
    schemaVersion: 1,
    source,
    system,
    verdict: problems.length > 0 ? 'degraded' : 'healthy',
  }
}

/** One `hosts[]` row: generation, pinned revision against the branch head, the node of the same name. */
async function hostStatus(g: GatheredHost, context: {branchHead: string | null; git: LocalGit; nodes: NodeStatus[] | null}): Promise<HostStatus> {
  const base = {name: g.host.name, node: context.nodes?.some((n) => n.name === g.host.name) ? g.host.name : null, role: g.host.role, ssh: g.host.ssh}
  if (!g.facts)
    return {...base, behindBy: null, branchHead: context.branchHead, configurationRevision: null, error: g.error ?? 'unreachable', errors: [], generation: null, revision: null, state: 'unreachable'}
  const f = g.facts
  const revision = f.flakeLock
  const behindBy = revision && context.branchHead ? (revision.commit === context.branchHead ? 0 : await context.git.behind(revision.commit, context.branchHead)) : null
  const state: HostStatus['state'] = !revision || !context.branchHead ? 'unknown' : revision.commit === context.branchHead ? 'current' : 'behind'
  return {
    ...base,
    behindBy,
    branchHead: context.branchHead,
    configurationRevision: f.configurationRevision,
    error: null,
    errors: f.errors.filter((e) => ['flake-lock', 'generation'].includes(e.fact)),
    generation: f.generation,
    revision,
    state,
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
