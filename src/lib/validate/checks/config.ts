import {existsSync, promises as fs, readFileSync} from 'node:fs'
import path from 'node:path'
import {LineCounter, parseDocument} from 'yaml'

import {expectedHostsFile, hostDir} from '../../config/hosts-file.js'
import {CONFIG_FILE} from '../../config/load.js'
import {lineOfPath} from '../../config/yaml-location.js'
import {ConfigError} from '../../errors.js'
import type {Check} from '../check.js'
import {describeObject, isFlux} from '../check.js'
import {isRecord, lineOf, type ValidateContext} from '../context.js'
import {FindingList} from '../finding.js'
import {isUnder} from '../../fs/path-under.js'
import {checkAdminSurfaces} from '../admin-surfaces.js'
import {checkGitAccess} from '../git-access-check.js'

/**
 * nixos/hosts.json (what Nix reads of `hosts:`) must be exactly what the CLI writes for
 * homelab.yaml (src/lib/config/hosts-file.ts), every host's configuration file must exist, and
 * exactly one host may be the k3s server.
 */
function checkHostsFile(out: FindingList, context: ValidateContext, line: number): void {
  const homelab = context.homelab
  if (!homelab) return
  const rel = homelab.config.cluster.hostsFile
  const servers = homelab.config.hosts.filter((h) => h.role === 'server')
  if (servers.length !== 1)
    out.error(CONFIG_FILE, line, `hosts: ${servers.length} hosts have role server (${servers.map((h) => h.name).join(', ') || 'none'}); exactly one k3s server is supported (HA servers are a later step)`)
  const want = expectedHostsFile(homelab)
  let have: string | undefined
  try {
    have = readFileSync(path.join(context.root, rel), 'utf8')
  } catch {}

  // A single-host homelab from before hosts.json needs none to validate (nixos/homelab-module.nix then reads the repo's own copy).
  if (have === undefined) {
    if (homelab.config.hosts.length > 1) out.error(CONFIG_FILE, line, `cluster.hostsFile ${rel} is missing; Nix reads the hosts from it (write it: \`homelab host add\`/\`remove\` keep it in sync)`)
  } else if (have !== want) {
    let detail = 'its text differs'
    try {
      const names = (JSON.parse(have) as {hosts?: Array<{name?: string}>}).hosts?.map((h) => h.name) ?? []
      const yamlNames = homelab.config.hosts.map((h) => h.name)
      detail = names.join(',') === yamlNames.join(',') ? 'a host\'s role, address, labels, interfaces or configuration file differ' : `it lists ${names.join(', ') || 'no host'}, homelab.yaml lists ${yamlNames.join(', ')}`
    } catch {
      detail = 'it is not valid JSON'
    }

    out.error(rel, 1, `out of sync with homelab.yaml hosts: (${detail}); it is written by \`homelab host add\`/\`homelab host remove\`: undo the hand edit`)
  }

  // With several nodes, k3s's node ports (8472/udp flannel VXLAN, 10250/tcp kubelet) open only on
  // the interfaces named: without one, the nodes show Ready but pods on different nodes cannot
  // reach each other (nixos/homelab-module.nix networking.firewall.interfaces, --flannel-iface).
  if (homelab.config.hosts.length > 1)
    for (const host of homelab.config.hosts)
      if ((host.nodeInterfaces ?? []).length === 0)
        out.error(CONFIG_FILE, line, `host ${host.name}: nodeInterfaces is empty; with more than one host, name the LAN interface the nodes reach each other on (e.g. nodeInterfaces: [enp1s0]): k3s's node ports open only there`)

  // Agents join https://<server address>:6443; without `address` that is the host part of the
  // server's `ssh`, often an alias of the operator's ~/.ssh/config that no agent resolves.
  const server = homelab.config.hosts.find((h) => h.role === 'server')
  if (homelab.config.hosts.length > 1 && server && server.address === undefined)
    out.warning(CONFIG_FILE, line, `host ${server.name}: no address; agents join https://${server.ssh.replace(/^[^@]*@/, '').replace(/:\d+$/, '')}:6443 (the host part of its ssh), which must resolve on every agent: set address: to its LAN address or a name the agents resolve`)

  for (const host of homelab.config.hosts) {
    const own = `${hostDir(host.name)}/configuration.nix`
    if (existsSync(path.join(context.root, hostDir(host.name))) && !existsSync(path.join(context.root, own))) out.error(own, 1, `host ${host.name}: missing (its NixOS values file; \`homelab host add\` writes it)`)
  }
}

