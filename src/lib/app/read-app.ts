import {promises as fs} from 'node:fs'
import path from 'node:path'

import {assertInsideRepo} from '../fs/inside-repo.js'
import {readRegularFile} from '../fs/read-regular.js'
import {parseYamlDocuments, yamlToJS} from '../yaml/parse.js'
import type {ParsedFile} from './tree.js'

/** What an app folder declares, read from its manifests (Kubernetes core/v1 and apps/v1 fields). */
export interface AppFolder {
  /** Every file under the folder (repo-relative) with its text. */
  files: {path: string; text: string}[]
  /** Sub-folders (repo-relative), deepest last. */
  dirs: string[]
  /** The folder kustomization's `namespace:` (applies to every object), if any. */
  namespace?: string
  workloads: {kind: string; name: string; namespace?: string; image?: string; containerPort?: number}[]
  services: {name: string; namespace?: string; port?: number}[]
  claims: {name: string; namespace?: string}[]
  /** True when the folder holds a SOPS file or a Secret, or a workload reads a Secret. */
  hasSecret: boolean
  /**
   * Every namespace the folder declares (Namespace objects, `declared: true`) or puts objects in
   * (`metadata.namespace` or the kustomization's `namespace:`), with the file that says so.
   */
  namespaces: {name: string; file: string; declared: boolean}[]
}

type K8sObject = {
  kind?: string
  metadata?: {name?: string; namespace?: string}
  spec?: Record<string, unknown>
  namespace?: string
}

async function walk(root: string, rel: string, files: AppFolder['files'], dirs: string[]): Promise<void> {
  const entries = await fs.readdir(path.join(root, rel), {withFileTypes: true})
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const child = `${rel}/${entry.name}`
    if (entry.isSymbolicLink()) await assertInsideRepo(root, child)
    if (entry.isDirectory()) {
      dirs.push(child)
      await walk(root, child, files, dirs)
    } else {
      files.push({path: child, text: await readRegularFile(root, child)})
    }
  }
}

/**
 * Reads every file of an app folder and the objects its YAML declares. Objects inherit the
 * folder kustomization's `namespace:` when they have none. Never follows a symbolic link out of
 * the repository (the folder itself, one of its parents, or an entry inside it).
 * @param appDir repo-relative folder
 * @param parsed files already parsed (AppTree.parsed): a file whose text is unchanged is not parsed again
 * @throws OutsideRepoError when the folder or an entry in it leads out of the repository (nothing read);
 *   NotRegularFileError when an entry is a FIFO, device or socket (or a link to one; never opened);
 *   NodeJS.ErrnoException when the folder cannot be read
 */
export async function readAppFolder(root: string, appDir: string, parsed?: ReadonlyMap<string, ParsedFile>): Promise<AppFolder> {
  const files: AppFolder['files'] = []
  const dirs: string[] = []
  await assertInsideRepo(root, appDir)
  try {
    await walk(root, appDir, files, dirs)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  const folder: AppFolder = {claims: [], dirs, files, hasSecret: false, namespaces: [], services: [], workloads: []}
  const objects: K8sObject[] = []
  const fileOf = new Map<K8sObject, string>()
  for (const file of files) {
    if (!/\.ya?ml$/.test(file.path)) continue
    if (/\.sops\.ya?ml$/.test(file.path)) folder.hasSecret = true
    for (const o of parsedObjects(file, parsed) as K8sObject[]) {
      objects.push(o)
      if (o && typeof o === 'object') fileOf.set(o, file.path)
    }
  }

  for (const o of objects) {
    const file = fileOf.get(o)
    if (!file) continue
    if (o.kind === 'Namespace' && typeof o.metadata?.name === 'string') folder.namespaces.push({declared: true, file, name: o.metadata.name})
    for (const used of [o.metadata?.namespace, o.kind === 'Kustomization' ? o.namespace : undefined])
      if (typeof used === 'string' && used !== '') folder.namespaces.push({declared: false, file, name: used})
  }

  folder.namespace = objects.find((o) => o?.kind === 'Kustomization' && typeof o.namespace === 'string')?.namespace
  const ns = (o: K8sObject) => o.metadata?.namespace ?? folder.namespace
  for (const o of objects) {
    if (!o || typeof o !== 'object' || !o.metadata?.name) continue
    const {name} = o.metadata
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'DaemonSet') {
      const pod = (o.spec?.template as {spec?: {containers?: {image?: string; ports?: {containerPort?: number}[]}[]; volumes?: {persistentVolumeClaim?: {claimName?: string}}[]}})?.spec
      const container = pod?.containers?.[0]
      folder.workloads.push({containerPort: container?.ports?.[0]?.containerPort, image: container?.image, kind: o.kind, name, namespace: ns(o)})
      // A Secret kept elsewhere (e.g. the tunnel credentials) still counts: the pod reads one.
      if (/"(secretName|secretRef|secretKeyRef)"/.test(JSON.stringify(pod ?? {}))) folder.hasSecret = true
    } else if (o.kind === 'Service') {
      const ports = (o.spec?.ports as {port?: number}[] | undefined) ?? []
      folder.services.push({name, namespace: ns(o), port: ports[0]?.port})
    } else if (o.kind === 'PersistentVolumeClaim') {
      folder.claims.push({name, namespace: ns(o)})
    } else if (o.kind === 'Secret') {
      folder.hasSecret = true
    }
  }

  return folder
}

/** The documents of `file` as plain data, syntax errors left out: from `parsed` when it holds the same text, else parsed now. */
function parsedObjects(file: {path: string; text: string}, parsed?: ReadonlyMap<string, ParsedFile>): unknown[] {
  const known = parsed?.get(file.path)
  if (known && known.text === file.text) return known.objects
  const {docs, lineCounter} = parseYamlDocuments(file.text)
  return docs.filter((doc) => doc.errors.length === 0).map((doc) => yamlToJS(doc, lineCounter, file.path))
}

/** The in-cluster host names of the folder's Services, as `<svc>.<ns>` (what tunnel routes point at). */
export function serviceHosts(folder: AppFolder): Set<string> {
  return new Set(folder.services.map((s) => `${s.name}.${s.namespace ?? 'default'}`))
}
