import {type Dirent, promises as fs} from 'node:fs'
import path from 'node:path'
import {parse} from 'yaml'

import type {Homelab} from '../config/load.js'
import {storageFileSchema, type StorageFile} from '../config/schema.js'
import {parseYamlWithSchema} from '../config/load.js'
import {ConfigError} from '../errors.js'
import {assertInsideRepo} from '../fs/inside-repo.js'
import {readRegularFile} from '../fs/read-regular.js'
import {parseYamlDocuments, yamlToJS} from '../yaml/parse.js'
import {documentChunks, isObject} from './edit-documents.js'
import {hasTunnelConfig, type IngressRule, readTunnelConfig} from './edit-cloudflared.js'
import {isFolderEntry, kustomizationResources} from './edit-kustomization.js'

/**
 * The parts of a homelab's tree that `homelab app new|list|remove` read and edit, in the layout of
 * the reference homelab (docs: contracts "The reference tree"). Paths are relative to the
 * repository root, with `/`.
 */
export interface AppLayout {
  /** `<cluster.path>`: the folder the Flux Kustomization `flux-system` applies. */
  clusterPath: string
  /** `<cluster.path>/manifests/apps`: one folder per app. */
  appsDir: string
  /** `<appsDir>/kustomization.yaml`: lists every app folder. */
  appsKustomization: string
  /** `<cluster.path>/manifests/cluster/persistent-volumes.yaml`: one hostPath PersistentVolume per app. */
  persistentVolumes: string
  /** `<cluster.path>/manifests/cluster`: cluster-wide objects (namespaces, volumes). */
  clusterDir: string
  /** The storage file (homelab.yaml `storage.file`). */
  storageFile: string
  /** `<appsDir>/cloudflared`: the tunnel's Deployment and ConfigMap. */
  tunnelDir: string
}

/** The layout for a homelab (from homelab.yaml `cluster.path` and `storage.file`). */
export function appLayout(homelab: Homelab): AppLayout {
  const cluster = homelab.config.cluster.path.replace(/\/+$/, '')
  const appsDir = `${cluster}/manifests/apps`
  return {
    appsDir,
    appsKustomization: `${appsDir}/kustomization.yaml`,
    clusterDir: `${cluster}/manifests/cluster`,
    clusterPath: cluster,
    persistentVolumes: `${cluster}/manifests/cluster/persistent-volumes.yaml`,
    storageFile: homelab.config.storage.file,
    tunnelDir: `${appsDir}/cloudflared`,
  }
}

/** One hostPath PersistentVolume of persistent-volumes.yaml. */
export interface TreeVolume {
  name: string
  hostPath?: string
  capacity?: string
  claimRef?: {namespace?: string; name?: string}
}

/** The tunnel's configuration files (absent when the tree has no cloudflared ConfigMap). */
export interface TreeTunnel {
  /** File holding the ConfigMap with `config.yaml`. */
  configFile: string
  /** File holding the cloudflared Deployment (may be the same file). */
  deploymentFile?: string
  rules: IngressRule[]
  /** The `tunnel:` of config.yaml (tunnel ID or name), when set. */
  tunnel?: string
}

/** A snapshot of the shared files an app touches: their text (for edits) and what they say. */
export interface AppTree {
  root: string
  layout: AppLayout
  /** Text of each shared file read, by repo-relative path (the `before` of a change set). */
  texts: Map<string, string>
  /** Entries of the apps kustomization's `resources`. */
  resources: string[]
  volumes: TreeVolume[]
  storage: StorageFile
  tunnel?: TreeTunnel
  /** Namespace objects declared under the cluster folder, by name → file. */
  namespaces: Map<string, string>
  /**
   * Namespaces that something outside the apps folder (anywhere else under `<cluster.path>`)
   * declares as a Namespace object or puts objects in (`metadata.namespace`, a kustomization's
   * `namespace:`, a Flux `spec.targetNamespace`), by name → the first such file and how.
   * No app may take these (see reserved.ts).
   */
  outsideNamespaces: Map<string, OutsideNamespace>
  /**
   * The YAML files of the app folders' top level read for their Namespace objects: repo-relative
   * path → text and its documents as plain data (syntax errors left out). readAppFolder reuses
   * them instead of parsing the same text again.
   */
  parsed: Map<string, ParsedFile>
}