/** Folder of the host bootstrap template, relative to the repository root. */
export const HOST_BOOTSTRAP_TEMPLATE = 'templates/host-bootstrap'

/**
 * Check 7: `homelab.yaml` passes its schema (src/lib/config/schema.ts) and agrees with the tree:
 * the cluster path exists and is `flux/clusters/<cluster.name>`-shaped, a Flux Kustomization
 * reconciles it from a GitRepository on `git.branch`, the host bootstrap template is present,
 * the storage file loads and every app path in it lies under the storage root (once), the host
 * name and domain in nixos/configuration.nix match, and the off-site credentials file exists.
 * The git access file loads and fits the host bootstrap flake's homelab input (git-access-check.ts).
 * Warns when a Cloudflare Tunnel route exposes an admin surface (src/lib/validate/admin-surfaces.ts).
 */
export const configCheck: Check = {
  id: 'config',
  title: 'homelab.yaml is valid and agrees with the tree',
  async run(context) {
    const out = new FindingList('config')
    if (!existsSync(path.join(context.root, CONFIG_FILE))) {
      out.error(CONFIG_FILE, 1, `missing: every homelab repository has one at its root (homelab init creates it)`)
      return {findings: out.findings}
    }

    if (context.homelabError) {
      addConfigError(out, context.homelabError, CONFIG_FILE)
      return {findings: out.findings}
    }

    const homelab = context.homelab
    if (!homelab) return {findings: out.findings}
    const {config} = homelab
    const configFile = context.yaml.find((f) => f.rel === CONFIG_FILE)
    const at = (...keyPath: Array<string | number>) => (configFile?.docs[0] ? lineOfPath(configFile.docs[0], configFile.lineCounter, keyPath) : 1)

    const clusterDir = path.join(context.root, config.cluster.path)
    const clusterRel = path.posix.normalize(config.cluster.path).replace(/\/+$/, '')
    if (!(await isDirectory(clusterDir))) out.error(CONFIG_FILE, at('cluster', 'path'), `cluster.path ${config.cluster.path} does not exist`)
    else {
      if (path.posix.basename(clusterRel) !== config.cluster.name)
        out.error(CONFIG_FILE, at('cluster', 'name'), `cluster.name ${config.cluster.name} is not the last folder of cluster.path ${config.cluster.path}`)
      checkRootKustomization(out, context, clusterRel, config.git.branch, at('cluster', 'path'))
    }

    checkHostsFile(out, context, at('cluster', 'hostsFile'))

    if (!existsSync(path.join(context.root, HOST_BOOTSTRAP_TEMPLATE, 'flake.nix')))
      out.error(`${HOST_BOOTSTRAP_TEMPLATE}/flake.nix`, 1, 'missing: the host bootstrap template (a new host\'s /etc/nixos flake) must be present')

    const storageRel = config.storage.file
    if (!existsSync(path.join(context.root, storageRel))) out.error(CONFIG_FILE, at('storage', 'file'), `storage.file ${storageRel} does not exist`)
    else if (context.storageError) addConfigError(out, context.storageError, storageRel)
    else if (context.storage) {
      const text = await fs.readFile(path.join(context.root, storageRel), 'utf8')
      const lineCounter = new LineCounter()
      const doc = parseDocument(text, {lineCounter})
      const names = new Set<string>()
      const paths = new Set<string>()
      for (const [i, app] of context.storage.apps.entries()) {
        const line = lineOfPath(doc, lineCounter, ['apps', i, 'path'])
        const normalized = path.posix.normalize(app.path).replace(/(.)\/+$/, '$1')
        if (!isUnder(normalized, config.storage.root) || normalized === path.posix.normalize(config.storage.root))
          out.error(storageRel, line, `app ${app.name}: path ${app.path} is not under the storage root ${config.storage.root}`)
        if (names.has(app.name)) out.error(storageRel, lineOfPath(doc, lineCounter, ['apps', i, 'name']), `app ${app.name} is listed twice`)
        if (app.node !== undefined && !config.hosts.some((h) => h.name === app.node))
          out.error(storageRel, lineOfPath(doc, lineCounter, ['apps', i, 'node']), `app ${app.name}: storage node ${app.node} is not a host of homelab.yaml (hosts: ${config.hosts.map((h) => h.name).join(', ')}); move the app or add the host with \`homelab host add\``)
        if (paths.has(normalized)) out.error(storageRel, line, `app ${app.name}: path ${app.path} is listed twice`)
        names.add(app.name)
        paths.add(normalized)
      }
    }

    await checkHostConfiguration(out, context, config.hosts.map((h) => h.name), config.domain)

    const credentials = config.backup.offsite.credentialsFile
    if (!existsSync(path.join(context.root, credentials)))
      out.error(CONFIG_FILE, at('backup', 'offsite', 'credentialsFile'), `backup.offsite.credentialsFile ${credentials} does not exist`)
    if (!existsSync(path.join(context.root, config.knownHosts)))
      out.warning(CONFIG_FILE, at('knownHosts'), `knownHosts ${config.knownHosts} does not exist (homelab deploy pins host keys there)`)
    await checkGitAccess(out, homelab)
    checkAdminSurfaces(out, context.objects)

    return {findings: out.findings}
  },
}

