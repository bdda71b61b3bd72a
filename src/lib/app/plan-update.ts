import {type Document, isMap, isScalar, isSeq, parse, parseAllDocuments, type Scalar, type YAMLMap, type YAMLSeq} from 'yaml'

import type {Homelab} from '../config/load.js'
import {ConfigError, UsageError} from '../errors.js'
import {parseQuantity} from '../validate/quantity.js'
import type {ChangeSet} from './change-set.js'
import {addIngressRule, configChecksum, renameIngressHostname, setChecksumAnnotation} from './edit-cloudflared.js'
import {routesTo} from './plan-remove.js'
import {readAppFolder, serviceHosts} from './read-app.js'
import {indentAt, insertLinesAfter, lineEnd, lineStart} from './text-edit.js'
import {type AppTree, listsApp, readAppTree} from './tree.js'

/** What `homelab app update` changes (each undefined/empty = left as it is); values already checked (spec.ts). */
export interface UpdateSpec {
  name: string
  /** New image of the app's container. */
  image?: string
  /** Plain environment variables to set (replaced in place when present, appended when not). */
  env: {name: string; value: string}[]
  /** New container port (1-65535). */
  port?: number
  /** New volume size (a quantity); never smaller than the current one. */
  storage?: string
  /** New public hostname of the app's tunnel route (added when it has none). */
  hostname?: string
}

/** One edit, for the report: what, where (repo-relative) and from → to (`from` null when added). */
export interface UpdateChange {
  what: 'image' | 'env' | 'port' | 'storage' | 'hostname'
  /** The key or object edited, e.g. `Deployment/vaultwarden container vaultwarden`, `env DOMAIN`. */
  target: string
  file: string
  from: string | null
  to: string
}

/** A prepared `homelab app update`: the change set and what it changes. */
export interface UpdateAppPlan {
  set: ChangeSet
  changes: UpdateChange[]
  /** Things the person should know (the claim's request that stays, a value already set). */
  notes: string[]
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])
const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe']

/** A scalar's new source text, in the quoting style of the old one; plain only when YAML reads it back as the same string. */
function renderScalar(source: string, value: string | number): string {
  if (typeof value === 'number') return String(value)
  if (source.startsWith('"')) return JSON.stringify(value)
  if (source.startsWith("'")) return `'${value.replaceAll("'", "''")}'`
  let plain = false
  try {
    plain = value !== '' && parse(value) === value && !/^\s|\s$|: | #|^[-?:,[\]{}#&*!|>'"%@`]/.test(value)
  } catch {
    plain = false
  }

  return plain ? value : JSON.stringify(value)
}

/** Replaces the text of a scalar node (its range) with `value`; every other byte stays. */
function replaceScalar(text: string, node: Scalar, value: string | number): string {
  const [start, end] = node.range!
  return text.slice(0, start) + renderScalar(text.slice(start, end), value) + text.slice(end)
}

function docsOf(text: string, file: string): Document.Parsed[] {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return []
  const broken = docs.find((d) => d.errors.length > 0)
  if (broken) throw new ConfigError(`${file}: invalid YAML: ${broken.errors[0].message.split('\n')[0]}`)
  return docs
}

/** The app's workload and container in a file's text: document index and the container's path. */
interface ContainerAt {
  file: string
  kind: string
  workload: string
  container: string
  /** Key path of the container (`spec.template.spec.containers.<i>`). */
  path: (string | number)[]
}

/**
 * Finds the app's main container: the workload (Deployment, StatefulSet, DaemonSet) named like the
 * app, else the folder's first; in it the container named like the app, else the first.
 */
function findContainer(files: ReadonlyMap<string, string>, name: string): ContainerAt | undefined {
  const found: ContainerAt[] = []
  for (const [file, text] of files) {
    if (!/\.ya?ml$/.test(file) || /\.sops\.ya?ml$/.test(file)) continue
    for (const doc of docsOf(text, file)) {
      const kind = doc.get('kind')
      if (typeof kind !== 'string' || !WORKLOAD_KINDS.has(kind)) continue
      const containers = doc.getIn(['spec', 'template', 'spec', 'containers'], true)
      if (!isSeq(containers) || containers.items.length === 0) continue
      const names = containers.items.map((c) => (isMap(c) ? String(c.get('name') ?? '') : ''))
      const index = Math.max(0, names.indexOf(name))
      found.push({container: names[index], file, kind, path: ['spec', 'template', 'spec', 'containers', index], workload: String(doc.getIn(['metadata', 'name']) ?? '')})
    }
  }

  return found.find((f) => f.workload === name) ?? found[0]
}

