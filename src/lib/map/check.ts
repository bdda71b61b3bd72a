import {readBackupStatus} from '../backup/status.js'
import type {Homelab} from '../config/load.js'
import {runKubectl, type RemoteRunner} from '../flux/kubectl.js'
import {isUnder} from '../fs/path-under.js'
import {shellQuote} from '../ssh/shell.js'
import type {TopologyMap} from './types.js'

/** Namespaces of k3s and Flux themselves: their workloads are not the apps' and never count as drift. */
export const SYSTEM_NAMESPACES = ['flux-system', 'kube-node-lease', 'kube-public', 'kube-system'] as const

/** What one mismatch is about. */
export type MismatchKind = 'service' | 'service-port' | 'endpoints' | 'volume' | 'folder' | 'folder-owner' | 'snapshot' | 'workload' | 'stray-folder'

/** One difference between the map (the repository) and the live host: `message` names both sides. */
export interface MapMismatch {
  kind: MismatchKind
  /** The app it concerns, when one does. */
  app: string | null
  message: string
}

/** The result of `homelab map --check` (its --json output, schemas/map-check in map.schema.json). */
export interface MapCheckReport {
  schemaVersion: 1
  /** The host checked (homelab.yaml name). */
  host: string
  ok: boolean
  mismatches: MapMismatch[]
}

type Live = {kind: string; metadata: {name: string; namespace?: string}; spec?: Record<string, unknown>; status?: Record<string, unknown>; subsets?: Array<{addresses?: unknown[]}>}

/** The kinds read with one `k3s kubectl get … -A -o json`. */
export const LIVE_KINDS = 'services,endpoints,persistentvolumes,persistentvolumeclaims,deployments,statefulsets,daemonsets'

/**
 * Compares the map with the live host over `connection` (one SSH connection; three commands in
 * parallel: one `k3s kubectl get LIVE_KINDS -A -o json`, one `stat`/`find` of the storage root,
 * and the backup state reader of `homelab backup status`):
 * every Service and port of an app exists in the cluster; every tunnel hostname's Service has
 * ready endpoints; every PersistentVolume of an app is Bound and its host folder exists with the
 * owner and mode of the storage file; every backup source has a snapshot; no Deployment,
 * StatefulSet or DaemonSet runs outside {@link SYSTEM_NAMESPACES} that no app declares; no folder
 * under the storage root belongs to no app. Mismatches are sorted by kind, then message.
 * @throws KubectlError when kubectl fails on the host; HostUnreachableError and other transport errors
 */
