import {createHash} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import {appFolders, readAppTree, readText, type AppTree} from '../app/tree.js'
import {loadBackupSettings} from '../backup/settings.js'
import {serverHost} from '../config/hosts.js'
import {backupSources, CONFIG_FILE, type Homelab} from '../config/load.js'
import {ConfigError, HomelabError} from '../errors.js'
import {isUnder} from '../fs/path-under.js'
import {kubectlError} from '../validate/checks/kustomize.js'
import {findExecutable, mapLimit} from '../validate/tools.js'
import {firewallPorts, flakeInputs, k3sRole, lockedRevs, systemdUnits} from './nix.js'
import type {MapApp, MapFlakeInput, MapHost, MapRoute, MapService, MapVolume, MapWorkload, TopologyMap} from './types.js'

/** The host module (firewall, k3s) and the backup module (units), repository-relative. */
export const HOST_MODULE = 'nixos/homelab-module.nix'
export const BACKUP_MODULE = 'nixos/backup.nix'
/** The flakes whose inputs the map lists (each with the flake.lock beside it, when committed). */
export const FLAKES = ['flake.nix', 'nixos/flake.nix'] as const

/** The schedule of each backup timer, from the backup file (nixos/backup.nix sets them so). */
const TIMER_SCHEDULE: Record<string, (b: TopologyMap['backup']) => string> = {
  'homelab-backup-drill.timer': (b) => b.drillSchedule,
  'kopia-backup.timer': (b) => b.schedule,
  'kopia-r2-sync.timer': (b) => `every ${b.syncEveryHours}h`,
}

type Obj = Record<string, unknown> & {kind?: string; metadata?: {name?: string; namespace?: string; labels?: Record<string, string>}; spec?: Record<string, unknown>}

/** What {@link buildMap} needs. */
export interface BuildMapOptions {
  homelab: Homelab
  /** PATH to find kubectl on (default: process.env.PATH). */
  path?: string
  /** Absolute path of kubectl (found on `path` when not given). */
  kubectl?: string
}

/**
 * Builds the topology map of the homelab from the repository alone (no host): each app folder
 * the apps kustomization lists is built with `kubectl kustomize` (as Flux's kustomize-controller
 * builds it; SOPS files stay encrypted, only names are read), then joined with
 * persistent-volumes.yaml, the storage file, the tunnel's ingress rules (src/lib/app/tree.ts),
 * the backup file (src/lib/backup/settings.ts), the host module's firewall, k3s role and units,
 * and the flakes' inputs (./nix.ts).
 * @throws HomelabError when kubectl is not on PATH or an app folder does not build (names the folder);
 *   ConfigError when a shared file (apps kustomization, storage file, backup file) is missing or malformed
 */
