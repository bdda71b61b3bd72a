import {hostsFileEntries, renderHostsFile, SHARED_CONFIGURATION} from '../config/hosts-file.js'
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import {loadHomelab} from '../config/load.js'
import {HomelabError} from '../errors.js'
import {renderTemplate} from '../templates/render.js'
import {flakeUrlOf, type InitValues} from './values.js'

/** One file of the new homelab: repository-relative POSIX path, text, and mode (default 0644). */
export interface PlannedFile {
  path: string
  content: string
  mode?: number
}

/** Template folder of a new homelab's host-specific files (rendered with `{{placeholders}}`, also in paths). */
export const HOMELAB_TEMPLATE_DIR = 'templates/homelab'
/** Template folder of the host bootstrap flake (its flake.nix → nixos/flake.nix, configuration.nix → nixos/configuration.nix). */
export const HOST_BOOTSTRAP_DIR = 'templates/host-bootstrap'

/** Files under templates/homelab stored under another name, so they do not act on this repository. */
const RENAMED: Record<string, string> = {gitignore: '.gitignore'}

/** The Nix line written in place of `"{{sshPubKey}}"` when no public key was found. */
export const MISSING_SSH_KEY_LINE = '# "ssh-ed25519 AAAA... you@laptop"  <- put your SSH public key here before installing the host'
const MISSING_SSH_KEY = 'HOMELAB-INIT-MISSING-SSH-KEY'

/** Branch Flux watches and the host flake follows in a new homelab. */
export const DEFAULT_BRANCH = 'main'

/**
 * The placeholder values of templates/homelab and templates/host-bootstrap for `values`.
 * `bucket` is `<hostName>-kopia`; `homelabFlakeUrl` is `git+<gitUrl>?ref=main`.
 */
export function templateValues(values: InitValues, recipient: string): Record<string, string> {
  return {
    adminUser: values.adminUser,
    bucket: `${values.hostName}-kopia`,
    cluster: values.cluster,
    domain: values.domain,
    gitUrl: values.gitUrl,
    homelabFlakeUrl: flakeUrlOf(values.gitUrl, DEFAULT_BRANCH),
    hostConfiguration: SHARED_CONFIGURATION,
    hostName: values.hostName,
    recipient,
    sshPubKey: values.sshPubKey ?? MISSING_SSH_KEY,
    sshTarget: values.sshTarget,
  }
}

/**
 * Every file of a new homelab, in memory (nothing is written), from the CLI's own repository at
 * `sourceRoot` (one source of truth, nothing duplicated):
 * - rendered: `templates/homelab/**` (paths rendered too; `gitignore` becomes `.gitignore`),
 *   `templates/host-bootstrap/{flake,configuration}.nix` → `nixos/{flake,configuration}.nix`;
 * - copied as they are: `flake.nix` (the reference host's name replaced by the new one),
 *   `nixos/*.nix` other than the host's own two, the `scripts/` those Nix files run,
 *   `templates/**`, and the cloudflared Deployment and kustomization of the reference cluster
 *   (its `checksum/config` annotation recomputed: SHA-256 of the new `config.yaml`);
 * - derived: `nixos/storage.json` with no apps, `nixos/hosts.json` with the one (server) host,
 *   `nixos/backup.json` with the new bucket,
 *   `nixos/git-access.json` for the new repository URL (gitAccessOf).
 * The SOPS files are not here: they need the engine (see createHomelab).
 *
 * @throws HomelabError when a source file is missing, or a template names an unknown placeholder
 */
