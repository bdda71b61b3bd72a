/**
 * Host parts of `homelab diff` that need nothing of the host side (host.ts loads the SSH and Nix
 * code): a skipped part, and whether a part differs. The offline diff uses only these.
 */
import type {HostDiff} from './host.js'

/** A host part that was not built (`--offline`, or a host that could not be reached). */
export function skippedHost(host: string, message: string, exitCode?: number): HostDiff {
  // Keys in the order host.ts gives a built part (the --json output reads the same).
  const empty = {packages: [], sizeDeltaBytes: 0, units: {added: [], changed: [], removed: []}}
  return {...empty, host, message, status: exitCode === undefined ? 'skipped' : 'failed', ...(exitCode === undefined ? {} : {exitCode})}
}

/** True when a host part differs (for --exit-code): packages, size or units changed, or another system. */
export function hostChanged(h: HostDiff): boolean {
  return h.status === 'changed' || h.packages.length > 0 || h.units.added.length + h.units.removed.length + h.units.changed.length > 0
}
