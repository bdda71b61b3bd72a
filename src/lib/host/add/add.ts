import {existsSync, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {isMap, parseDocument, type YAMLMap, type YAMLSeq} from 'yaml'

import type {AgeIdentity} from '../../age/identities.js'
import {hostDir, hostsFileEntries, renderHostsFile} from '../../config/hosts-file.js'
import {CONFIG_FILE, type Homelab, parseYamlWithSchema} from '../../config/load.js'
import {homelabConfigSchema, type HostConfig} from '../../config/schema.js'
import {HomelabError, UsageError} from '../../errors.js'
import {shellQuote} from '../../ssh/shell.js'
import {applyChanges, type FileChange, type TransactionFs} from '../../fs/transaction.js'
import {matchCreationRule, parseSopsConfig, SOPS_CONFIG_NAMES} from '../../sops/creation-rules.js'
import {HOST_SECRETS_FILE} from '../install/host-secrets.js'
import {planHostSecrets} from './host-secrets.js'
import {type HostAddSpec, type HostChangePlan, K3S_TOKEN_SECRET, newClusterToken, planHostAdd} from './plan.js'
import {addHostRecipient} from './sops-recipient.js'
import {addHostKeyText} from './yaml-text.js'

/** Where a k3s server keeps the cluster token it started with (docs.k3s.io/cli/token: "the server token file"). */
export const K3S_SERVER_TOKEN_FILE = '/var/lib/rancher/k3s/server/token'

/** What `host add` needs of an SSH connection (the SSH transport's HostConnection has it). */
export interface AddConnection {
  exec(command: string, options?: {timeoutMs?: number}): Promise<{exitCode: number; stdout: string; stderr: string}>
  sudo(command: string, options?: {timeoutMs?: number}): Promise<{exitCode: number; stdout: string; stderr: string}>
  close(): Promise<void>
  /** `SHA256:…` of the verified host key. */
  hostKeyFingerprint: string
}

/** What {@link addHost} is asked to do. */
export interface HostAddRequest {
  homelab: Homelab
  spec: HostAddSpec
  /** The server's node interfaces, when homelab.yaml names none for it yet (written with the new host). */
  serverNodeInterfaces: string[]
  /** Generate a fresh cluster token instead of reading the running server's (a server not installed yet). */
  newToken: boolean
  /** The new host's own age recipient for the host secrets (`--age-recipient`). */
  ageRecipient?: string
  /** Connect to the new host and pin its SSH host key (false: `--no-pin`). */
  pin: boolean
  /** The operator's age identities (to read and re-encrypt the host secrets). */
  identities: readonly AgeIdentity[]
  /** Opens a connection to a host of homelab.yaml (the server). @throws HostUnreachableError (exit 2) */
  connect(host: HostConfig): Promise<AddConnection>
  /**
   * Opens a connection to the new host with `homelab` (a copy whose knownHosts is a temp file):
   * an unknown host key accepted is pinned into THAT file, which becomes the repository's
   * known_hosts only when everything else succeeded. @throws HostUnreachableError, UnknownHostKeyError (exit 2)
   */
  connectNew(homelab: Homelab, host: HostConfig): Promise<AddConnection>
  /** Progress lines (connecting…, reading…); never values. */
  onProgress?(line: string): void
  /** Test hook: the writer's file-system calls. */
  fs?: Partial<TransactionFs>
}

/** Where the cluster token stored in the host secrets came from. */
export type TokenSource = 'generated' | 'kept' | 'server'

/** What {@link addHost} did. */
export interface HostAddOutcome {
  host: HostConfig
  created: string[]
  changed: string[]
  token: {source: TokenSource; server: string}
  hostKey: {pinned: boolean; fingerprint: string | null; line: string | null}
  /** True / false when the new host was reached (it runs NixOS or not); null with --no-pin. */
  nixos: boolean | null
  ageRecipient: string | null
  /** The next command to run. */
  next: string
}

/** Checks `--age-recipient`. @throws UsageError for anything but an age X25519 recipient */
export function checkAgeRecipient(value: string): string {
  if (!/^age1[02-9ac-hj-np-z]{58}$/.test(value)) throw new UsageError(`--age-recipient ${value}: not an age recipient (age1 followed by 58 characters, as age-keygen -y prints it)`)
  return value
}

/**
 * Sets the server's `nodeInterfaces` in the plan's homelab.yaml (and nixos/hosts.json) when it
 * has none: with more than one host, validate wants every node to name its LAN interface.
 */
async function withServerInterfaces(homelab: Homelab, plan: HostChangePlan, spec: HostAddSpec, interfaces: string[]): Promise<void> {
  if (interfaces.length === 0) return
  const yamlChange = plan.changes[0]
  const doc = parseDocument(yamlChange.after!)
  const hosts = (doc.contents as YAMLMap).get('hosts', true) as unknown as YAMLSeq
  const server = hosts.items.find((item) => isMap(item) && (item.get('role') ?? 'server') === 'server' && item.get('name') !== spec.name) as YAMLMap | undefined
  if (!server) return
  const node = doc.createNode(interfaces)
  ;(node as {flow?: boolean}).flow = true
  server.set('nodeInterfaces', node)
  yamlChange.after = addHostKeyText(yamlChange.after!, String(server.get('name')), 'nodeInterfaces', interfaces, doc)
  const config = parseYamlWithSchema(yamlChange.after, CONFIG_FILE, homelabConfigSchema)
  const hasOwn = (n: string) => n === spec.name || existsSync(path.join(homelab.root, hostDir(n), 'configuration.nix'))
  plan.changes[1].after = renderHostsFile(hostsFileEntries(config.hosts, hasOwn))
}

/** Reads the running server's cluster token over SSH (sudo cat, stdin-less; the value is never printed). */
async function readServerToken(connection: AddConnection, server: string): Promise<string> {
  const r = await connection.sudo(`cat ${K3S_SERVER_TOKEN_FILE}`, {timeoutMs: 60_000})
  const token = r.stdout.trim()
  if (r.exitCode !== 0 || token === '')
    throw new HomelabError(`${server}: cannot read ${K3S_SERVER_TOKEN_FILE} (${r.stderr.trim().split('\n').at(-1) || 'empty'}): k3s has not run there as a server yet`, {
      suggestions: ['install the server first, or pass --new-token to generate the token the server must then be (re)installed with'],
    })
  return token
}

/**
 * `homelab host add`: everything prepared first, written all or nothing at the end.
 *
 * 1. the repository files of {@link planHostAdd} (homelab.yaml, nixos/hosts.json, the host's
 *    configuration.nix and bootstrap flake), plus the server's nodeInterfaces when given;
 * 2. the cluster token for host secret `k3s/token`: kept when the host secrets file has one,
 *    else generated (`newToken`), else read from the running server's
 *    /var/lib/rancher/k3s/server/token over SSH — a running server's bootstrap data is encrypted
 *    with its own token, so a different one would not start it (k3s-io/k3s#4640);
 * 3. the new host's SSH host key, pinned by connecting to it (unless `pin` is false), and whether
 *    it runs NixOS installed the homelab's way (`/etc/NIXOS` or nixos-version, and its host
 *    bootstrap flake's flake.lock pins the flake input);
 * 4. with `ageRecipient`, the recipient added to the `.sops.yaml` rule of the host secrets and
 *    the file's data key wrapped for it (updatekeys).
 * Nothing is written before every step succeeded; the write itself is the journaled transaction
 * `app new` uses (any failure or Ctrl-C puts every file back).
 *
 * @throws UsageError (exit 3) for a bad name/role/flag; HostUnreachableError (exit 2) when the
 *   server (without `newToken`) or the new host cannot be reached or its key is refused;
 *   HomelabError/SopsError (exit 1) when the token cannot be read or the host secrets not
 *   decrypted; TransactionError when the write fails (nothing changed)
 */
export async function addHost(request: HostAddRequest): Promise<HostAddOutcome> {
  const {homelab, spec} = request
  const {root} = homelab
  const plan = await planHostAdd(homelab, spec)
  const server = homelab.config.hosts.find((h) => h.role === 'server') ?? homelab.config.hosts[0]
  if (spec.nodeInterfaces.length === 0)
    throw new UsageError(`--node-interface is required: name ${spec.name}'s LAN interface the nodes reach each other on (e.g. --node-interface enp1s0); k3s's node ports open only there`)
  const serverInterfaces = (server.nodeInterfaces ?? []).length === 0 ? request.serverNodeInterfaces : []
  if ((server.nodeInterfaces ?? []).length === 0 && serverInterfaces.length === 0)
    throw new UsageError(`${server.name} (the k3s server) names no nodeInterfaces in homelab.yaml: pass --server-node-interface IF (its LAN interface) so k3s's node ports open there too`)
  await withServerInterfaces(homelab, plan, spec, serverInterfaces)

  // The token: decrypting the host secrets first also proves the operator can write them.
  const current = (await planHostSecrets({identities: request.identities, root})).currentToken
  if (current !== undefined && request.newToken)
    throw new UsageError(`${HOST_SECRETS_FILE} already has ${K3S_TOKEN_SECRET}, the token the cluster runs with; leave out --new-token (it is kept)`)
  let token: string
  let source: TokenSource
  if (current !== undefined) {
    token = current
    source = 'kept'
  } else if (request.newToken) {
    token = newClusterToken()
    source = 'generated'
  } else {
    request.onProgress?.(`reading the cluster token of ${server.name}…`)
    const connection = await request.connect(server)
    try {
      token = await readServerToken(connection, server.name)
    } finally {
      await connection.close()
    }

    source = 'server'
  }

  // The host key: pinned into a temp copy of known_hosts, which becomes the repository's at the end.
  const knownHostsAbs = path.join(root, homelab.config.knownHosts)
  const knownHostsBefore = await fs.readFile(knownHostsAbs, 'utf8').catch(() => null)
  let knownHostsAfter = knownHostsBefore
  let nixos: boolean | null = null
  let fingerprint: string | null = null
  if (request.pin) {
    const temp = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-host-add-'))
    try {
      const shadowFile = path.join(temp, 'known_hosts')
      await fs.writeFile(shadowFile, knownHostsBefore ?? '', {mode: 0o600})
      const shadow: Homelab = {config: {...homelab.config, hosts: [...homelab.config.hosts, plan.host], knownHosts: path.relative(root, shadowFile)}, root}
      request.onProgress?.(`connecting to ${spec.name} (${spec.ssh}) to pin its host key…`)
      const connection = await request.connectNew(shadow, plan.host)
      try {
        fingerprint = connection.hostKeyFingerprint
        // Installed the homelab's way: NixOS with the host bootstrap flake pinning this repository
        // (a NixOS installer or another NixOS has no such flake.lock; host install makes it).
        const lock = `${plan.host.flakeDir}/flake.lock`
        nixos = (await connection.exec(`{ test -e /etc/NIXOS || command -v nixos-version >/dev/null 2>&1; } && grep -qF ${shellQuote(`"${plan.host.flakeInput}"`)} ${shellQuote(lock)}`, {timeoutMs: 30_000})).exitCode === 0
      } finally {
        await connection.close()
      }

      const shadowText = await fs.readFile(shadowFile, 'utf8')
      if (shadowText !== (knownHostsBefore ?? '')) knownHostsAfter = shadowText
    } finally {
      await fs.rm(temp, {force: true, recursive: true})
    }
  }

  const pinnedLine = knownHostsAfter !== knownHostsBefore && knownHostsAfter !== null ? (knownHostsAfter.slice((knownHostsBefore ?? '').length).trim().split('\n').at(-1) ?? null) : null

  // The recipient: .sops.yaml's host secrets rule, and the data key wrapped for it.
  let sopsConfigText: string | undefined
  let sopsChange: FileChange | undefined
  if (request.ageRecipient) {
    const configAbs = path.join(root, SOPS_CONFIG_NAMES[0])
    const before = await fs.readFile(configAbs, 'utf8').catch(() => {
      throw new HomelabError(`${SOPS_CONFIG_NAMES[0]}: missing; --age-recipient adds the host's recipient to its host secrets rule`)
    })
    const rule = matchCreationRule(parseSopsConfig(before, configAbs), path.join(root, HOST_SECRETS_FILE))
    if (!rule) throw new HomelabError(`${SOPS_CONFIG_NAMES[0]}: no creation rule matches ${HOST_SECRETS_FILE}`)
    const after = addHostRecipient(before, SOPS_CONFIG_NAMES[0], rule.index, spec.name, request.ageRecipient)
    if (after !== null) {
      sopsConfigText = after
      sopsChange = {after, before, path: configAbs}
    }
  }

  const secrets = await planHostSecrets({identities: request.identities, root, sopsConfigText, token})
  const changes: FileChange[] = [...plan.changes]
  if (knownHostsAfter !== knownHostsBefore) changes.push({after: knownHostsAfter, before: knownHostsBefore, path: knownHostsAbs})
  if (sopsChange) changes.push(sopsChange)
  if (secrets.change) changes.push(secrets.change)
  await applyChanges(changes, {command: `host add ${spec.name}`, fs: request.fs, root})

  const rel = (p: string) => path.relative(root, p)
  return {
    ageRecipient: sopsChange ? request.ageRecipient! : null,
    changed: changes.filter((c) => c.before !== null).map((c) => rel(c.path)),
    created: changes.filter((c) => c.before === null).map((c) => rel(c.path)),
    host: plan.host,
    hostKey: {fingerprint, line: pinnedLine, pinned: pinnedLine !== null},
    // Every host's configuration changes with the host list (node ports, flannel interface, the
    // token file): a whole deploy, the server first, not only the new host.
    next: nixos ? 'homelab deploy' : `homelab host install ${spec.name}, then homelab deploy`,
    nixos,
    token: {server: server.name, source},
  }
}