export async function buildMap(options: BuildMapOptions): Promise<TopologyMap> {
  const {homelab} = options
  const kubectl = options.kubectl ?? (await findExecutable('kubectl', options.path ?? process.env.PATH))
  if (!kubectl)
    throw new HomelabError('kubectl not found on PATH: homelab map builds each app folder with `kubectl kustomize`', {
      suggestions: ['install kubectl (nix shell nixpkgs#kubectl, or your package manager)'],
    })
  const tree = await readAppTree(homelab)
  const settings = await loadBackupSettings(homelab)
  const names = appFolders(tree)
  const builds = await mapLimit(names, 4, async (name) => kustomize(kubectl, homelab.root, `${tree.layout.appsDir}/${name}`))
  const sopsSecrets = await sharedSopsSecrets(homelab.root, tree)
  const server = serverHost(homelab).name
  const sources = backupSources(tree.storage).sort()

  const apps = names.map((name, i) => appOf(name, builds[i], tree, {server, sopsSecrets, sources}))
  const routes = tunnelRoutes(tree, apps)
  for (const app of apps) app.hostnames = routes.filter((r) => r.app === app.name).map(({app: _, ...r}) => r)

  const backup = {
    bucket: settings.bucket,
    drillSchedule: settings.drillSchedule,
    prefix: settings.prefix,
    repositoryPath: settings.repositoryPath,
    schedule: settings.schedule,
    sources,
    syncEveryHours: settings.syncEveryHours,
  }
  const hostText = (await readText(homelab.root, HOST_MODULE)) ?? ''
  const backupText = (await readText(homelab.root, BACKUP_MODULE)) ?? ''
  const firewall = {...firewallPorts(hostText), file: HOST_MODULE}
  const units = systemdUnits(backupText).map((unit) => ({name: unit, schedule: TIMER_SCHEDULE[unit]?.(backup) ?? null}))
  // The module opens k3s's node ports (10250/tcp kubelet, 8472/udp flannel VXLAN, and 6443/tcp
  // on the server) on the host's nodeInterfaces only when there is more than one host
  // (nixos/homelab-module.nix nodePorts), and takes the k3s role from nixos/hosts.json, which
  // the CLI writes from homelab.yaml: the same role.
  const multiNode = homelab.config.hosts.length > 1
  const hosts: MapHost[] = homelab.config.hosts.map((h) => ({
    firewall: {
      ...firewall,
      interfaces: multiNode ? Object.fromEntries((h.nodeInterfaces ?? []).map((name) => [name, {tcp: h.role === 'server' ? [6443, 10250] : [10250], udp: [8472]}])) : {},
    },
    k3sRole: k3sRole(hostText) ?? h.role,
    labels: Object.fromEntries(Object.entries(h.labels).sort(([a], [b]) => a.localeCompare(b))),
    name: h.name,
    role: h.role,
    ssh: h.ssh,
    tags: [...h.tags],
    units,
  }))

  const flakes: MapFlakeInput[] = []
  for (const flake of FLAKES) {
    const text = await readText(homelab.root, flake)
    if (text === undefined) continue
    const lockFile = path.posix.join(path.posix.dirname(flake), 'flake.lock')
    const lockText = await readText(homelab.root, lockFile)
    let revs: Record<string, string> = {}
    try {
      revs = lockText === undefined ? {} : lockedRevs(lockText)
    } catch (error) {
      throw new ConfigError(`${lockFile}: not JSON (${(error as Error).message.split('\n')[0]})`)
    }

    for (const input of flakeInputs(text)) flakes.push({flake, follows: input.follows, name: input.name, rev: revs[input.name] ?? null, url: input.url})
  }

  return {
    apps,
    backup,
    cluster: homelab.config.cluster.name,
    domain: homelab.config.domain,
    flakeInputs: flakes,
    hosts,
    inputs: await inputsDigest(homelab, tree),
    schemaVersion: 1,
    storageRoot: homelab.config.storage.root,
    tunnel: tree.tunnel ? {file: tree.tunnel.configFile, id: tree.tunnel.tunnel ?? null, routes} : null,
  }
}

/** `kubectl kustomize DIR`: the objects of the build. */
async function kustomize(kubectl: string, root: string, rel: string): Promise<Obj[]> {
  const {execa} = await import('execa')
  const result = await execa(kubectl, ['kustomize', path.join(root, rel)], {reject: false, timeout: 120_000})
  if (result.exitCode !== 0)
    throw new HomelabError(`${rel}: kubectl kustomize failed: ${kubectlError(String(result.stderr), root)}`, {suggestions: ['homelab validate names the file and line']})
  return parseAllDocuments(String(result.stdout))
    .map((d) => d.toJS() as unknown)
    .filter((o): o is Obj => typeof o === 'object' && o !== null && !Array.isArray(o))
}

/** Secrets in the SOPS files the apps kustomization lists itself (not in an app folder), as `namespace/name`. */
async function sharedSopsSecrets(root: string, tree: AppTree): Promise<Set<string>> {
  const out = new Set<string>()
  for (const entry of tree.resources.filter((r) => /\.sops\.ya?ml$/.test(r))) {
    const text = await readText(root, `${tree.layout.appsDir}/${entry.replace(/^\.\//, '')}`)
    for (const doc of parseAllDocuments(text ?? '')) {
      const o = doc.toJS() as Obj | null
      if (o?.kind === 'Secret' && 'sops' in o && o.metadata?.name) out.add(`${o.metadata.namespace ?? 'default'}/${o.metadata.name}`)
    }
  }

  return out
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])

