import type {ChalkInstance} from 'chalk'

import {formatRevision} from '../lib/flux/revision.js'
import type {ConvergenceItem} from '../lib/flux/converge.js'
import type {DriftEntry, HostStatus, NodeStatus, ObjectStatus, StatusReport} from '../lib/status/types.js'
import {renderTable} from './table.js'

/** `3m ago`, `2h ago`, `4d ago` for an RFC 3339 time before `now`; `-` when unknown. */
export function ago(time: string | null | undefined, now: Date): string {
  if (!time) return '-'
  const t = Date.parse(time)
  if (!Number.isFinite(t)) return time
  return `${duration(Math.max(0, (now.getTime() - t) / 1000))} ago`
}

/** Seconds as the two largest units: `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function duration(seconds: number): string {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`
}

/** Bytes as GiB/MiB with one decimal. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }

  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

const short = (c: string | null | undefined) => (c ? c.slice(0, 7) : '-')
const clip = (s: string, n = 100) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

function healthMark(o: ObjectStatus, c: ChalkInstance): string {
  if (o.suspended) return c.yellow('‖')
  switch (o.health) {
    case 'ready': {
      return c.green('✓')
    }

    case 'progressing':
    case 'waiting': {
      return c.yellow('…')
    }

    default: {
      return c.red('✗')
    }
  }
}

function driftPart(label: string, e: DriftEntry, c: ChalkInstance): string {
  const how = e.commit === null ? c.yellow('unknown') : e.behind === null ? c.yellow('not in local repo') : e.behind === 0 ? c.green('up to date') : c.yellow(`${e.behind} behind`)
  return `${label} ${short(e.commit)} (${how})`
}

/**
 * The text of `homelab status`: header with the verdict, source, drift, Flux objects (failures
 * first), host, backups, then what could not be read. `now` renders relative times.
 */
