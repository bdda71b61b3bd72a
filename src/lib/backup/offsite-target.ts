import {pickHost, serverHost} from '../config/hosts.js'
import type {Homelab} from '../config/load.js'
import {OFFSITE_MARKER_KEY} from './offsite-protection.js'

/**
 * Where one host's off-site copy lives in the bucket: the key prefix its kopia-r2-sync copies its
 * own Kopia repository to, and the key of the protection marker it writes.
 */
export interface OffsiteTarget {
  /** The homelab.yaml host whose repository this is. */
  host: string
  /** The host is the k3s server (it keeps backup.json `prefix` and {@link OFFSITE_MARKER_KEY}). */
  server: boolean
  /** Object key prefix of the host's repository ("" or ending in "/"). */
  prefix: string
  /** Key of the host's protection marker (bucket root, outside every prefix). */
  markerKey: string
}

/**
 * The off-site target of host `hostName` (default: the k3s server), as nixos/backup-settings.nix
 * gives its kopia-r2-sync.service (`syncPrefix`, `markerKey`; keep the two in step). Each host
 * snapshots into its own repository, and two repositories must never share a prefix (they would
 * overwrite each other's kopia.repository, and one host's delayed deletions would remove the
 * other's blobs). So the server keeps backup.json `prefix` and `homelab/offsite-protection.json`
 * (the single-host layout), and any other host gets a sibling prefix, never one under the
 * server's: `<prefix without its trailing "/">-<host>/` ("kopia/" → "kopia-azalab-1/"; "" →
 * "azalab-1/") and `homelab/offsite-protection-<host>.json`.
 *
 * @param settings the backup file's `prefix` ("" or ending in "/")
 * @throws UsageError (exit 3) when homelab.yaml has no host `hostName`
 */
export function offsiteTarget(settings: {prefix: string}, homelab: Homelab, hostName?: string): OffsiteTarget {
  const host = pickHost(homelab, hostName).name
  if (host === serverHost(homelab).name) return {host, markerKey: OFFSITE_MARKER_KEY, prefix: settings.prefix, server: true}
  const stem = settings.prefix.endsWith('/') ? settings.prefix.slice(0, -1) : settings.prefix
  return {host, markerKey: `homelab/offsite-protection-${host}.json`, prefix: stem === '' ? `${host}/` : `${stem}-${host}/`, server: false}
}

/**
 * `s3://bucket/prefix/` of a host's Kopia off-site copy (nixos/backup.json and {@link offsiteTarget}),
 * or null when the backup settings cannot be read (e.g. a homelab without backup.json).
 */
export async function offsiteCopyUrl(homelab: Homelab, host: string): Promise<string | null> {
  try {
    const {loadBackupSettings} = await import('./settings.js')
    const settings = await loadBackupSettings(homelab, {host})
    return `s3://${settings.bucket}/${offsiteTarget(settings, homelab, host).prefix}`
  } catch {
    return null
  }
}
