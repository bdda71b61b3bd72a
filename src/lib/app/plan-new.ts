import path from 'node:path'

import type {Homelab} from '../config/load.js'
import {UsageError} from '../errors.js'
import {existsNoFollow} from '../fs/inside-repo.js'
import {appTemplatesDir, loadAppTemplates, renderApp} from '../scaffold/app-templates.js'
import type {ChangeSet} from './change-set.js'
import {addIngressRule, configChecksum, setChecksumAnnotation} from './edit-cloudflared.js'
import {appendDocument} from './edit-documents.js'
import {addResource} from './edit-kustomization.js'
import {addStorageApp} from './edit-storage.js'
import {pickHost} from '../config/hosts.js'
import {checkNotReserved} from './reserved.js'
import {checkSecretRule, encryptSecret} from './secret.js'
import type {AppSpec} from './spec.js'
import {type AppTree, listsApp, readAppTree} from './tree.js'

/** The Secret file name in an app folder. */
export const SECRET_FILE = 'secret.sops.yaml'

/** A prepared `homelab app new`: the change set and what it means. */
export interface NewAppPlan {
  spec: AppSpec
  set: ChangeSet
  /** Host folder of the volume (`<storage root>/<name>`), when the app has storage. */
  hostPath?: string
  /** Repo-relative app folder. */
  appDir: string
  /** Repo-relative path of the Secret file, when the app has secret keys. */
  secretFile?: string
  /** The tunnel (config.yaml `tunnel:`) the hostname is routed through, when there is one. */
  tunnel?: string
}

/**
 * Fails when `name` is reserved (a system or platform namespace, see reserved.ts: the name is the
 * app's default namespace and its folder's Namespace) or the apps folder already has it (a folder
 * or an apps kustomization entry).
 * @throws UsageError "app name NAME is reserved: <reason>" or "app NAME exists already (<folder>)"
 */
export function checkAppNameFree(homelab: Homelab, name: string, tree: AppTree): void {
  checkNotReserved(tree, name, 'app name')
  const appDir = `${tree.layout.appsDir}/${name}`
  if (existsNoFollow(path.join(homelab.root, appDir)) || listsApp(tree, name))
    throw new UsageError(`app ${name} exists already (${appDir})`, {suggestions: [`pick another name, or remove it first: homelab app remove ${name}`]})
}

/**
 * Checks a new app against the tree (name free and not reserved, namespace not reserved, storage path free, hostname free, a creation rule
 * for its Secret, a tunnel for its hostname); every failure is one line and nothing is written.
 * @throws UsageError naming the clash and what to do
 */
export async function checkNewApp(homelab: Homelab, spec: AppSpec, tree: AppTree): Promise<void> {
  const {layout} = tree
  const appDir = `${layout.appsDir}/${spec.name}`
  checkAppNameFree(homelab, spec.name, tree)
  if (spec.namespace !== spec.name) checkNotReserved(tree, spec.namespace, '--namespace')

  if (spec.storage !== undefined) {
    const hostPath = path.posix.join(homelab.config.storage.root, spec.name)
    const inStorage = tree.storage.apps.find((a) => a.name === spec.name || a.path === hostPath)
    if (inStorage)
      throw new UsageError(`storage path ${hostPath} is already used by ${inStorage.name} in ${layout.storageFile}`, {
        suggestions: ['pick another app name, or --storage 0 for no volume'],
      })
    if (tree.storage.extraBackupSources.includes(hostPath))
      throw new UsageError(`storage path ${hostPath} is already an extra backup source in ${layout.storageFile}`)
    const volume = tree.volumes.find((v) => v.name === `${spec.name}-data` || v.hostPath === hostPath)
    if (volume)
      throw new UsageError(`storage path ${hostPath} collides with PersistentVolume ${volume.name} (${volume.hostPath ?? 'no hostPath'}) in ${layout.persistentVolumes}`, {
        suggestions: ['pick another app name, or --storage 0 for no volume'],
      })
  }

  if (spec.hostname !== undefined) {
    if (spec.port === undefined) throw new UsageError(`--hostname ${spec.hostname} needs --port (the Service the tunnel routes to)`, {suggestions: ['give --port N, or --no-hostname']})
    if (!tree.tunnel)
      throw new UsageError(`no cloudflared ConfigMap with config.yaml in ${layout.tunnelDir}; cannot route ${spec.hostname}`, {suggestions: ['use --no-hostname']})
    const taken = tree.tunnel.rules.find((r) => r.hostname === spec.hostname)
    if (taken)
      throw new UsageError(`hostname ${spec.hostname} is already routed to ${taken.service} in ${tree.tunnel.configFile}`, {
        suggestions: ['pick another --hostname, or --no-hostname'],
      })
  }

  if (spec.secretKeys.length > 0) await checkSecretRule({file: `${appDir}/${SECRET_FILE}`, root: homelab.root})
}