export function renderStatus(report: StatusReport, c: ChalkInstance, now: Date): string {
  const lines: string[] = []
  const verdict = report.verdict === 'healthy' ? c.green('healthy') : c.red('degraded')
  lines.push(`${c.bold(report.host.name)} (${report.host.ssh}): ${verdict}`)
  for (const p of report.problems) lines.push(`  ${c.red('✗')} ${p}`)
  lines.push('')

  const s = report.source
  const branchRef = report.drift.branchRef
  if (s) {
    let state: string
    switch (s.state) {
      case 'behind': {
        state = c.yellow(`behind ${branchRef} by ${s.behind!.count} commit${s.behind!.count === 1 ? '' : 's'}`)
        break
      }

      case 'fetch-failing': {
        state = c.red(`fetch failing: ${clip(s.message, 140)}`)
        break
      }

      case 'in-sync': {
        state = c.green(`in sync with ${branchRef}`)
        break
      }

      default: {
        state = c.yellow(s.commit ? `serves ${short(s.commit)}, not in the local repository (run git fetch)` : 'no artifact yet')
      }
    }

    lines.push(`Source  GitRepository ${s.namespace}/${s.name} serves ${s.revision ? formatRevision(s.revision) : '-'}: ${state}`)
    for (const commit of s.behind?.commits ?? []) lines.push(`          ${c.yellow(short(commit.commit))} ${commit.subject}`)
    if (s.behind && s.behind.count > s.behind.commits.length) lines.push(`          … and ${s.behind.count - s.behind.commits.length} more`)
    if (s.localHead && s.remoteHead && s.localHead !== s.remoteHead) lines.push(`        local HEAD ${short(s.localHead)} differs from ${branchRef} ${short(s.remoteHead)} (not pushed, or not pulled)`)
  } else lines.push(`Source  ${c.yellow('no GitRepository found')}`)

  const d = report.drift
  lines.push(`Drift   ${driftPart(branchRef, d.remote, c).replace(/ \(up to date\)$/, '')}  ·  ${driftPart('Flux applied', d.fluxApplied, c)}  ·  ${report.system.configurationRevision === '' ? `host built from ${c.yellow('unknown (system.configurationRevision is unset)')}` : driftPart('host built from', d.hostConfiguration, c)}`, '')

  if (report.objects.length > 0) {
    const rows = report.objects.map((o) => [
      healthMark(o, c),
      o.kind,
      `${o.namespace}/${o.name}${o.suspended ? c.yellow(' (suspended)') : ''}`,
      o.ready === 'True' ? c.green(o.ready) : o.ready === 'False' ? c.red(o.ready) : c.yellow(o.ready),
      o.reason || '-',
      o.appliedRevision ? (o.kind === 'Kustomization' ? formatRevision(o.appliedRevision) : o.appliedRevision) : '-',
      ago(o.since, now),
      clip(o.message),
    ])
    lines.push(renderTable(['', 'KIND', 'NAME', 'READY', 'REASON', 'APPLIED', 'SINCE', 'MESSAGE'], rows), '')
  } else if (!report.errors.some((e) => e.fact === 'flux')) lines.push('No Kustomizations or HelmReleases.', '')

  const sys = report.system
  const hostRows: string[][] = []
  if (sys.generation) hostRows.push(['generation', `${sys.generation.number}, built ${sys.generation.builtAt} (NixOS ${sys.generation.nixosVersion}, kernel ${sys.generation.kernelVersion})`])
  if (sys.flakeLock) {
    const b = sys.flakeLock.behindHead
    hostRows.push(['flake.lock', `${sys.flakeLock.input} pinned ${short(sys.flakeLock.commit)} (${b === null ? c.yellow('not in local repo') : b === 0 ? c.green('HEAD') : c.yellow(`${b} behind HEAD`)})`])
  }

  if (sys.uptimeSeconds !== null) hostRows.push(['uptime', duration(sys.uptimeSeconds)])
  if (sys.failedUnits) hostRows.push(['failed units', sys.failedUnits.length === 0 ? c.green('none') : c.red(sys.failedUnits.join(', '))])
  if (sys.node) hostRows.push(['k3s node', `${sys.node.name} ${sys.node.ready === 'True' ? c.green('Ready') : c.red(`not Ready: ${sys.node.message}`)}${sys.node.kubeletVersion ? ` (${sys.node.kubeletVersion})` : ''}`])
  if (sys.storage) {
    const st = sys.storage
    const pct = `${st.usedPercent}% used`
    hostRows.push(['storage', `${st.path} ${st.usedPercent >= 90 ? c.red(pct) : pct} (${bytes(st.usedBytes)} of ${bytes(st.sizeBytes)}, ${bytes(st.availableBytes)} free)`])
  }

  lines.push('Host')
  for (const [k, v] of hostRows) lines.push(`  ${k.padEnd(13)}${v}`)

  if (report.nodes) lines.push('', ...renderNodes(report.nodes, c, now))
  if (report.hosts.length > 0) lines.push('', ...renderHosts(report.hosts, report.drift.branchRef, c, report.nodes !== null))

  if (report.backups) {
    lines.push('', 'Backups')
    if (report.backups.length === 0) lines.push('  no backup sources')
    const rows = report.backups.map((b) => [b.state === 'ok' ? c.green('✓') : c.red('✗'), b.source, b.state, b.lastSnapshot ? ago(b.lastSnapshot, now) : 'never', b.detail])
    if (rows.length > 0) lines.push(...renderTable(['', 'SOURCE', 'STATE', 'LAST SNAPSHOT', 'DETAIL'], rows).split('\n').map((l) => `  ${l}`))
  }

  if (report.errors.length > 0) {
    lines.push('', c.yellow('Could not read'))
    for (const e of report.errors) lines.push(`  ${e.fact}: ${clip(e.message, 220)}`)
  }

  return lines.join('\n')
}

/**
 * The `Nodes` section: one row per Kubernetes node (Ready since when, or why not; roles as
 * kubectl shows them; kubelet version), a node without a homelab.yaml host flagged.
 */