/** A YAML file read and parsed once: its text and its documents as plain data (those with syntax errors left out). */
export interface ParsedFile {
  text: string
  objects: unknown[]
}

/** Where a namespace outside the apps folder comes from. */
export interface OutsideNamespace {
  /** Repo-relative file. */
  file: string
  /** True when the file declares the Namespace object; false when it only puts objects there. */
  declared: boolean
}

/**
 * Reads a repo file as text; undefined when missing.
 * @throws OutsideRepoError when `rel` leads out of the repository through a symbolic link (nothing read);
 *   NotRegularFileError when it is a FIFO, device or socket (never opened)
 */
export async function readText(root: string, rel: string): Promise<string | undefined> {
  await assertInsideRepo(root, rel)
  try {
    return await readRegularFile(root, rel)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function yamlFilesIn(root: string, rel: string): Promise<string[]> {
  try {
    const names = await fs.readdir(path.join(root, rel))
    return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => `${rel}/${n}`)
  } catch {
    return []
  }
}

/** Every YAML file under `rel` (recursive, sorted), skipping the folders in `skip` (repo-relative). */
async function yamlFilesUnder(root: string, rel: string, skip: ReadonlySet<string>): Promise<string[]> {
  let entries: Dirent[]
  try {
    entries = await fs.readdir(path.join(root, rel), {withFileTypes: true})
  } catch {
    return []
  }

  const out: string[] = []
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const child = `${rel}/${entry.name}`
    if (entry.isDirectory()) {
      if (!skip.has(child)) out.push(...(await yamlFilesUnder(root, child, skip)))
    } else if (/\.ya?ml$/.test(entry.name)) out.push(child)
  }

  return out
}

/** The namespaces a file's objects declare (Namespace objects) or live in, in file order. */
function namespacesIn(objects: unknown[]): {name: string; declared: boolean}[] {
  const out: {name: string; declared: boolean}[] = []
  for (const o of objects) {
    if (!o || typeof o !== 'object') continue
    const obj = o as {kind?: unknown; metadata?: {name?: unknown; namespace?: unknown}; namespace?: unknown; spec?: {targetNamespace?: unknown}}
    if (obj.kind === 'Namespace' && typeof obj.metadata?.name === 'string') out.push({declared: true, name: obj.metadata.name})
    for (const used of [obj.metadata?.namespace, obj.kind === 'Kustomization' ? obj.namespace : undefined, obj.spec?.targetNamespace])
      if (typeof used === 'string' && used !== '') out.push({declared: false, name: used})
  }

  return out
}

/**
 * The documents of a YAML text as plain data, those with syntax errors left out.
 * @param file the name to show in errors (repository-relative)
 * @throws ConfigError for an alias bomb (see yamlToJS)
 */
function objectsOf(text: string, file: string): unknown[] {
  const {docs, lineCounter} = parseYamlDocuments(text)
  return docs.filter((d) => d.errors.length === 0).map((d) => yamlToJS(d, lineCounter, file))
}

/**
 * Reads the tree's shared app files. Missing optional files (persistent-volumes.yaml, the tunnel)
 * read as empty.
 * @throws ConfigError when the apps kustomization or the storage file is missing or malformed
 */