/** The document of `text` holding the container (the one whose workload is `at.workload`). */
function containerDoc(text: string, at: ContainerAt): Document.Parsed {
  const doc = docsOf(text, at.file).find((d) => d.get('kind') === at.kind && d.getIn(['metadata', 'name']) === at.workload)
  if (!doc) throw new ConfigError(`${at.file}: ${at.kind}/${at.workload} is gone`)
  return doc
}

/**
 * Sets `name=value` in the container's `env`: replaces the `value` of an existing entry in place,
 * else appends `- name/value` lines after the last entry with its indentation; an empty or absent
 * `env` is written through the Document API.
 * @returns the new text and the old value (null when added)
 * @throws UsageError when the variable comes from `valueFrom` (a Secret or ConfigMap)
 */
function setEnv(text: string, at: ContainerAt, name: string, value: string): {text: string; from: string | null} {
  const doc = containerDoc(text, at)
  const env = doc.getIn([...at.path, 'env'], true) as YAMLSeq | undefined
  if (isSeq(env)) {
    for (const item of env.items) {
      if (!isMap(item) || item.get('name') !== name) continue
      if (item.has('valueFrom'))
        throw new UsageError(`--env ${name}: ${at.file} sets it from valueFrom (a Secret or ConfigMap key); edit it there, or the secret with homelab secrets set`)
      const node = item.get('value', true)
      if (isScalar(node) && node.range) return {from: String(node.value ?? ''), text: replaceScalar(text, node, value)}
      item.set('value', value)
      return {from: null, text: docsOf(text, at.file).length === 1 ? doc.toString() : replaceDoc(text, at, doc)}
    }

    const last = env.items.at(-1) as YAMLMap | undefined
    if (!env.flow && last?.range) {
      const dash = text.lastIndexOf('-', last.range[0])
      const indent = text.slice(lineStart(text, dash), dash)
      return {from: null, text: insertLinesAfter(text, Math.max(last.range[0], last.range[1] - 1), [`${indent}- name: ${name}`, `${indent}  value: ${renderScalar('', value)}`])}
    }

    if (env.flow && env.items.length === 0 && env.range) {
      // `env: []` (as app new writes it): the empty list becomes a block list under the key.
      const [start, end] = env.range
      const keyIndent = indentAt(text, start)
      const before = text.slice(0, start).replace(/[ \t]+$/, '')
      const rest = text.slice(end)
      const eol = lineEnd(rest, 0)
      const joined = before + rest.slice(0, eol)
      const lines = [`${keyIndent}  - name: ${name}`, `${keyIndent}    value: ${renderScalar('', value)}`]
      return {from: null, text: insertLinesAfter(joined + rest.slice(eol), before.length, lines)}
    }
  }

  doc.setIn([...at.path, 'env'], doc.createNode([{name, value}]))
  return {from: null, text: replaceDoc(text, at, doc)}
}

/** The file text with the workload's document re-rendered by the Document API (other documents as they were). */
function replaceDoc(text: string, at: ContainerAt, edited: Document.Parsed): string {
  const docs = docsOf(text, at.file)
  return docs.map((d) => (d.get('kind') === at.kind && d.getIn(['metadata', 'name']) === at.workload ? edited.toString() : d.toString())).join('')
}