export function renderNodes(nodes: NodeStatus[], c: ChalkInstance, now: Date): string[] {
  if (nodes.length === 0) return ['Nodes', `  ${c.yellow('the server lists no node')}`]
  const rows = nodes.map((n) => {
    const notes = [n.ready === 'True' ? '' : `${n.reason || 'no reason'}: ${clip(n.message, 80)}`, n.host === null ? c.yellow('no host in homelab.yaml') : ''].filter(Boolean)
    return [
      n.ready === 'True' ? c.green('✓') : c.red('✗'),
      n.name,
      n.ready === 'True' ? c.green('Ready') : n.ready === 'Unknown' ? c.red('Unknown') : c.red('NotReady'),
      ago(n.since, now),
      n.roles.length > 0 ? n.roles.join(',') : '<none>',
      n.kubeletVersion ?? '-',
      notes.join('; '),
    ]
  })
  return ['Nodes', ...renderTable(['', 'NODE', 'STATUS', 'SINCE', 'ROLES', 'VERSION', 'NOTE'], rows).split('\n').map((l) => `  ${l}`)]
}

/**
 * The `Hosts` section: one row per selected homelab.yaml host: generation and its date, the
 * commit its flake pins; a host behind the branch head, unreachable, or without a node flagged
 * (the last only when the server's node list could be read: `nodesKnown`).
 */
export function renderHosts(hosts: HostStatus[], branchRef: string, c: ChalkInstance, nodesKnown = true): string[] {
  const branch = branchRef.split('/').slice(1).join('/') || branchRef
  const rows = hosts.map((h) => {
    const notes: string[] = []
    let mark = c.green('✓')
    switch (h.state) {
      case 'unreachable': {
        mark = c.red('✗')
        notes.push(c.red(`unreachable: ${clip(h.error ?? '', 120)}`))
        break
      }

      case 'behind': {
        mark = c.yellow('!')
        notes.push(c.yellow(`behind: runs ${short(h.revision?.commit)}, ${branch} is ${short(h.branchHead)}${h.behindBy ? ` (${h.behindBy} commit${h.behindBy === 1 ? '' : 's'})` : ''}`))
        break
      }

      case 'unknown': {
        mark = c.yellow('?')
        notes.push(c.yellow(h.revision ? `${branch} head unknown (run git fetch)` : `pinned revision unknown${h.errors[0] ? `: ${clip(h.errors[0].message, 80)}` : ''}`))
        break
      }

      default: {
        notes.push(c.green(`= ${branch}`))
      }
    }

    if (nodesKnown && h.state !== 'unreachable' && h.node === null) {
      if (h.state === 'current') mark = c.yellow('!')
      notes.push(c.yellow('no k3s node of this name'))
    }

    return [
      mark,
      h.name,
      h.role,
      h.generation ? String(h.generation.number) : '-',
      h.generation?.builtAt || '-',
      h.revision ? `${h.revision.input} ${short(h.revision.commit)}` : '-',
      notes.join('; '),
    ]
  })
  return ['Hosts', ...renderTable(['', 'HOST', 'ROLE', 'GENERATION', 'BUILT', 'REVISION', 'NOTE'], rows).split('\n').map((l) => `  ${l}`)]
}

/** One line per object still pending, for the live wait display of reconcile and deploy --wait. */
export function renderPending(items: Array<{kind: string; namespace: string; name: string; state: string}>, elapsedMs: number, c: ChalkInstance): string {
  if (items.length === 0) return c.green(`all done after ${duration(elapsedMs / 1000)}`)
  const head = `waiting ${duration(elapsedMs / 1000)} for ${items.length}:`
  return [head, ...items.map((i) => `  ${c.yellow('…')} ${i.kind} ${i.namespace}/${i.name}: ${clip(i.state, 90)}`)].join('\n')
}

/** The convergence items of deploy --wait as pending lines. */
export function convergencePending(items: ConvergenceItem[]): Array<{kind: string; namespace: string; name: string; state: string}> {
  return items.filter((i) => i.state !== 'done').map((i) => ({kind: i.kind, name: i.name, namespace: i.namespace, state: i.detail}))
}
