import {UsageError} from '../errors.js'
import {pickHost, selectOn} from './hosts.js'
import type {Homelab} from './load.js'
import type {HostConfig} from './schema.js'

/**
 * The one host of a single-host command (suspend, resume): `--host NAME`, or `--on LIST`
 * when it selects exactly one host (src/lib/config/hosts.ts selectOn), else the k3s server.
 * @throws UsageError (exit 3) when both are given, a name/tag matches nothing, or `--on` selects several hosts
 */
export function oneHost(homelab: Homelab, select: {host?: string; on?: string}, command: string): HostConfig {
  if (select.host !== undefined && select.on !== undefined) throw new UsageError('--host and --on select hosts two ways; give one of them')
  if (select.on === undefined) return pickHost(homelab, select.host)
  const hosts = selectOn(homelab, select.on)
  if (hosts.length > 1)
    throw new UsageError(`homelab ${command} reads one host, and --on ${select.on} selects ${hosts.map((h) => h.name).join(', ')}`, {suggestions: [`run it once per host: homelab ${command} --host ${hosts[0].name}`]})
  return hosts[0]
}