export async function checkMap(options: {connection: RemoteRunner; homelab: Homelab; map: TopologyMap; host: string; now?: Date}): Promise<MapCheckReport> {
  const {connection, map} = options
  const folders = [...new Set(map.apps.flatMap((a) => [...a.volumes.map((v) => v.hostPath), a.storage?.path]).filter((p): p is string => typeof p === 'string'))].sort()
  const root = map.storageRoot
  const script = [
    'echo "#stat"',
    ...(folders.length > 0 ? [`stat -c '%u %g %a %F|%n' -- ${folders.map((f) => shellQuote(f)).join(' ')} 2>/dev/null`] : []),
    'echo "#root"',
    `if [ -d ${shellQuote(root)} ]; then find ${shellQuote(root)} -mindepth 1 -maxdepth 1 -type d 2>/dev/null; fi`,
    'exit 0',
  ].join('\n')
  const [kubectlOut, fsOut, backups] = await Promise.all([
    runKubectl(connection, ['get', LIVE_KINDS, '-A', '-o', 'json']),
    connection.exec(script),
    readBackupStatus({connection: connection as Parameters<typeof readBackupStatus>[0]['connection'], homelab: options.homelab, host: options.host, now: options.now}),
  ])
  const items = (JSON.parse(kubectlOut) as {items?: Live[]}).items ?? []
  const find = (kind: string, ns: string | undefined, name: string) => items.find((o) => o.kind === kind && o.metadata.name === name && (ns === undefined || (o.metadata.namespace ?? 'default') === ns))
  const out: MapMismatch[] = []
  const add = (kind: MismatchKind, app: string | null, message: string) => out.push({app, kind, message})

  // Services and ports.
  for (const a of map.apps)
    for (const s of a.services) {
      const live = find('Service', s.namespace, s.name)
      if (!live) {
        add('service', a.name, `Service ${s.namespace}/${s.name}: declared by app ${a.name} in the repository, not in the cluster`)
        continue
      }

      const livePorts = ((live.spec?.ports ?? []) as Array<{port?: number}>).map((p) => p.port)
      for (const p of s.ports)
        if (!livePorts.includes(p.port)) add('service-port', a.name, `Service ${s.namespace}/${s.name} port ${p.port}: in the repository; the cluster's Service has port ${livePorts.join(', ') || 'none'}`)
    }

  // Tunnel hostnames → Services with endpoints.
  for (const r of map.tunnel?.routes ?? []) {
    if (!r.target) continue
    const svc = `${r.target.namespace}/${r.target.name}`
    if (!find('Service', r.target.namespace, r.target.name)) {
      add('endpoints', r.app, `hostname ${r.hostname} → Service ${svc}: the tunnel routes there, the cluster has no such Service`)
      continue
    }

    const ep = find('Endpoints', r.target.namespace, r.target.name)
    const ready = (ep?.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0), 0)
    if (ready === 0) add('endpoints', r.app, `hostname ${r.hostname} → Service ${svc}: no ready endpoints in the cluster (no pod of it is Ready)`)
  }

  // PersistentVolumes Bound; host folders with owner and mode.
  const stats = new Map<string, {uid: number; gid: number; mode: number; type: string}>()
  let section = ''
  for (const line of fsOut.stdout.split('\n')) {
    if (line.startsWith('#')) section = line.slice(1)
    else if (section === 'stat') {
      const m = /^(\d+) (\d+) ([0-7]+) ([^|]+)\|(.*)$/.exec(line)
      if (m) stats.set(m[5], {gid: Number(m[2]), mode: Number.parseInt(m[3], 8), type: m[4], uid: Number(m[1])})
    }
  }

  const liveFolders = fsOut.stdout.split('#root\n')[1]?.split('\n').filter((l) => l.startsWith('/')) ?? []
  for (const a of map.apps) {
    for (const v of a.volumes) {
      if (!v.volume) continue
      const pv = find('PersistentVolume', undefined, v.volume)
      const phase = pv?.status?.phase
      if (!pv) add('volume', a.name, `PersistentVolume ${v.volume} (app ${a.name}): declared in the repository, not in the cluster`)
      else if (phase !== 'Bound') add('volume', a.name, `PersistentVolume ${v.volume} (app ${a.name}): the repository binds it to claim ${v.namespace}/${v.claim}; in the cluster it is ${String(phase ?? 'without a phase')}, not Bound`)
    }

    const folder = a.storage?.path ?? a.volumes.find((v) => v.hostPath)?.hostPath
    if (!folder) continue
    const st = stats.get(folder)
    if (!st || st.type !== 'directory') {
      add('folder', a.name, `host folder ${folder} (app ${a.name}): in the repository, ${st ? `a ${st.type}` : 'missing'} on ${options.host}`)
      continue
    }

    if (a.storage && (st.uid !== a.storage.uid || st.gid !== a.storage.gid || st.mode !== Number.parseInt(a.storage.mode, 8)))
      add('folder-owner', a.name, `host folder ${folder} (app ${a.name}): the storage file says ${a.storage.uid}:${a.storage.gid} mode ${a.storage.mode}; on ${options.host} it is ${st.uid}:${st.gid} mode 0${st.mode.toString(8)}`)
  }

  // Backup sources with a snapshot.
  for (const s of backups.sources) {
    if (s.state === 'uncovered') continue
    if (!s.lastSnapshot) add('snapshot', map.apps.find((a) => a.backup?.source === s.path)?.name ?? null, `backup source ${s.path}: in the repository, no snapshot of it in the Kopia repository on ${options.host}`)
  }

  // Workloads nobody declares.
  const declared = new Set(map.apps.flatMap((a) => a.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`)))
  for (const o of items) {
    if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet' && o.kind !== 'DaemonSet') continue
    const ns = o.metadata.namespace ?? 'default'
    if ((SYSTEM_NAMESPACES as readonly string[]).includes(ns) || declared.has(`${o.kind}/${ns}/${o.metadata.name}`)) continue
    add('workload', null, `${o.kind} ${ns}/${o.metadata.name}: runs in the cluster, no app in the repository declares it`)
  }

  // Folders under the storage root that belong to no app.
  const owned = [...folders, ...map.backup.sources]
  for (const f of liveFolders.sort())
    if (!owned.some((o) => isUnder(f, o) || isUnder(o, f))) add('stray-folder', null, `folder ${f} on ${options.host}: under the storage root, belongs to no app of the repository (not in the storage file or a PersistentVolume)`)

  const order: MismatchKind[] = ['service', 'service-port', 'endpoints', 'volume', 'folder', 'folder-owner', 'snapshot', 'workload', 'stray-folder']
  out.sort((x, y) => order.indexOf(x.kind) - order.indexOf(y.kind) || x.message.localeCompare(y.message))
  return {host: options.host, mismatches: out, ok: out.length === 0, schemaVersion: 1}
}