/**
 * Prepares `homelab app new` in memory: the app folder rendered from the templates and the edits
 * of the apps kustomization, persistent-volumes.yaml, the storage file and the tunnel (ingress rule
 * before the catch-all, checksum annotation on the cloudflared Deployment). Nothing is written.
 *
 * @param secretValues the secret values by key; required for a real run when the spec has secret
 *   keys, omitted for a dry run (the Secret then shows as a note, not encrypted)
 * @throws UsageError from {@link checkNewApp}; ConfigError for a tree or template that cannot be
 *   read or edited; HomelabError from the SOPS engine
 */
export async function planNewApp(options: {homelab: Homelab; spec: AppSpec; secretValues?: ReadonlyMap<string, string>; tree?: AppTree}): Promise<NewAppPlan> {
  const {homelab} = options
  // The volume's node: --node, else the k3s server host (pickHost throws for an unknown host).
  const spec = {...options.spec, node: pickHost(homelab, options.spec.node).name}
  const tree = options.tree ?? (await readAppTree(homelab))
  await checkNewApp(homelab, spec, tree)
  const {layout} = tree
  const appDir = `${layout.appsDir}/${spec.name}`
  const templatesDir = appTemplatesDir(homelab.root)
  const templates = await loadAppTemplates(templatesDir)
  const declared = tree.namespaces.get(spec.namespace)
  const rendered = renderApp(templates, spec, homelab.config.storage.root, {
    includeNamespace: declared === undefined,
    secretValues: options.secretValues,
    templatesDir: path.relative(homelab.root, templatesDir) || templatesDir,
  })

  const files: ChangeSet['files'] = []
  for (const [name, text] of rendered.files) files.push({after: text, before: null, path: `${appDir}/${name}`})
  let secretFile: string | undefined
  if (spec.secretKeys.length > 0) {
    secretFile = `${appDir}/${SECRET_FILE}`
    const after = rendered.secretPlaintext === undefined ? '' : await encryptSecret({file: secretFile, plaintext: rendered.secretPlaintext, root: homelab.root})
    files.push({after, before: null, path: secretFile})
  }

  // Shared files: edited in order, each from the snapshot's text.
  const edited = new Map<string, string>()
  const textOf = (rel: string) => edited.get(rel) ?? tree.texts.get(rel)!
  const entryStyle = tree.resources.some((r) => r.endsWith('/')) ? `${spec.name}/` : spec.name
  edited.set(layout.appsKustomization, addResource(textOf(layout.appsKustomization), entryStyle, layout.appsKustomization))

  let hostPath: string | undefined
  if (rendered.persistentVolume !== undefined && spec.storage !== undefined) {
    hostPath = path.posix.join(homelab.config.storage.root, spec.name)
    const pvText = tree.texts.get(layout.persistentVolumes) ?? null
    edited.set(layout.persistentVolumes, appendDocument(pvText ?? '', rendered.persistentVolume, layout.persistentVolumes))
    edited.set(layout.storageFile, addStorageApp(textOf(layout.storageFile), {gid: spec.gid, mode: '0750', name: spec.name, node: spec.node, path: hostPath, uid: spec.uid, ...(spec.backup && spec.backup.mode !== 'files' ? {backup: spec.backup} : {})}, layout.storageFile))
  }

  if (rendered.ingressRule !== undefined && tree.tunnel) {
    const {configFile, deploymentFile} = tree.tunnel
    const {config, text} = addIngressRule(textOf(configFile), configFile, rendered.ingressRule)
    edited.set(configFile, text)
    if (deploymentFile) {
      const rolled = setChecksumAnnotation(textOf(deploymentFile), deploymentFile, 'cloudflared', configChecksum(config))
      if (rolled !== undefined) edited.set(deploymentFile, rolled)
    }
  }

  for (const [rel, after] of edited) {
    const before = tree.texts.get(rel) ?? null
    if (after !== before) files.push({after, before, path: rel})
  }

  return {appDir, hostPath, secretFile, set: {files, removeEmptyDirs: [], root: homelab.root}, spec, tunnel: spec.hostname ? tree.tunnel?.tunnel : undefined}
}
