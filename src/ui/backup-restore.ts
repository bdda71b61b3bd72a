import type {ChalkInstance} from 'chalk'

import {captureOf, DUMP_DIR} from '../lib/backup/capture.js'
import type {AsideFolder, InPlacePlan, SnapshotSummary} from '../lib/backup/restore/index.js'
import {formatBytes} from './backup.js'
import {renderTable} from './table.js'

const time = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
const count = (n: number | null) => (n === null ? '-' : String(n))

/** `homelab backup restore SOURCE --list`: one row per snapshot, newest first. */
export function renderSnapshotList(source: string, snapshots: SnapshotSummary[]): string {
  if (snapshots.length === 0) return `${source} has no snapshot yet`
  return [`Snapshots of ${source}, newest first:`, renderTable(['ID', 'TIME', 'SIZE', 'FILES'], snapshots.map((s) => [s.id, time(s.time), formatBytes(s.size), count(s.files)]))].join('\n')
}

/** What an in-place restore will replace and do, shown before the confirmation. */
export function renderInPlacePlan(plan: InPlacePlan, host: string, c: ChalkInstance): string {
  const {app, current, snapshot} = plan
  const capture = captureOf(app)
  const lines = [
    `Restore ${c.bold(app.name)} in place on ${host}:`,
    `  replace    ${app.path}: ${current.exists ? `${formatBytes(current.size)}, ${current.files} files` : 'absent'}${current.exists ? ` (moved aside to ${plan.aside}, kept until --prune-aside)` : ''}`,
    `  with       snapshot ${snapshot.id} of ${time(snapshot.time)}: ${formatBytes(snapshot.size)}, ${count(snapshot.files)} files`,
    `  workloads  ${plan.workloads.length === 0 ? `none running in namespace ${plan.namespace}` : `${plan.workloads.map((w) => `${w.ref} (${w.replicas})`).join(', ')} in namespace ${plan.namespace}: scaled to 0 meanwhile, then back`}`,
    ...(plan.kustomizations.length === 0 ? [] : [`  flux       Kustomization ${plan.kustomizations.map((ks) => `${ks.namespace}/${ks.name}`).join(', ')}: suspended meanwhile (unless suspended already), then resumed`]),
    `  owner      ${app.uid}:${app.gid} mode ${app.mode} on ${app.path}`,
  ]
  if (capture.mode === 'sqlite') lines.push(`  re-import  ${capture.databases.join(', ')} from ${DUMP_DIR}/sqlite/`)
  if (capture.mode === 'postgres') lines.push(`  re-import  ${capture.database} with pg_restore in ${capture.workload}, started alone first`)
  return lines.join('\n')
}

/** The aside folders `--prune-aside` would remove. */
export function renderAsideList(source: string, folders: AsideFolder[]): string {
  if (folders.length === 0) return `${source} has no folder kept aside`
  return [`Folders kept aside for ${source}:`, renderTable(['FOLDER', 'SIZE', 'FILES'], folders.map((f) => [f.path, formatBytes(f.size), String(f.files)]))].join('\n')
}
