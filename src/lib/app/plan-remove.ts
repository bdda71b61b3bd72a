import path from 'node:path'

import type {Homelab} from '../config/load.js'
import {UsageError} from '../errors.js'
import {existsNoFollow} from '../fs/inside-repo.js'
import type {ChangeSet} from './change-set.js'
import {configChecksum, type IngressRule, removeIngressRules, setChecksumAnnotation} from './edit-cloudflared.js'
import {isObject, removeDocuments} from './edit-documents.js'
import {removeResource} from './edit-kustomization.js'
import {removeStorageApp} from './edit-storage.js'
import {readAppFolder, serviceHosts} from './read-app.js'
import {reservedNamespace} from './reserved.js'
import {type AppTree, listsApp, readAppTree} from './tree.js'

/** A prepared `homelab app remove`: the change set and what it takes out. */
export interface RemoveAppPlan {
  name: string
  set: ChangeSet
  appDir: string
  /** Host folders whose data stays on the host (the removed volumes' hostPaths). */
  keptData: string[]
  /** Hostnames whose tunnel routes are removed. */
  hostnames: string[]
  /** PersistentVolume names removed. */
  volumes: string[]
}

/** What to do instead of `homelab app remove` for what it refuses. */
const HAND_REMOVAL = 'if you really mean it, delete the folder and its apps kustomization entry by hand and review the diff'

/** True when an ingress rule's service URL points at one of `hosts` (`<svc>.<ns>[.svc[.cluster.local]]`). */
export function routesTo(rule: IngressRule, hosts: ReadonlySet<string>): boolean {
  const m = /^https?:\/\/([^:/]+)/.exec(rule.service)
  if (!m) return false
  const host = m[1].replace(/\.svc(\.cluster\.local)?$/, '')
  return hosts.has(host)
}

/**
 * Prepares `homelab app remove NAME` in memory: deletes the app folder and takes out of the shared
 * files exactly what `app new` put there: the apps kustomization entry, the PersistentVolumes bound
 * to the folder's claims, the storage file entry of the app, the tunnel routes to the folder's
 * Services (and the checksum annotation follows the new config). The host data stays.
 *
 * Only apps `app new` could have written are removed: it refuses the cloudflared tunnel, a
 * reserved name (reserved.ts: system namespaces, namespaces declared or used outside the apps
 * folder), and a folder that declares or puts objects in a reserved namespace, since removing it
 * would make Flux (prune: true) delete platform objects or a whole system namespace. There is no
 * override: such pieces are taken out by hand.
 * @throws UsageError when there is no such app, or it is one of the refused ones above
 */
export async function planRemoveApp(options: {homelab: Homelab; name: string; tree?: AppTree}): Promise<RemoveAppPlan> {
  const {homelab, name} = options
  const tree = options.tree ?? (await readAppTree(homelab))
  const {layout} = tree
  const appDir = `${layout.appsDir}/${name}`
  if (!existsNoFollow(path.join(homelab.root, appDir)) && !listsApp(tree, name))
    throw new UsageError(`no app ${name} in ${layout.appsDir}`, {suggestions: ['see the apps with: homelab app list']})
  if (name === 'cloudflared' || path.posix.join(layout.appsDir, name) === layout.tunnelDir)
    throw new UsageError(`${name} is the Cloudflare Tunnel every hostname goes through; homelab app remove will not take it out`, {suggestions: [HAND_REMOVAL]})
  const reservedName = reservedNamespace(tree, name)
  if (reservedName)
    throw new UsageError(`${name} is not an app homelab app new writes (the name is reserved: ${reservedName}); homelab app remove will not take it out`, {
      suggestions: [HAND_REMOVAL],
    })

  const folder = await readAppFolder(homelab.root, appDir)
  for (const ns of folder.namespaces) {
    const reason = reservedNamespace(tree, ns.name)
    if (reason)
      throw new UsageError(
        `${ns.file} ${ns.declared ? 'declares' : 'puts objects in'} namespace ${ns.name} (${reason}); homelab app remove will not take out ${name}`,
        {suggestions: [HAND_REMOVAL]},
      )
  }
  const files: ChangeSet['files'] = folder.files.map((f) => ({after: null, before: f.text, path: f.path}))
  const edited = new Map<string, string>()
  const textOf = (rel: string) => edited.get(rel) ?? tree.texts.get(rel)!

  edited.set(layout.appsKustomization, removeResource(textOf(layout.appsKustomization), name, layout.appsKustomization))

  // Volumes bound to the folder's claims, and their storage entries.
  const claims = new Set(folder.claims.map((c) => `${c.namespace}/${c.name}`))
  const bound = tree.volumes.filter((v) => v.claimRef && claims.has(`${v.claimRef.namespace}/${v.claimRef.name}`))
  if (bound.length > 0 && tree.texts.has(layout.persistentVolumes)) {
    const names = new Set(bound.map((v) => v.name))
    const {text} = removeDocuments(
      textOf(layout.persistentVolumes),
      layout.persistentVolumes,
      (value) => isObject(value, 'PersistentVolume') && names.has(String(value.metadata?.name)),
      () => name,
    )
    edited.set(layout.persistentVolumes, text)
  }

  const keptData = bound.map((v) => v.hostPath).filter((p): p is string => Boolean(p))
  for (const entry of tree.storage.apps)
    if (entry.name === name || keptData.includes(entry.path)) {
      edited.set(layout.storageFile, removeStorageApp(textOf(layout.storageFile), entry.name, layout.storageFile))
      if (!keptData.includes(entry.path)) keptData.push(entry.path)
    }

  let hostnames: string[] = []
  if (tree.tunnel) {
    const hosts = serviceHosts(folder)
    const {configFile, deploymentFile} = tree.tunnel
    const result = removeIngressRules(textOf(configFile), configFile, (rule) => routesTo(rule, hosts))
    hostnames = result.removed
    if (hostnames.length > 0) {
      edited.set(configFile, result.text)
      if (deploymentFile) {
        const rolled = setChecksumAnnotation(textOf(deploymentFile), deploymentFile, 'cloudflared', configChecksum(result.config))
        if (rolled !== undefined) edited.set(deploymentFile, rolled)
      }
    }
  }

  for (const [rel, after] of edited) {
    const before = tree.texts.get(rel) ?? null
    if (after !== before) files.push({after, before, path: rel})
  }

  const dirs = [appDir, ...folder.dirs]
  return {
    appDir,
    hostnames,
    keptData,
    name,
    set: {files, removeEmptyDirs: dirs, root: homelab.root},
    volumes: bound.map((v) => v.name),
  }
}
