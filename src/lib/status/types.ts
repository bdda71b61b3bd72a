import type {Health} from '../flux/health.js'

/**
 * The `homelab status --json` result (stable shape, `schemaVersion` 1). Times are RFC 3339
 * strings, durations seconds, sizes bytes, commits full 40-hex ids. A fact that could not be
 * read is `null` and named in `errors`.
 */
export interface StatusReport {
  schemaVersion: 1
  /** RFC 3339 time the facts were gathered. */
  checkedAt: string
  /** `healthy` (exit 0) or `degraded` (exit 1); an unreachable host is an error with exit 2, not a report. */
  verdict: 'degraded' | 'healthy'
  /** Why the verdict is degraded, one short line each (empty when healthy). */
  problems: string[]
  host: {name: string; ssh: string}
  source: SourceStatus | null
  /** Kustomizations and HelmReleases, failures first (stalled, failed, dependency-not-ready, progressing, waiting, ready), then by namespace and name. */
  objects: ObjectStatus[]
  drift: DriftStatus
  system: SystemStatus
  /** One line per backup source of the server (null until the backup status reader is available or when it failed). */
  backups: BackupLine[] | null
  /** Every Kubernetes node the server lists (`k3s kubectl get nodes`), by name; null when the read failed (see `errors`). */
  nodes: NodeStatus[] | null
  /** Every selected homelab.yaml host (all by default; --host/--on), in homelab.yaml order, each read over its own connection. */
  hosts: HostStatus[]
  /** Facts that could not be read: which and why. */
  errors: Array<{fact: string; message: string}>
}

/** The GitRepository Flux syncs from, against the local repository. */
export interface SourceStatus {
  namespace: string
  name: string
  url: string
  branch?: string
  /** `status.artifact.revision` as Flux reports it (`main@sha1:<sha>`), null before the first fetch. */
  revision: string | null
  commit: string | null
  /** Ready condition: `True`, `False`, `Unknown`. */
  ready: string
  reason: string
  message: string
  /**
   * `in-sync`: serves the remote branch head; `behind`: serves an older commit (see `behind`);
   * `fetch-failing`: Ready False (the message says why); `unknown`: its commit is not in the
   * local repository or there is no artifact.
   */
  state: 'behind' | 'fetch-failing' | 'in-sync' | 'unknown'
  /** Commits on the remote branch the source does not serve yet, newest first (at most 20 listed). */
  behind: {count: number; commits: Array<{commit: string; subject: string}>} | null
  /** Local `HEAD` and the remote branch head (`<remote>/<branch>` after a fetch). */
  localHead: string | null
  remoteHead: string | null
}

/** One Kustomization or HelmRelease. */
export interface ObjectStatus {
  kind: 'HelmRelease' | 'Kustomization'
  namespace: string
  name: string
  health: Health
  ready: string
  reason: string
  /** The deciding condition's message on one line. */
  message: string
  /** Kustomization: lastAppliedRevision; HelmRelease: `<chart>@<version>` of the latest release. */
  appliedRevision: string | null
  /** The commit of appliedRevision, for Kustomizations from a Git source. */
  appliedCommit: string | null
  /** RFC 3339 time the Ready condition last changed. */
  since: string | null
  suspended: boolean
}

/** How far one revision is behind the remote branch head. */
export interface DriftEntry {
  commit: string | null
  /** Commits on `<remote>/<branch>` not in `commit`; null when unknown (commit not in the local repository). */
  behind: number | null
}

/** The three revisions that must agree: the remote branch, what Flux applied, what the host runs. */
export interface DriftStatus {
  /** e.g. `origin/main`. */
  branchRef: string
  remote: DriftEntry
  /** The root Kustomization's lastAppliedRevision (the one whose path is `cluster.path`). */
  fluxApplied: DriftEntry
  /** `system.configurationRevision` of the running NixOS generation (`nixos-version --configuration-revision`). */
  hostConfiguration: DriftEntry
  /** True when all three are the same commit. */
  agree: boolean
}

/** The host itself. */
export interface SystemStatus {
  generation: {number: number; builtAt: string; nixosVersion: string; kernelVersion: string} | null
  /** `nixos-version --configuration-revision` as printed ('' when system.configurationRevision is unset), null when unreadable. */
  configurationRevision: string | null
  /** The commit `/etc/nixos/flake.lock` pins for the homelab input, against local HEAD. */
  flakeLock: {input: string; commit: string; lastModified: string | null; behindHead: number | null} | null
  uptimeSeconds: number | null
  /** Names of failed systemd units (`systemctl --failed`). */
  failedUnits: string[] | null
  node: {name: string; ready: string; message: string; kubeletVersion: string | null} | null
  storage: {path: string; mount: string; sizeBytes: number; usedBytes: number; availableBytes: number; usedPercent: number} | null
}

/** One backup source, from the backup status reader. */
export interface BackupLine {
  source: string
  /** `ok`, `stale`, `failed`, `missing` … as the backup reader says. */
  state: string
  /** RFC 3339 time of the last snapshot, null when none. */
  lastSnapshot: string | null
  detail: string
}

/** One Kubernetes node as the server reports it, matched to its homelab.yaml host by name. */
export interface NodeStatus {
  name: string
  /** The Ready condition's status. */
  ready: 'False' | 'True' | 'Unknown'
  /** The Ready condition's reason (`KubeletReady`, `KubeletNotReady`, `NodeStatusUnknown` …). */
  reason: string
  message: string
  /** RFC 3339 time the Ready condition last changed; null when not reported. */
  since: string | null
  /** From the `node-role.kubernetes.io/<role>` labels (k3s: a server is `control-plane`, `master`; an agent has none). */
  roles: string[]
  /** `status.nodeInfo.kubeletVersion`, e.g. `v1.33.5+k3s1`. */
  kubeletVersion: string | null
  /** The homelab.yaml host of the same name; null when there is none (flagged: a node the CLI does not manage). */
  host: string | null
}

/**
 * One homelab.yaml host: its running NixOS generation and the commit its host flake pins, against
 * the branch head. `state`: `current` (pins the branch head), `behind` (pins another commit),
 * `unknown` (the pin or the branch head could not be read), `unreachable` (no SSH connection; `error` says why).
 */
export interface HostStatus {
  name: string
  role: 'agent' | 'server'
  ssh: string
  state: 'behind' | 'current' | 'unknown' | 'unreachable'
  /** Why the host could not be reached (state `unreachable`), else null. */
  error: string | null
  /** The current generation (`nixos-rebuild list-generations --json`); `builtAt` as it prints it (local time of the host). */
  generation: {number: number; builtAt: string; nixosVersion: string; kernelVersion: string} | null
  /** The commit the host flake.lock pins for the homelab input (what its next rebuild builds from). */
  revision: {input: string; commit: string; lastModified: string | null} | null
  /** `nixos-version --configuration-revision` of the running generation ('' when unset), null when unreadable. */
  configurationRevision: string | null
  /** `<remote>/<branch>` after the fetch (local HEAD when there is no remote branch), null when unknown. */
  branchHead: string | null
  /** Commits on the branch head the pinned revision lacks; null when unknown (e.g. not in the local repository). */
  behindBy: number | null
  /** The node of the same name, or null when the server lists none (flagged: a host whose k3s never joined). */
  node: string | null
  /** Facts of this host that could not be read. */
  errors: Array<{fact: string; message: string}>
}