function appOf(name: string, objects: Obj[], tree: AppTree, ctx: {server: string; sopsSecrets: Set<string>; sources: string[]}): MapApp {
  const ns = (o: Obj) => o.metadata?.namespace ?? 'default'
  const podOf = (o: Obj) => ((o.spec?.template as {spec?: Record<string, unknown>} | undefined)?.spec ?? {}) as PodSpec
  const workloadObjects = objects.filter((o) => WORKLOAD_KINDS.has(String(o.kind)) && o.metadata?.name)
  const workloads: MapWorkload[] = workloadObjects.map((o) => {
    const pod = podOf(o)
    return {
      claims: [...new Set((pod.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : [])))].sort(),
      containers: (pod.containers ?? []).map((c) => ({image: String(c.image ?? ''), name: String(c.name ?? ''), ports: (c.ports ?? []).map((p) => Number(p.containerPort)).filter(Number.isInteger)})),
      kind: o.kind as MapWorkload['kind'],
      name: o.metadata!.name!,
      namespace: ns(o),
      replicas: o.kind === 'DaemonSet' ? null : typeof o.spec?.replicas === 'number' ? o.spec.replicas : 1,
    }
  })

  const services: MapService[] = objects
    .filter((o) => o.kind === 'Service' && o.metadata?.name)
    .map((o) => {
      const selector = (o.spec?.selector ?? {}) as Record<string, string>
      const picks = Object.keys(selector).length === 0 ? [] : workloadObjects.filter((w) => ns(w) === ns(o) && Object.entries(selector).every(([k, v]) => (w.spec?.template as {metadata?: {labels?: Record<string, string>}})?.metadata?.labels?.[k] === v))
      return {
        name: o.metadata!.name!,
        namespace: ns(o),
        ports: ((o.spec?.ports ?? []) as Array<Record<string, unknown>>).map((p) => ({
          name: typeof p.name === 'string' ? p.name : null,
          port: Number(p.port),
          protocol: typeof p.protocol === 'string' ? p.protocol : 'TCP',
          targetPort: resolveTargetPort(p.targetPort, Number(p.port), picks.map(podOf)),
        })),
        type: typeof o.spec?.type === 'string' ? o.spec.type : 'ClusterIP',
        workloads: picks.map((w) => w.metadata!.name!).sort(),
      }
    })

  const storageEntry = tree.storage.apps.find((a) => a.name === name) as (AppTree['storage']['apps'][number] & {node?: string}) | undefined
  const node = storageEntry?.node ?? ctx.server
  const volumes: MapVolume[] = objects
    .filter((o) => o.kind === 'PersistentVolumeClaim' && o.metadata?.name)
    .map((o) => {
      const claim = o.metadata!.name!
      const volumeName = typeof o.spec?.volumeName === 'string' ? o.spec.volumeName : undefined
      const pv = tree.volumes.find((v) => (v.claimRef?.name === claim && (v.claimRef.namespace ?? 'default') === ns(o)) || (volumeName !== undefined && v.name === volumeName))
      return {capacity: pv?.capacity ?? null, claim, hostPath: pv?.hostPath ?? null, namespace: ns(o), node, volume: pv?.name ?? null}
    })

  // Secrets the pods mount or read, with whether a SOPS file of the app (or of the apps folder) holds them.
  const sops = new Set(ctx.sopsSecrets)
  for (const o of objects) if (o.kind === 'Secret' && 'sops' in o && o.metadata?.name) sops.add(`${ns(o)}/${o.metadata.name}`)
  const secretKeys = new Set<string>()
  for (const o of workloadObjects) for (const s of secretNames(podOf(o))) secretKeys.add(`${ns(o)}/${s}`)
  const secrets = [...secretKeys].sort().map((key) => {
    const [namespace, secret] = key.split('/')
    return {name: secret, namespace, sops: sops.has(key)}
  })

  const folder = volumes.find((v) => v.hostPath)?.hostPath ?? storageEntry?.path
  const source = folder ? ctx.sources.find((s) => isUnder(folder, s)) : undefined
  const first = objects.find((o) => o.metadata?.namespace)
  return {
    backup: source ? {mode: storageEntry?.backup?.mode ?? 'files', source} : null,
    hostnames: [],
    name,
    namespace: workloads[0]?.namespace ?? services[0]?.namespace ?? first?.metadata?.namespace ?? null,
    secrets,
    services,
    storage: storageEntry ? {gid: storageEntry.gid, mode: storageEntry.mode, node, path: storageEntry.path, uid: storageEntry.uid} : null,
    volumes,
    workloads,
  }
}

/** A Service port's targetPort as a number: a named port resolved through the selected pods' container ports (kept as the name when none has it); absent = the port. */
function resolveTargetPort(target: unknown, port: number, pods: PodSpec[]): number | string {
  if (typeof target === 'number') return target
  if (typeof target !== 'string' || target === '') return port
  if (/^\d+$/.test(target)) return Number(target)
  for (const pod of pods) for (const c of pod.containers ?? []) for (const p of c.ports ?? []) if (p.name === target && typeof p.containerPort === 'number') return p.containerPort
  return target
}

