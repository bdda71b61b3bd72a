import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {AgeIdentity} from '../../age/identities.js'
import {type Homelab, loadStorageFile} from '../../config/load.js'
import {HomelabError} from '../../errors.js'
import {applyChanges, type FileChange, type TransactionFs} from '../../fs/transaction.js'
import {KubectlError, runKubectl} from '../../flux/kubectl.js'
import {SOPS_CONFIG_NAMES} from '../../sops/creation-rules.js'
import {hostKeyNames, resolveSshTarget} from '../../ssh/config.js'
import {entryMatches, parseKnownHosts} from '../../ssh/known-hosts.js'
import type {AddConnection} from './add.js'
import {planHostSecrets} from './host-secrets.js'
import {type HostChangePlan, planHostRemove} from './plan.js'
import {removeHostRecipient} from './sops-recipient.js'

/** Seconds `kubectl drain` may take before it gives up (its --timeout). */
export const DRAIN_TIMEOUT_SECONDS = 300

/** A host cannot be removed while the storage of apps is pinned to it. */
export class PinnedStorageError extends HomelabError {}

/** The checked first half of `homelab host remove`: what would change, nothing touched yet. */
export interface HostRemovePlan {
  plan: HostChangePlan
  /** The k3s server (where the node is drained). */
  server: string
}

/**
 * Checks that `name` can be removed: a host of homelab.yaml, not the k3s server
 * ({@link planHostRemove}), and no app's storage pinned to it (storage.json `apps[].node`).
 * @throws UsageError for an unknown host or the server; PinnedStorageError (exit 1) naming the apps
 */
export async function checkHostRemove(homelab: Homelab, name: string): Promise<HostRemovePlan> {
  const plan = await planHostRemove(homelab, name)
  const storage = await loadStorageFile(homelab)
  const pinned = storage.apps.filter((a) => a.node === name).map((a) => a.name)
  if (pinned.length > 0)
    throw new PinnedStorageError(
      `${name} holds the storage of ${pinned.join(', ')} (${homelab.config.storage.file}: node ${name}; their PersistentVolumes are pinned to it); removing the host would strand that data`,
      {suggestions: [`remove ${pinned.length === 1 ? 'the app' : 'those apps'} first (${pinned.map((a) => `homelab app remove ${a}`).join(', ')}), or move the data to another host and change its node`]},
    )
  const server = homelab.config.hosts.find((h) => h.role === 'server') ?? homelab.config.hosts[0]
  return {plan, server: server.name}
}

/** What {@link drainNode} did on the server. */
export interface DrainOutcome {
  /** False when the node was not registered with the cluster (never joined, or deleted already). */
  registered: boolean
  /** kubectl's output lines (drain, then delete). */
  output: string[]
}

/**
 * Drains the node on the server (`k3s kubectl drain NAME --ignore-daemonsets
 * --delete-emptydir-data --timeout=300s`: cordon, then evict its pods) and deletes its Node
 * object (`k3s kubectl delete node NAME`). A node the API does not know is skipped.
 * @throws KubectlError (exit 1) when kubectl fails (the files are then left as they are)
 */