export async function readAppTree(homelab: Homelab): Promise<AppTree> {
  const {root} = homelab
  const layout = appLayout(homelab)
  const texts = new Map<string, string>()

  const kustomization = await readText(root, layout.appsKustomization)
  if (kustomization === undefined)
    throw new ConfigError(`${layout.appsKustomization}: missing`, {suggestions: ['the apps Kustomization (cluster apps.yaml) points at this folder; create it with resources: []']})
  texts.set(layout.appsKustomization, kustomization)
  const resources = kustomizationResources(kustomization, layout.appsKustomization)

  const storageText = await readText(root, layout.storageFile)
  if (storageText === undefined) throw new ConfigError(`${layout.storageFile}: missing (homelab.yaml storage.file names it)`)
  texts.set(layout.storageFile, storageText)
  const storage = parseYamlWithSchema(storageText, layout.storageFile, storageFileSchema)

  const volumes: TreeVolume[] = []
  const pvText = await readText(root, layout.persistentVolumes)
  if (pvText !== undefined) {
    texts.set(layout.persistentVolumes, pvText)
    for (const chunk of documentChunks(pvText, layout.persistentVolumes)) {
      if (!isObject(chunk.value, 'PersistentVolume')) continue
      const spec = (chunk.value.spec ?? {}) as {capacity?: {storage?: unknown}; claimRef?: {namespace?: string; name?: string}; hostPath?: {path?: string}}
      volumes.push({
        capacity: spec.capacity?.storage === undefined ? undefined : String(spec.capacity.storage),
        claimRef: spec.claimRef,
        hostPath: spec.hostPath?.path,
        name: String(chunk.value.metadata?.name ?? ''),
      })
    }
  }

  let tunnel: TreeTunnel | undefined
  for (const file of await yamlFilesIn(root, layout.tunnelDir)) {
    const text = (await readText(root, file))!
    if (hasTunnelConfig(text, file)) {
      texts.set(file, text)
      const {config, rules} = readTunnelConfig(text, file)
      const id = (parse(config) as {tunnel?: unknown} | null)?.tunnel
      tunnel = {configFile: file, rules, tunnel: typeof id === 'string' ? id : undefined}
    }
  }

  if (tunnel)
    for (const file of await yamlFilesIn(root, layout.tunnelDir)) {
      const text = texts.get(file) ?? (await readText(root, file))!
      if (objectsOf(text, file).some((o) => isObject(o, 'Deployment', 'cloudflared'))) {
        texts.set(file, text)
        tunnel.deploymentFile = file
      }
    }

  const namespaces = new Map<string, string>()
  const parsed = new Map<string, ParsedFile>()
  const folders = (await fs.readdir(path.join(root, layout.appsDir), {withFileTypes: true}).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => `${layout.appsDir}/${d.name}`)
  for (const dir of [layout.clusterDir, ...folders])
    for (const file of await yamlFilesIn(root, dir)) {
      if (file.endsWith('.sops.yaml')) continue
      const text = (await readText(root, file))!
      const objects = objectsOf(text, file)
      parsed.set(file, {objects, text})
      for (const o of objects) if (isObject(o, 'Namespace') && o.metadata?.name) namespaces.set(o.metadata.name, file)
    }

  const outsideNamespaces = new Map<string, OutsideNamespace>()
  for (const file of await yamlFilesUnder(root, layout.clusterPath, new Set([layout.appsDir])))
    for (const ns of namespacesIn(objectsOf((await readText(root, file))!, file))) {
      const known = outsideNamespaces.get(ns.name)
      if (!known || (ns.declared && !known.declared)) outsideNamespaces.set(ns.name, {declared: ns.declared, file})
    }

  return {layout, namespaces, outsideNamespaces, parsed, resources, root, storage, texts, tunnel, volumes}
}

/** App folder names listed in the apps kustomization (entries that are folders, in file order). */
export function appFolders(tree: AppTree): string[] {
  return tree.resources.filter((r) => !/\.ya?ml$/.test(r)).map((r) => r.replace(/^\.\//, '').replace(/\/$/, ''))
}

/** True when the apps kustomization lists folder `name`. */
export function listsApp(tree: AppTree, name: string): boolean {
  return tree.resources.some((r) => isFolderEntry(r, name))
}