export async function planHomelabFiles(options: {sourceRoot: string; values: InitValues; recipient: string}): Promise<PlannedFile[]> {
  const {sourceRoot, values} = options
  const placeholders = templateValues(values, options.recipient)
  const read = async (rel: string) => {
    try {
      return await fs.readFile(path.join(sourceRoot, rel), 'utf8')
    } catch {
      throw new HomelabError(`${rel}: missing in ${sourceRoot}; homelab init copies it from there`, {
        suggestions: ['run homelab init from a complete checkout of the homelab CLI repository'],
      })
    }
  }

  const modeOf = async (rel: string) => (await fs.stat(path.join(sourceRoot, rel))).mode & 0o777
  const files: PlannedFile[] = []

  // Rendered: the host-specific files of a new homelab.
  for (const rel of await listFiles(sourceRoot, HOMELAB_TEMPLATE_DIR)) {
    const inner = rel.slice(HOMELAB_TEMPLATE_DIR.length + 1)
    const renamed = inner
      .split('/')
      .map((segment) => RENAMED[segment] ?? segment)
      .join('/')
    files.push({content: renderTemplate(await read(rel), placeholders, rel), path: renderTemplate(renamed, placeholders, rel)})
  }

  for (const name of ['flake.nix', 'configuration.nix']) {
    const rel = `${HOST_BOOTSTRAP_DIR}/${name}`
    const text = renderTemplate(await read(rel), placeholders, rel).replace(new RegExp(`"${MISSING_SSH_KEY}"`, 'g'), MISSING_SSH_KEY_LINE)
    files.push({content: text, path: `nixos/${name}`})
  }

  // Copied: the host module, its scripts, the templates.
  const reference = await loadHomelab({cwd: sourceRoot, repo: sourceRoot})
  const referenceHost = reference.config.hosts[0].name
  files.push({
    content: (await read('flake.nix')).replace(new RegExp(`\\b${escapeRegExp(referenceHost)}\\b`, 'g'), values.hostName),
    path: 'flake.nix',
  })
  const nixFiles = (await fs.readdir(path.join(sourceRoot, 'nixos'))).filter((f) => f.endsWith('.nix') && f !== 'flake.nix' && f !== 'configuration.nix').sort()
  const scripts = new Set<string>()
  for (const name of nixFiles) {
    const text = await read(`nixos/${name}`)
    for (const match of text.matchAll(/\.\.\/scripts\/([\w.-]+)/g)) scripts.add(match[1])
    files.push({content: text, path: `nixos/${name}`})
  }

  for (const name of [...scripts].sort()) files.push({content: await read(`scripts/${name}`), mode: await modeOf(`scripts/${name}`), path: `scripts/${name}`})
  for (const rel of await listFiles(sourceRoot, 'templates')) files.push({content: await read(rel), mode: await modeOf(rel), path: rel})

  // Derived from the reference JSON files: same shape, this homelab's values.
  const storage = JSON.parse(await read('nixos/storage.json')) as Record<string, unknown>
  files.push({content: `${JSON.stringify({...storage, apps: []}, null, 2)}\n`, path: 'nixos/storage.json'})
  files.push({
    content: renderHostsFile(hostsFileEntries([{flakeDir: '/etc/nixos', flakeInput: 'homelab', labels: {}, name: values.hostName, role: 'server', ssh: values.sshTarget, tags: []}], () => false)),
    path: 'nixos/hosts.json',
  })
  files.push({content: gitAccessOf(await read('nixos/git-access.json'), values.gitUrl), path: 'nixos/git-access.json'})
  const backupJson = await fs.readFile(path.join(sourceRoot, 'nixos/backup.json'), 'utf8').catch(() => undefined)
  if (backupJson !== undefined)
    files.push({content: `${JSON.stringify({...(JSON.parse(backupJson) as object), bucket: placeholders.bucket}, null, 2)}\n`, path: 'nixos/backup.json'})

  // The Cloudflare Tunnel connector: the reference Deployment, rolled by the new config's checksum.
  const tunnelDir = `flux/clusters/${values.cluster}/manifests/apps/cloudflared`
  const configMap = files.find((f) => f.path === `${tunnelDir}/configmap.yaml`)
  const referenceTunnel = `${reference.config.cluster.path}/manifests/apps/cloudflared`
  if (configMap) {
    const config = tunnelConfigOf(configMap.content)
    const checksum = createHash('sha256').update(config, 'utf8').digest('hex')
    files.push({content: (await read(`${referenceTunnel}/deployment.yaml`)).replace(/(checksum\/config: )"?[0-9a-f]{64}"?/, `$1"${checksum}"`), path: `${tunnelDir}/deployment.yaml`})
    files.push({content: await read(`${referenceTunnel}/kustomization.yaml`), path: `${tunnelDir}/kustomization.yaml`})
  }

  return files.sort((a, b) => a.path.localeCompare(b.path))
}

/**
 * The new homelab's `nixos/git-access.json` (read by nixos/git-access.nix and the CLI) from the
 * reference one: `token` for an https:// repository URL, else `deploy-key`; `forge` is the URL's
 * host; the reference's pinned host keys are kept only when the forge is the same (another
 * forge's keys must be added by hand). The reference's note on its DEMO secrets is dropped.
 */
export function gitAccessOf(referenceText: string, gitUrl: string): string {
  const reference = JSON.parse(referenceText) as {$comment?: string; forge: string; forgeHostKeys?: string[]}
  const https = /^https:\/\//.test(gitUrl)
  const forge = (/^(?:[a-z+]+:\/\/)?(?:[^@/]+@)?([^/:]+)/i.exec(gitUrl)?.[1] ?? reference.forge).toLowerCase()
  const comment = reference.$comment?.replace(/ DEMO values[^]*$/, '')
  const file = {
    ...(comment ? {$comment: comment} : {}),
    forge,
    forgeHostKeys: forge === reference.forge ? (reference.forgeHostKeys ?? []) : [],
    method: https ? 'token' : 'deploy-key',
  }
  return `${JSON.stringify({$comment: file.$comment, method: file.method, forge: file.forge, forgeHostKeys: file.forgeHostKeys}, null, 2)}\n`
}

/** `data["config.yaml"]` of the cloudflared ConfigMap text. */
function tunnelConfigOf(text: string): string {
  for (const doc of parseAllDocuments(text) as unknown as Array<{toJS(): unknown}>) {
    const value = doc.toJS() as {data?: Record<string, unknown>} | null
    const config = value?.data?.['config.yaml']
    if (typeof config === 'string') return config
  }

  throw new HomelabError('the cloudflared ConfigMap template has no data key config.yaml')
}

/** Every file under `rel` in `root`, repository-relative POSIX paths, sorted. */
async function listFiles(root: string, rel: string): Promise<string[]> {
  const out: string[] = []
  const entries = await fs.readdir(path.join(root, rel), {withFileTypes: true})
  for (const entry of entries) {
    const child = `${rel}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await listFiles(root, child)))
    else if (entry.isFile()) out.push(child)
  }

  return out.sort()
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
