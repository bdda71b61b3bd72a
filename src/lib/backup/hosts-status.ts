import type {HostConfig} from '../config/schema.js'
import type {BackupStatus, SourceStatus} from './status.js'

/** A backup source of {@link HostsBackupStatus}: the source's status and the host that snapshots it. */
export type HostSourceStatus = SourceStatus & {
  /** The homelab.yaml host whose disk holds the source and whose repository has its snapshots. */
  host: string
}

/** One host's backups in {@link HostsBackupStatus}: its judged status, or why it could not be read. */
export interface HostBackupStatus {
  name: string
  role: 'agent' | 'server'
  ssh: string
  /** Why the host could not be reached or read (then `status` is null), else null. */
  error: string | null
  /** The host's own sources (storage.json apps on its node + extraBackupSources), its R2 sync, drills and timers. */
  status: (Omit<BackupStatus, 'sources'> & {sources: HostSourceStatus[]}) | null
}

/**
 * What `homelab backup status --json` prints: the {@link BackupStatus} shape as before (so one
 * host reads as it did), where `ok`, `sources`, `problems` and `warnings` cover every selected
 * host (each source carries its `host`; with several hosts each problem and warning starts with
 * `<host>: `), while `host`, `lastRun`, `sync`, `drill`, `timers` and `checkedAt` are those of the
 * first reachable host (the k3s server when selected); `hosts` has every selected host in full.
 */
export interface HostsBackupStatus extends Omit<BackupStatus, 'sources'> {
  host: string
  sources: HostSourceStatus[]
  hosts: HostBackupStatus[]
}

/**
 * Combines the per-host results of the backup status reader into {@link HostsBackupStatus}
 * (pure). `results` are in homelab.yaml order; `server` is the k3s server's name; `unplaced`
 * are apps whose storage node is no host (no host snapshots them: each a problem).
 * @returns null when no host could be read (the caller reports the first host's error)
 */
export function combineHostBackups(
  results: Array<{host: HostConfig; status: BackupStatus | null; error: string | null}>,
  server: string,
  unplaced: Array<{path: string; node: string}> = [],
): HostsBackupStatus | null {
  const hosts: HostBackupStatus[] = results.map((r) => ({
    error: r.status ? null : (r.error ?? 'could not be read'),
    name: r.host.name,
    role: r.host.role,
    ssh: r.host.ssh,
    status: r.status ? {...r.status, sources: r.status.sources.map((s) => ({...s, host: r.host.name}))} : null,
  }))
  const read = hosts.filter((h) => h.status !== null)
  const primary = read.find((h) => h.name === server) ?? read[0]
  if (!primary?.status) return null
  const several = hosts.length > 1
  const prefixed = (h: HostBackupStatus, lines: string[]) => (several ? lines.map((l) => `${h.name}: ${l}`) : lines)
  const problems = [
    ...hosts.flatMap((h) => (h.status ? prefixed(h, h.status.problems) : [`${h.name}: unreachable: ${h.error}`])),
    ...unplaced.map((a) => `${a.path}: its storage node ${a.node} is no host of homelab.yaml, so no host snapshots it: set apps[].node in the storage file to a host`),
  ]
  return {
    ...primary.status,
    host: primary.name,
    hosts,
    ok: unplaced.length === 0 && hosts.every((h) => h.status?.ok === true),
    problems,
    sources: hosts.flatMap((h) => h.status?.sources ?? []),
    warnings: hosts.flatMap((h) => (h.status ? prefixed(h, h.status.warnings) : [])),
  }
}