/**
 * Prepares `homelab app update` in memory: the edits of the app's workload (image, env, port),
 * its Services (a numeric targetPort that followed the container port) and probes, the
 * PersistentVolume of its claim (capacity) and the tunnel route (hostname, and the cloudflared
 * checksum annotation). Every edit replaces or inserts whole values in the file's text (found
 * with the yaml Document API), so comments, order and quoting stay. Nothing is written.
 *
 * Storage grows the hostPath PersistentVolume's capacity only: the claim keeps its request,
 * because Kubernetes resizes only dynamically provisioned claims whose StorageClass allows
 * expansion (admission plugin PersistentVolumeClaimResize: "only dynamically provisioned pvc can
 * be resized…"), and a claim of storageClassName "" bound to a static volume is neither; a
 * hostPath volume's capacity is not enforced anyway. The storage file records no sizes (its
 * schema has none), so it does not change.
 *
 * @throws UsageError (exit 3) for an unknown app, nothing to change, a shrink (naming the
 *   PersistentVolume's capacity or the claim's request), a hostname routed elsewhere, a port or
 *   storage the app does not have; ConfigError for a file that cannot be read or edited
 */
export async function planUpdateApp(options: {homelab: Homelab; spec: UpdateSpec; tree?: AppTree}): Promise<UpdateAppPlan> {
  const {homelab, spec} = options
  const tree = options.tree ?? (await readAppTree(homelab))
  const {layout} = tree
  const appDir = `${layout.appsDir}/${spec.name}`
  if (!listsApp(tree, spec.name)) throw new UsageError(`app ${spec.name} not found: ${layout.appsKustomization} does not list it`, {suggestions: ['homelab app list shows the apps']})
  if (spec.image === undefined && spec.env.length === 0 && spec.port === undefined && spec.storage === undefined && spec.hostname === undefined)
    throw new UsageError(`nothing to update for ${spec.name}: give --image, --env, --port, --storage or --hostname`)

  const folder = await readAppFolder(homelab.root, appDir, tree.parsed)
  const edited = new Map<string, string>()
  const original = new Map<string, string>([...tree.texts, ...folder.files.map((f) => [f.path, f.text] as const)])
  const textOf = (rel: string): string => edited.get(rel) ?? original.get(rel)!
  const folderTexts = () => new Map(folder.files.map((f) => [f.path, textOf(f.path)]))
  const changes: UpdateChange[] = []
  const notes: string[] = []

  const needContainer = spec.image !== undefined || spec.env.length > 0 || spec.port !== undefined
  const at = needContainer ? findContainer(folderTexts(), spec.name) : undefined
  if (needContainer && !at) throw new UsageError(`app ${spec.name} has no Deployment, StatefulSet or DaemonSet with a container in ${appDir}`)
  const target = at ? `${at.kind}/${at.workload} container ${at.container}` : ''

  if (at && spec.image !== undefined) {
    const text = textOf(at.file)
    const node = containerDoc(text, at).getIn([...at.path, 'image'], true)
    if (!isScalar(node) || !node.range) throw new ConfigError(`${at.file}: ${target} has no image:`)
    if (node.value === spec.image) notes.push(`image is already ${spec.image}`)
    else {
      edited.set(at.file, replaceScalar(text, node, spec.image))
      changes.push({file: at.file, from: String(node.value), target, to: spec.image, what: 'image'})
    }
  }

  if (at)
    for (const {name, value} of spec.env) {
      const {from, text} = setEnv(textOf(at.file), at, name, value)
      if (from === value) {
        notes.push(`env ${name} is already ${JSON.stringify(value)}`)
        continue
      }

      edited.set(at.file, text)
      changes.push({file: at.file, from, target: `${target} env ${name}`, to: value, what: 'env'})
    }

  if (at && spec.port !== undefined) {
    const text = textOf(at.file)
    const doc = containerDoc(text, at)
    const node = doc.getIn([...at.path, 'ports', 0, 'containerPort'], true)
    if (!isScalar(node) || !node.range)
      throw new UsageError(`app ${spec.name} has no container port (ports: of ${target} in ${at.file}): app update changes an existing port; add the port and its Service by hand`)
    const old = Number(node.value)
    if (old === spec.port) notes.push(`container port is already ${old}`)
    else {
      // Edits from the end of the file backwards keep the earlier offsets valid.
      const scalars: Scalar[] = [node]
      for (const probe of PROBES)
        for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
          const p = doc.getIn([...at.path, probe, handler, 'port'], true)
          if (isScalar(p) && p.range && Number(p.value) === old && typeof p.value === 'number') scalars.push(p)
        }

      let out = text
      for (const s of scalars.sort((a, b) => b.range![0] - a.range![0])) out = replaceScalar(out, s, spec.port)
      edited.set(at.file, out)
      changes.push({file: at.file, from: String(old), target: `${target} containerPort`, to: String(spec.port), what: 'port'})
      for (const [file] of folderTexts()) {
        if (!/\.ya?ml$/.test(file) || /\.sops\.ya?ml$/.test(file)) continue
        let t = textOf(file)
        const found: Scalar[] = []
        for (const d of docsOf(t, file)) {
          if (d.get('kind') !== 'Service') continue
          const ports = d.getIn(['spec', 'ports'], true)
          if (!isSeq(ports)) continue
          for (const p of ports.items) {
            const tp = isMap(p) ? p.get('targetPort', true) : undefined
            if (isScalar(tp) && tp.range && typeof tp.value === 'number' && tp.value === old) found.push(tp)
          }
        }

        for (const s of found.sort((a, b) => b.range![0] - a.range![0])) t = replaceScalar(t, s, spec.port)
        if (found.length > 0) {
          edited.set(file, t)
          changes.push({file, from: String(old), target: 'Service targetPort', to: String(spec.port), what: 'port'})
        }
      }
    }
  }

  if (spec.storage !== undefined) planStorage(spec, {appDir, changes, folder, layout, notes, textOf, tree, edited})
  if (spec.hostname !== undefined) planHostname(spec, {changes, folder, notes, textOf, tree, edited})

  const files: ChangeSet['files'] = []
  for (const [rel, after] of edited) {
    const before = original.get(rel) ?? null
    if (after !== before) files.push({after, before, path: rel})
  }

  return {changes, notes, set: {files, removeEmptyDirs: [], root: homelab.root}}
}

