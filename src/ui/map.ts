import type {ChalkInstance} from 'chalk'

import type {MapCheckReport} from '../lib/map/check.js'
import type {TopologyMap} from '../lib/map/types.js'

/**
 * The map as a tree for a terminal: one branch per app (workloads, Services, hostnames, claim →
 * volume → folder, backup, secrets), then the hosts and the backup settings.
 */
export function renderMapTree(map: TopologyMap, c: ChalkInstance): string {
  const lines = [`${c.bold(map.cluster)}  ${c.dim(`domain ${map.domain} · storage ${map.storageRoot} · ${map.apps.length} apps`)}`]
  const branch = (items: string[][], indent: string) => {
    for (const [i, item] of items.entries()) {
      const last = i === items.length - 1
      lines.push(`${indent}${last ? '└─ ' : '├─ '}${item[0]}`)
      for (const sub of item.slice(1)) lines.push(`${indent}${last ? '   ' : '│  '}${sub}`)
    }
  }

  const apps = map.apps.map((a) => {
    const children: string[] = [
      ...a.workloads.map((w) => `${w.kind} ${w.name}${w.replicas === null ? '' : ` ×${w.replicas}`}  ${c.dim(w.containers.map((x) => x.image).join(', '))}`),
      ...a.services.map((s) => `Service ${s.name} ${s.ports.map((p) => `:${p.port}`).join(' ')}${s.workloads.length > 0 ? c.dim(` → ${s.workloads.join(', ')}`) : ''}`),
      ...a.hostnames.map((h) => `${c.cyan(h.hostname)}${h.path ? c.dim(` ${h.path}`) : ''} → ${h.target ? `${h.target.name}:${h.target.port}` : h.service}`),
      ...a.volumes.map((v) => `${v.claim} → ${v.volume ? `PV ${v.volume}${v.capacity ? ` ${v.capacity}` : ''}` : c.yellow('no PV')} → ${v.hostPath ?? c.yellow('no folder')} on ${v.node}${a.storage && a.storage.path === v.hostPath ? c.dim(` (${a.storage.uid}:${a.storage.gid} ${a.storage.mode})`) : ''}`),
      a.backup ? `backup ${a.backup.source} ${c.dim(`(${a.backup.mode})`)}` : c.dim('no backup'),
      ...(a.secrets.length > 0 ? [`secrets ${a.secrets.map((s) => `${s.name}${s.sops ? c.dim(' (sops)') : ''}`).join(', ')}`] : []),
    ]
    const sub: string[] = []
    for (const [i, child] of children.entries()) sub.push(`${i === children.length - 1 ? '└─ ' : '├─ '}${child}`)
    return [`${c.bold(a.name)}${a.namespace ? c.dim(`  namespace ${a.namespace}`) : ''}`, ...sub]
  })
  branch(apps, '')

  lines.push('', c.bold('hosts'))
  branch(
    map.hosts.map((h) => [
      `${c.bold(h.name)} ${h.role}  ${c.dim(h.ssh)}`,
      `firewall tcp ${h.firewall.tcp.join(',') || '-'} udp ${h.firewall.udp.join(',') || '-'} · k3s ${h.k3sRole ?? '?'}`,
      `timers ${h.units.filter((u) => u.schedule).map((u) => `${u.name} (${u.schedule})`).join(', ') || '-'}`,
    ]),
    '',
  )
  lines.push('', `${c.bold('backup')} ${map.backup.repositoryPath} → R2 ${map.backup.bucket}/${map.backup.prefix} every ${map.backup.syncEveryHours}h`)
  lines.push(`${c.bold('flake inputs')} ${[...new Set(map.flakeInputs.map((f) => `${f.name}${f.url ? ` (${f.url})` : ''}`))].join(', ')}`)
  return lines.join('\n')
}

/** The result of `homelab map --check`: one line per mismatch, or one line saying all matches. */
export function renderMapCheck(report: MapCheckReport, c: ChalkInstance): string {
  if (report.ok) return `${c.green('✓')} ${report.host} matches the map of the repository`
  return [...report.mismatches.map((m) => `${c.red('✗')} ${m.message}`), `${report.mismatches.length} mismatch${report.mismatches.length === 1 ? '' : 'es'} between the repository and ${report.host}`].join('\n')
}
