import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {isMap, isSeq, parseDocument, type YAMLMap, type YAMLSeq} from 'yaml'

import {hostDir, hostsFileEntries, renderHostsFile} from '../../config/hosts-file.js'
import {CONFIG_FILE, type Homelab, parseYamlWithSchema} from '../../config/load.js'
import {homelabConfigSchema, type HostConfig, hostSchema} from '../../config/schema.js'
import {HomelabError, UsageError} from '../../errors.js'
import type {FileChange} from '../../fs/transaction.js'
import {renderTemplate} from '../../templates/render.js'
import {flakeInputUrl} from '../../validate/git-access-check.js'
import {appendHostText, removeHostText} from './yaml-text.js'

/** The host secret holding the k3s cluster token every node shares (nixos/homelab-module.nix `k3s/token`). */
export const K3S_TOKEN_SECRET = 'k3s/token'

/** The template folder of a host's NixOS files. */
const BOOTSTRAP_TEMPLATE = 'templates/host-bootstrap'

/** What `homelab host add` was asked for, validated. */
export interface HostAddSpec {
  name: string
  /** `[user@]host[:port]`. */
  ssh: string
  role: 'agent' | 'server'
  labels: Record<string, string>
  tags: string[]
  /** The address the other nodes reach it at (default: the host part of `ssh`). */
  address?: string
  nodeInterfaces: string[]
  /** The disk disko partitions at `homelab host install`. */
  diskDevice: string
  /** The host's bootstrap flake folder (homelab.yaml flakeDir; default /etc/nixos). */
  flakeDir?: string
}

/**
 * Parses `--labels k=v,k2=v2` into a record (validated by homelab.yaml's label schema).
 * @throws UsageError naming the flag for an entry without `=`, a key given twice, or a bad key/value
 */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const entry of (text ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const eq = entry.indexOf('=')
    if (eq <= 0) throw new UsageError(`--labels ${entry}: give KEY=VALUE pairs separated by commas, e.g. --labels homelab.dev/gpu=true,zone=attic`)
    const key = entry.slice(0, eq)
    if (key in labels) throw new UsageError(`--labels: ${key} is given twice`)
    labels[key] = entry.slice(eq + 1)
  }

  const checked = hostSchema.shape.labels.safeParse(labels)
  if (!checked.success) throw new UsageError(`--labels: ${checked.error.issues[0].path.join('.')}: ${checked.error.issues[0].message}`)
  return labels
}

/** The repository's changes of one `host add` (or `host remove`), and what they mean. */
export interface HostChangePlan {
  changes: FileChange[]
  /** The homelab.yaml entry added (or removed). */
  host: HostConfig
  /** Repository-relative paths written (created or changed) or deleted. */
  files: string[]
}

/**
 * The files `homelab host add` writes, in memory: homelab.yaml with the host appended to `hosts:`
 * (yaml Document API: comments and order kept), nixos/hosts.json regenerated, and the host's
 * `nixos/hosts/<name>/configuration.nix` (values, importing the shared nixos/configuration.nix)
 * and `nixos/hosts/<name>/flake.nix` (its host bootstrap flake) rendered from templates/host-bootstrap.
 * The host secrets and known_hosts are not here (they need the SOPS engine and the host's sshd).
 *
 * @throws UsageError (exit 3) for a name already used, a second server, or homelab.yaml values the schema refuses
 * @throws HomelabError when a template or the first host's bootstrap flake cannot be read
 */