interface PlanState {
  changes: UpdateChange[]
  notes: string[]
  folder: Awaited<ReturnType<typeof readAppFolder>>
  tree: AppTree
  textOf: (rel: string) => string
  edited: Map<string, string>
}

function planStorage(spec: UpdateSpec, s: PlanState & {appDir: string; layout: AppTree['layout']}): void {
  const size = spec.storage!
  const wanted = parseQuantity(size)!
  for (const [file, text] of s.folder.files.map((f) => [f.path, s.textOf(f.path)] as const)) {
    if (!/\.ya?ml$/.test(file) || /\.sops\.ya?ml$/.test(file)) continue
    for (const d of docsOf(text, file))
      if (d.get('kind') === 'StatefulSet' && d.getIn(['spec', 'volumeClaimTemplates']) !== undefined)
        throw new UsageError(`--storage: StatefulSet/${String(d.getIn(['metadata', 'name']))} in ${file} has volumeClaimTemplates, which Kubernetes does not let change; resize its claims by hand`)
  }

  const claims = new Set(s.folder.claims.map((c) => `${c.namespace}/${c.name}`))
  const pv = s.tree.volumes.find((v) => v.claimRef && claims.has(`${v.claimRef.namespace}/${v.claimRef.name}`))
  if (!pv) throw new UsageError(`app ${spec.name} has no volume: no PersistentVolume in ${s.layout.persistentVolumes} is bound to a claim of ${s.appDir}`)
  const claimRef = `${pv.claimRef!.namespace}/${pv.claimRef!.name}`

  // The claim's request: the volume must keep covering it.
  let request: string | undefined
  let claimFile: string | undefined
  for (const f of s.folder.files) {
    if (!/\.ya?ml$/.test(f.path) || /\.sops\.ya?ml$/.test(f.path)) continue
    for (const d of docsOf(s.textOf(f.path), f.path))
      if (d.get('kind') === 'PersistentVolumeClaim' && d.getIn(['metadata', 'name']) === pv.claimRef!.name) {
        request = String(d.getIn(['spec', 'resources', 'requests', 'storage']) ?? '')
        claimFile = f.path
      }
  }

  const capacity = pv.capacity
  const capacityBytes = parseQuantity(capacity)
  if (capacityBytes !== undefined && wanted < capacityBytes)
    throw new UsageError(
      `--storage ${size} is smaller than PersistentVolume ${pv.name}'s capacity ${capacity} (${s.layout.persistentVolumes}): Kubernetes cannot shrink a volume; give ${capacity} or more`,
    )
  const requestBytes = parseQuantity(request)
  if (requestBytes !== undefined && wanted < requestBytes)
    throw new UsageError(`--storage ${size} is smaller than claim ${claimRef}'s request ${request} (${claimFile}): Kubernetes cannot shrink a claim; give ${request} or more`)
  if (capacityBytes !== undefined && wanted === capacityBytes) {
    s.notes.push(`volume ${pv.name} is already ${capacity}`)
    return
  }

  const file = s.layout.persistentVolumes
  const text = s.textOf(file)
  const doc = docsOf(text, file).find((d) => d.get('kind') === 'PersistentVolume' && d.getIn(['metadata', 'name']) === pv.name)
  const node = doc?.getIn(['spec', 'capacity', 'storage'], true)
  if (!isScalar(node) || !node.range) throw new ConfigError(`${file}: PersistentVolume ${pv.name} has no spec.capacity.storage`)
  s.edited.set(file, replaceScalar(text, node, size))
  s.changes.push({file, from: capacity ?? null, target: `PersistentVolume ${pv.name} capacity`, to: size, what: 'storage'})
  if (request !== undefined)
    s.notes.push(
      `claim ${claimRef} keeps its request ${request}: Kubernetes resizes only dynamically provisioned claims, and a hostPath volume's capacity is not enforced, so the PersistentVolume's capacity records the size`,
    )
}