/** The root Flux Kustomization must reconcile the cluster path from a GitRepository that follows git.branch. */
function checkRootKustomization(out: FindingList, context: ValidateContext, clusterRel: string, branch: string, line: number): void {
  const root = context.objects.find(
    (o) => isFlux(o, 'kustomize.toolkit.fluxcd.io', 'Kustomization') && isRecord(o.value.spec) && typeof o.value.spec.path === 'string' && path.posix.normalize(o.value.spec.path).replace(/\/+$/, '') === clusterRel,
  )
  if (!root) {
    out.error(CONFIG_FILE, line, `no Flux Kustomization has spec.path ./${clusterRel} (the root Kustomization that reconciles the cluster)`)
    return
  }

  const ref = isRecord(root.value.spec) && isRecord(root.value.spec.sourceRef) ? root.value.spec.sourceRef : {}
  if (ref.kind !== 'GitRepository') return
  const namespace = typeof ref.namespace === 'string' ? ref.namespace : root.namespace
  const source = context.objects.find((o) => isFlux(o, 'source.toolkit.fluxcd.io', 'GitRepository') && o.name === ref.name && (o.namespace ?? 'default') === (namespace ?? 'default'))
  if (!source) return // the kustomize check reports an unresolved sourceRef
  const sourceRef = isRecord(source.value.spec) && isRecord(source.value.spec.ref) ? source.value.spec.ref : {}
  if (sourceRef.branch !== branch)
    out.error(
      source.file.rel,
      lineOf(source, ['spec', 'ref', 'branch']),
      `${describeObject(source)}: spec.ref.branch ${String(sourceRef.branch ?? '(unset)')} differs from homelab.yaml git.branch ${branch}`,
    )
}

/** The NixOS values of the host that homelab.yaml repeats (nixos/configuration.nix, homelab-module.nix options). */
export const HOST_CONFIGURATION = 'nixos/configuration.nix'

/**
 * `homelab.hostName` and `homelab.domain` in nixos/configuration.nix must be a host name of
 * homelab.yaml and its domain: the CLI deploys by those names, the host builds from this file.
 * Read textually (`hostName = "…";`), no evaluation; absent values are not checked.
 */
async function checkHostConfiguration(out: FindingList, context: ValidateContext, hostNames: string[], domain: string): Promise<void> {
  const text = await fs.readFile(path.join(context.root, HOST_CONFIGURATION), 'utf8').catch(() => undefined)
  if (text === undefined) return
  const lines = text.split('\n')
  const find = (option: string) => {
    const index = lines.findIndex((l) => new RegExp(`^\\s*(homelab\\.)?${option}\\s*=\\s*"[^"]*"\\s*;`).test(l))
    return index === -1 ? undefined : {line: index + 1, value: /"([^"]*)"/.exec(lines[index])![1]}
  }

  const host = find('hostName')
  if (host && !hostNames.includes(host.value))
    out.error(HOST_CONFIGURATION, host.line, `homelab.hostName "${host.value}" is not a host of homelab.yaml (hosts: ${hostNames.join(', ')})`)
  const zone = find('domain')
  if (zone && zone.value !== domain) out.error(HOST_CONFIGURATION, zone.line, `homelab.domain "${zone.value}" differs from homelab.yaml domain ${domain}`)
}

/** Turns a ConfigError (`file:line: message`, more in suggestions) into findings. */
function addConfigError(out: FindingList, error: ConfigError, fallbackFile: string): void {
  for (const text of [error.message, ...error.suggestions]) {
    const match = /^(\S+?):(\d+): (.*)$/.exec(text)
    if (match) out.error(match[1], Number(match[2]), match[3])
    else if (text === error.message) out.error(fallbackFile, 1, text)
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await fs.stat(dir).catch(() => undefined))?.isDirectory() ?? false
}
