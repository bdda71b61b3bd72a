import type {TopologyMap} from './types.js'

/**
 * "What listens on port N": every Service port (port or targetPort), container port and host
 * firewall port equal to `port`, one phrase each (e.g. `Service libsql/libsql port 8080 → Deployment
 * libsql (app libsql)`), in map order. Empty when nothing does.
 */
export function whatListensOn(map: TopologyMap, port: number): string[] {
  const out: string[] = []
  for (const a of map.apps) {
    for (const s of a.services)
      for (const p of s.ports)
        if (p.port === port || p.targetPort === port)
          out.push(`Service ${s.namespace}/${s.name} port ${p.port} → ${p.targetPort}/${p.protocol}${s.workloads.length > 0 ? ` → ${s.workloads.join(', ')}` : ''} (app ${a.name})`)
    for (const w of a.workloads)
      for (const c of w.containers)
        if (c.ports.includes(port) && !a.services.some((s) => s.ports.some((p) => p.targetPort === port && s.workloads.includes(w.name))))
          out.push(`${w.kind} ${w.namespace}/${w.name} container ${c.name} port ${port} (app ${a.name}, no Service)`)
  }

  for (const h of map.hosts) {
    if (h.firewall.tcp.includes(port)) out.push(`host ${h.name} firewall TCP ${port} (${h.firewall.file})`)
    if (h.firewall.udp.includes(port)) out.push(`host ${h.name} firewall UDP ${port} (${h.firewall.file})`)
  }

  return out
}

/**
 * "Which app owns hostname H": every tunnel route of `hostname` (case-insensitive), one phrase
 * each (e.g. `photos.example.org → Service immich/immich-server:2283 (app immich)`). Empty when the
 * tunnel has no rule for it.
 */
export function whoOwnsHostname(map: TopologyMap, hostname: string): string[] {
  const wanted = hostname.toLowerCase().replace(/\.$/, '')
  return (map.tunnel?.routes ?? [])
    .filter((r) => r.hostname.toLowerCase() === wanted)
    .map((r) => `${r.hostname}${r.path ? ` (path ${r.path})` : ''} → ${r.target ? `Service ${r.target.namespace}/${r.target.name}:${r.target.port}` : r.service}${r.app ? ` (app ${r.app})` : ''}`)
}