function planHostname(spec: UpdateSpec, s: PlanState): void {
  const hostname = spec.hostname!
  const tunnel = s.tree.tunnel
  if (!tunnel) throw new UsageError(`no cloudflared ConfigMap with config.yaml in ${s.tree.layout.tunnelDir}; cannot route ${hostname}`)
  const hosts = serviceHosts(s.folder)
  const mine = [...new Set(tunnel.rules.filter((r) => r.hostname && routesTo(r, hosts)).map((r) => r.hostname!))]
  const taken = tunnel.rules.find((r) => r.hostname === hostname && !mine.includes(hostname))
  if (taken) throw new UsageError(`hostname ${hostname} is already routed to ${taken.service} in ${tunnel.configFile}`, {suggestions: ['pick another --hostname']})
  if (mine.length > 1)
    throw new UsageError(`app ${spec.name} is routed under ${mine.join(', ')} in ${tunnel.configFile}; --hostname changes an app with one hostname: edit the ingress rules by hand`)
  if (mine[0] === hostname) {
    s.notes.push(`hostname is already ${hostname}`)
    return
  }

  const file = tunnel.configFile
  let result: {config: string; text: string}
  if (mine.length === 1) result = renameIngressHostname(s.textOf(file), file, mine[0], hostname)
  else {
    const service = s.folder.services.find((v) => v.name === spec.name) ?? s.folder.services[0]
    if (!service?.port) throw new UsageError(`app ${spec.name} has no Service with a port in its folder: the tunnel has nothing to route ${hostname} to`)
    result = addIngressRule(s.textOf(file), file, [`- hostname: ${hostname}`, `  service: http://${service.name}.${service.namespace ?? 'default'}.svc.cluster.local:${service.port}`])
  }

  s.edited.set(file, result.text)
  s.changes.push({file, from: mine[0] ?? null, target: 'tunnel route', to: hostname, what: 'hostname'})
  if (tunnel.deploymentFile) {
    const rolled = setChecksumAnnotation(s.textOf(tunnel.deploymentFile), tunnel.deploymentFile, 'cloudflared', configChecksum(result.config))
    if (rolled !== undefined) s.edited.set(tunnel.deploymentFile, rolled)
  }

  s.notes.push(`DNS: the new hostname needs its record: cloudflared tunnel route dns ${tunnel.tunnel ?? '<tunnel>'} ${hostname}`)
}