export async function drainNode(server: AddConnection, name: string): Promise<DrainOutcome> {
  const known = (await runKubectl(server, ['get', 'node', name, '--ignore-not-found', '-o', 'name'], {timeoutMs: 60_000})).trim()
  if (known === '') return {output: [], registered: false}
  const drained = await runKubectl(server, ['drain', name, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${DRAIN_TIMEOUT_SECONDS}s`], {timeoutMs: (DRAIN_TIMEOUT_SECONDS + 30) * 1000})
  let deleted: string
  try {
    deleted = await runKubectl(server, ['delete', 'node', name], {timeoutMs: 120_000})
  } catch (error) {
    if (error instanceof KubectlError && /NotFound/.test(error.message)) deleted = ''
    else throw error
  }

  return {output: `${drained}\n${deleted}`.split('\n').filter((l) => l.trim() !== ''), registered: true}
}

/** What {@link removeHostFiles} is asked to do. */
export interface HostRemoveRequest {
  homelab: Homelab
  checked: HostRemovePlan
  identities: readonly AgeIdentity[]
  /** HOME holding ~/.ssh/config (the host's known_hosts names follow its HostName/Port/HostKeyAlias). */
  homeDir?: string
  env?: Record<string, string | undefined>
  /** Test hook: the writer's file-system calls. */
  fs?: Partial<TransactionFs>
  /**
   * Runs once every change is planned (the host secrets decrypted) and before anything is written:
   * the drain, so a repository that cannot be changed leaves the node untouched. A throw here
   * writes nothing.
   */
  beforeWrite?: () => Promise<void>
}

/** What {@link removeHostFiles} changed. */
export interface HostRemoveFilesOutcome {
  changed: string[]
  deleted: string[]
  /** known_hosts lines removed (1-based numbers in the file before). */
  knownHostsLines: number[]
  /** The age recipient `host add` had added for the host, now removed; null when none. */
  ageRecipient: string | null
  /** True when host secret k3s/token was dropped (the server is alone again). */
  tokenRemoved: boolean
}

/**
 * Removes the host everywhere `homelab host add` wrote, all or nothing: the files of
 * {@link planHostRemove}, its known_hosts lines (every key line matching its names, as
 * ~/.ssh/config resolves them), the age recipient `host add --age-recipient` added for it (and
 * the host secrets' data key no longer wrapped for it), and host secret `k3s/token` when only the
 * server is left (other agents still join with it: then it is kept).
 * @throws TransactionError when the write fails (nothing changed); SopsError when the host secrets must change and cannot be decrypted
 */
export async function removeHostFiles(request: HostRemoveRequest): Promise<HostRemoveFilesOutcome> {
  const {homelab} = request
  const {root} = homelab
  const {plan} = request.checked
  const name = plan.host.name
  const changes: FileChange[] = [...plan.changes]

  const knownHostsAbs = path.join(root, homelab.config.knownHosts)
  const knownHosts = await fs.readFile(knownHostsAbs, 'utf8').catch(() => null)
  let knownHostsLines: number[] = []
  if (knownHosts !== null) {
    const env = request.env ?? {}
    const target = await resolveSshTarget({homeDir: request.homeDir ?? env.HOME ?? os.homedir(), localUser: env.USER ?? os.userInfo().username, spec: plan.host.ssh})
    const names = hostKeyNames(target)
    knownHostsLines = parseKnownHosts(knownHosts).filter((e) => names.some((n) => entryMatches(e, n))).map((e) => e.line)
    if (knownHostsLines.length > 0) {
      const drop = new Set(knownHostsLines)
      changes.push({after: knownHosts.split('\n').filter((_, i) => !drop.has(i + 1)).join('\n'), before: knownHosts, path: knownHostsAbs})
    }
  }

  const configAbs = path.join(root, SOPS_CONFIG_NAMES[0])
  const sopsConfig = await fs.readFile(configAbs, 'utf8').catch(() => null)
  const recipient = sopsConfig === null ? null : removeHostRecipient(sopsConfig, SOPS_CONFIG_NAMES[0], name)
  if (recipient) changes.push({after: recipient.text, before: sopsConfig, path: configAbs})

  const remaining = homelab.config.hosts.filter((h) => h.name !== name)
  const dropToken = remaining.length <= 1
  let tokenRemoved = false
  if (dropToken || recipient) {
    const secrets = await planHostSecrets({identities: request.identities, root, sopsConfigText: recipient?.text, token: dropToken ? null : undefined})
    tokenRemoved = dropToken && secrets.currentToken !== undefined
    if (secrets.change) changes.push(secrets.change)
  }

  await request.beforeWrite?.()
  await applyChanges(changes, {command: `host remove ${name}`, fs: request.fs, removeEmptyDirs: [path.join(root, 'nixos/hosts', name), path.join(root, 'nixos/hosts')], root})
  const rel = (p: string) => path.relative(root, p)
  return {
    ageRecipient: recipient?.recipient ?? null,
    changed: changes.filter((c) => c.after !== null).map((c) => rel(c.path)),
    deleted: changes.filter((c) => c.after === null).map((c) => rel(c.path)),
    knownHostsLines,
    tokenRemoved,
  }
}