export async function planHostAdd(homelab: Homelab, spec: HostAddSpec): Promise<HostChangePlan> {
  const {config, root} = homelab
  if (config.hosts.some((h) => h.name === spec.name))
    throw new UsageError(`homelab.yaml already has a host ${spec.name}`, {suggestions: ['pick another name, or remove it first with `homelab host remove`']})
  const server = config.hosts.find((h) => h.role === 'server')
  if (spec.role === 'server' && server)
    throw new UsageError(`--role server: ${server.name} is already the k3s server, and one server is supported (HA servers with embedded etcd are a later step)`, {suggestions: ['add it as an agent: --role agent']})
  const dir = hostDir(spec.name)
  if (existsSync(path.join(root, dir))) throw new UsageError(`${dir} already exists; remove it (or the host of that name) first`)

  const yamlText = await fs.readFile(path.join(root, CONFIG_FILE), 'utf8')
  const doc = parseDocument(yamlText)
  const hosts = isMap(doc.contents) ? (doc.contents as YAMLMap).get('hosts', true) : undefined
  if (!isSeq(hosts)) throw new HomelabError(`${CONFIG_FILE}: hosts: is not a list; fix it by hand first`)
  const entry: Record<string, unknown> = {name: spec.name, ssh: spec.ssh, role: spec.role}
  if (Object.keys(spec.labels).length > 0) entry.labels = spec.labels
  if (spec.tags.length > 0) entry.tags = spec.tags
  if (spec.flakeDir !== undefined) entry.flakeDir = spec.flakeDir
  if (spec.address !== undefined) entry.address = spec.address
  if (spec.nodeInterfaces.length > 0) entry.nodeInterfaces = spec.nodeInterfaces
  const node = doc.createNode(entry) as YAMLMap
  for (const item of node.items) {
    const value = item.value as {flow?: boolean}
    if (value && typeof value === 'object' && 'items' in value) value.flow = true
  }

  ;(hosts as YAMLSeq).items.push(node)
  // Appended on the text: every other line (aligned comments) stays as it is.
  const newYaml = appendHostText(yamlText, entry, doc)
  let newConfig
  try {
    newConfig = parseYamlWithSchema(newYaml, CONFIG_FILE, homelabConfigSchema)
  } catch (error) {
    throw new UsageError(`the new host does not fit homelab.yaml: ${(error as Error).message}`)
  }

  const host = newConfig.hosts.at(-1)!
  const next: Homelab = {config: newConfig, root}
  // The new host's own configuration file is written with this change (it does not exist yet).
  const hostsJson = renderHostsFile(hostsFileEntries(next.config.hosts, (n) => n === spec.name || existsSync(path.join(root, hostDir(n), 'configuration.nix'))))

  const template = async (name: string) => {
    try {
      return await fs.readFile(path.join(root, BOOTSTRAP_TEMPLATE, name), 'utf8')
    } catch {
      throw new HomelabError(`${BOOTSTRAP_TEMPLATE}/${name}: missing; homelab host add renders the new host's files from it`)
    }
  }

  // The new host's configuration imports the shared nixos/configuration.nix and sets its own
  // hostName and disk: a plain value there (homelabs made before these were defaults) would be a
  // conflicting definition, and the new host would not build.
  const shared = await fs.readFile(path.join(root, 'nixos/configuration.nix'), 'utf8').catch(() => '')
  const plain = ['hostName', 'diskDevice'].filter((option) => new RegExp(`(^|[\\s{;.])${option}\\s*=\\s*"`, 'm').test(shared))
  if (plain.length > 0)
    throw new UsageError(`nixos/configuration.nix sets ${plain.map((o) => `homelab.${o}`).join(' and ')} as a plain value; every added host's configuration imports that file and sets its own, which Nix refuses as conflicting definitions`, {
      suggestions: [`write them as defaults first, e.g. \`${plain[0]} = lib.mkDefault "…";\` (with \`lib\` among the file's arguments), commit, then run homelab host add again`],
    })
  const firstFlake = await fs.readFile(path.join(root, 'nixos/flake.nix'), 'utf8').catch(() => '')
  const homelabUrl = flakeInputUrl(firstFlake, (server ?? config.hosts[0]).flakeInput)?.url
  if (homelabUrl === undefined)
    throw new HomelabError(`nixos/flake.nix: no url of input ${(server ?? config.hosts[0]).flakeInput}; the new host's bootstrap flake takes the same homelab URL`)
  const values = {diskDevice: spec.diskDevice, homelabFlakeUrl: homelabUrl, hostConfiguration: `${dir}/configuration.nix`, hostName: spec.name}
  const configuration = renderTemplate(await template('host-configuration.nix'), values, `${BOOTSTRAP_TEMPLATE}/host-configuration.nix`)
  const flake = renderTemplate(await template('flake.nix'), values, `${BOOTSTRAP_TEMPLATE}/flake.nix`)
  const hostsRel = config.cluster.hostsFile
  const hostsBefore = await fs.readFile(path.join(root, hostsRel), 'utf8').catch(() => null)
  const changes: FileChange[] = [
    {after: newYaml, before: yamlText, path: path.join(root, CONFIG_FILE)},
    {after: hostsJson, before: hostsBefore, path: path.join(root, hostsRel)},
    {after: configuration, before: null, path: path.join(root, dir, 'configuration.nix')},
    {after: flake, before: null, path: path.join(root, dir, 'flake.nix')},
  ]
  return {changes, files: [CONFIG_FILE, hostsRel, `${dir}/configuration.nix`, `${dir}/flake.nix`], host}
}

/**
 * The files `homelab host remove` changes: the host's entry out of homelab.yaml (comments of the
 * others kept), nixos/hosts.json regenerated, nixos/hosts/<name>/{configuration,flake}.nix deleted.
 * @throws UsageError for an unknown host or the k3s server
 */
export async function planHostRemove(homelab: Homelab, name: string): Promise<HostChangePlan> {
  const {config, root} = homelab
  const host = config.hosts.find((h) => h.name === name)
  if (!host) throw new UsageError(`homelab.yaml has no host "${name}" (hosts: ${config.hosts.map((h) => h.name).join(', ')})`)
  if (host.role === 'server') throw new UsageError(`${name} is the k3s server: removing it would remove the control plane; only agents can be removed`)
  const yamlText = await fs.readFile(path.join(root, CONFIG_FILE), 'utf8')
  const doc = parseDocument(yamlText)
  const hosts = (doc.contents as YAMLMap).get('hosts', true) as unknown as YAMLSeq
  hosts.items = hosts.items.filter((item) => !(isMap(item) && item.get('name') === name))
  const newYaml = removeHostText(yamlText, name, doc)
  const newConfig = parseYamlWithSchema(newYaml, CONFIG_FILE, homelabConfigSchema)
  const dir = hostDir(name)
  const hostsRel = config.cluster.hostsFile
  const exists = (n: string) => n !== name && existsSync(path.join(root, hostDir(n), 'configuration.nix'))
  const hostsJson = renderHostsFile(hostsFileEntries(newConfig.hosts, exists))
  const changes: FileChange[] = [
    {after: newYaml, before: yamlText, path: path.join(root, CONFIG_FILE)},
    {after: hostsJson, before: await fs.readFile(path.join(root, hostsRel), 'utf8').catch(() => null), path: path.join(root, hostsRel)},
  ]
  const files = [CONFIG_FILE, hostsRel]
  for (const file of ['configuration.nix', 'flake.nix']) {
    const abs = path.join(root, dir, file)
    const before = await fs.readFile(abs, 'utf8').catch(() => null)
    if (before === null) continue
    changes.push({after: null, before, path: abs})
    files.push(`${dir}/${file}`)
  }

  return {changes, files, host}
}

/** A fresh k3s cluster token: 32 random bytes as 64 hex digits (k3s takes any string as a token: docs.k3s.io/cli/token). */
export function newClusterToken(): string {
  return randomBytes(32).toString('hex')
}