interface PodSpec {
  containers?: Array<{name?: string; image?: string; ports?: Array<{containerPort?: number; name?: string}>; env?: Array<{valueFrom?: {secretKeyRef?: {name?: string}}}>; envFrom?: Array<{secretRef?: {name?: string}}>}>
  initContainers?: PodSpec['containers']
  volumes?: Array<{persistentVolumeClaim?: {claimName?: string}; secret?: {secretName?: string}; projected?: {sources?: Array<{secret?: {name?: string}}>}}>
  imagePullSecrets?: Array<{name?: string}>
}

/** Names of the Secrets a pod mounts (secret and projected volumes) or reads (env, envFrom, imagePullSecrets). */
function secretNames(pod: PodSpec): string[] {
  const out: Array<string | undefined> = []
  for (const v of pod.volumes ?? []) {
    out.push(v.secret?.secretName)
    for (const s of v.projected?.sources ?? []) out.push(s.secret?.name)
  }

  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    for (const e of c.env ?? []) out.push(e.valueFrom?.secretKeyRef?.name)
    for (const e of c.envFrom ?? []) out.push(e.secretRef?.name)
  }

  for (const s of pod.imagePullSecrets ?? []) out.push(s.name)
  return out.filter((s): s is string => typeof s === 'string' && s !== '')
}

/**
 * The tunnel's rules with a hostname, each with its in-cluster target (`http://SVC.NS[.svc.cluster.local][:PORT]`;
 * the port defaults to 80/443 by scheme) and the app owning that Service.
 */
function tunnelRoutes(tree: AppTree, apps: MapApp[]): Array<MapRoute & {app: string | null}> {
  const tunnelNs = apps.find((a) => a.name === path.posix.basename(tree.layout.tunnelDir))?.namespace ?? 'default'
  return (tree.tunnel?.rules ?? [])
    .filter((r) => typeof r.hostname === 'string' && r.hostname !== '')
    .map((r) => {
      const rule = r as typeof r & {path?: unknown}
      const target = serviceTarget(String(r.service), tunnelNs)
      const app = target ? apps.find((a) => a.services.some((s) => s.name === target.name && s.namespace === target.namespace)) : undefined
      return {app: app?.name ?? null, hostname: r.hostname!, path: typeof rule.path === 'string' ? rule.path : null, service: String(r.service), target}
    })
}

/** The Service an ingress rule's `service` URL names, or null (a status answer, an outside host). */
export function serviceTarget(service: string, defaultNamespace: string): MapRoute['target'] {
  let url: URL
  try {
    url = new URL(service)
  } catch {
    return null
  }

  if (!/^(https?|tcp|ssh|rdp|unix):$/.test(url.protocol) || !url.hostname) return null
  const labels = url.hostname.replace(/\.svc(\.cluster\.local)?$/, '').split('.')
  if (labels.length > 2 || url.hostname === 'localhost' || /^\d+(\.\d+){3}$/.test(url.hostname)) return null
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  return {name: labels[0], namespace: labels[1] ?? defaultNamespace, port}
}

/** The files the map reads and their digest (see TopologyMap.inputs). */
async function inputsDigest(homelab: Homelab, tree: AppTree): Promise<TopologyMap['inputs']> {
  const {root} = homelab
  const files = new Set<string>([CONFIG_FILE, tree.layout.storageFile, homelab.config.backup.file, HOST_MODULE, BACKUP_MODULE])
  for (const flake of FLAKES) {
    files.add(flake)
    files.add(path.posix.join(path.posix.dirname(flake), 'flake.lock'))
  }

  for (const f of await filesUnder(root, tree.layout.clusterPath)) files.add(f)
  const present = [...files].filter((f) => existsSync(path.join(root, f))).sort()
  const hash = createHash('sha256')
  // A SOPS file counts by its path only: re-encrypting a value (secrets set, rotate) changes nothing the map shows.
  for (const f of present) hash.update(f).update('\0').update(/\.sops\.ya?ml$/.test(f) ? '' : await fs.readFile(path.join(root, f))).update('\0')
  return {digest: `sha256:${hash.digest('hex')}`, files: present}
}

async function filesUnder(root: string, rel: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, rel), {withFileTypes: true}).catch(() => [])
  const out: string[] = []
  for (const e of entries) {
    const child = `${rel}/${e.name}`
    if (e.isDirectory()) out.push(...(await filesUnder(root, child)))
    else if (e.isFile()) out.push(child)
  }

  return out
}
