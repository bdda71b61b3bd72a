import {parseAllDocuments} from 'yaml'

import type {Homelab} from '../../config/load.js'
import {HomelabError} from '../../errors.js'
import {fluxSshUrl, GitUrlError, sameRepositoryUrl} from './git-url.js'

/** The file under the cluster folder that holds the GitRepository and the root Kustomization. */
export const SYNC_FILE = 'flux-system-sync.yaml'

/** What Flux is pointed at: the committed sync objects at the branch head, checked against the remote. */
export interface BootstrapSource {
  /** `ssh://git@host/owner/repo`, from the remote's configured URL. */
  url: string
  /** Forge host and `owner/repo`. */
  forge: {host: string; path: string}
  branch: string
  /** The branch head on the remote (40 hex), what every Kustomization must end up at. */
  head: string
  /** Repository path of the sync file (`flux/clusters/<cluster>/flux-system-sync.yaml`). */
  syncFile: string
  /** The sync objects at `head`, as parsed JSON objects (GitRepository first). */
  objects: Array<Record<string, unknown>>
}

async function git(cwd: string, args: string[], env?: Record<string, string | undefined>, timeout = 30_000) {
  const {execa} = await import('execa')
  const r = await execa('git', args, {cwd, env: {GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...env}, extendEnv: true, reject: false, timeout})
  return {exitCode: r.exitCode ?? 1, stderr: String(r.stderr).trim(), stdout: String(r.stdout).trim()}
}

/**
 * Reads what Flux will be pointed at, from the local repository:
 * - the remote's URL as configured (`git config remote.<remote>.url`, without `insteadOf`
 *   rewriting: the forge URL), turned into Flux's `ssh://` form;
 * - the branch head on the remote (`git fetch <remote> <branch>`, then
 *   `refs/remotes/<remote>/<branch>`): Flux fetches that, not local HEAD;
 * - `<cluster.path>/flux-system-sync.yaml` at that head (`git show`), whose GitRepository must
 *   name the same URL and branch (else Flux would watch another repository than the key is for).
 *
 * @throws HomelabError (one line, naming the file or remote) when the remote has no URL, the
 *   fetch fails, the file is missing at the head, or its GitRepository disagrees
 */
export async function readBootstrapSource(homelab: Homelab, env?: Record<string, string | undefined>): Promise<BootstrapSource> {
  const {branch, remote} = homelab.config.git
  const root = homelab.root
  const configured = await git(root, ['config', '--get', `remote.${remote}.url`], env)
  if (configured.exitCode !== 0 || !configured.stdout)
    throw new HomelabError(`git remote ${remote} (homelab.yaml git.remote) has no URL in ${root}`, {suggestions: [`git remote add ${remote} git@github.com:OWNER/REPO.git`]})
  let parsed: ReturnType<typeof fluxSshUrl>
  try {
    parsed = fluxSshUrl(configured.stdout)
  } catch (error) {
    if (error instanceof GitUrlError) throw new HomelabError(`git remote ${remote}: ${error.message}`, {suggestions: [`point ${remote} at the forge: git remote set-url ${remote} git@github.com:OWNER/REPO.git`]})
    throw error
  }

  const ref = `refs/remotes/${remote}/${branch}`
  const fetched = await git(root, ['fetch', '--quiet', '--no-tags', remote, `+refs/heads/${branch}:${ref}`], {GIT_SSH_COMMAND: env?.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes', ...env})
  if (fetched.exitCode !== 0)
    throw new HomelabError(`git fetch ${remote} ${branch} failed: ${fetched.stderr.split('\n').filter(Boolean).at(-1) ?? `exit ${fetched.exitCode}`}`, {
      suggestions: ['Flux waits for the branch head on the remote: check your access to it, and push the branch first'],
    })
  const head = (await git(root, ['rev-parse', '--verify', '-q', ref], env)).stdout
  const syncFile = `${homelab.config.cluster.path.replace(/\/+$/, '')}/${SYNC_FILE}`
  const shown = await git(root, ['show', `${head}:${syncFile}`], env)
  if (shown.exitCode !== 0)
    throw new HomelabError(`${syncFile}: not in ${remote}/${branch} (${head.slice(0, 12)}): Flux has nothing to sync`, {
      suggestions: ['commit the GitRepository and root Kustomization there (see homelab init) and push'],
    })
  const objects = parseSyncObjects(shown.stdout, syncFile)
  checkGitRepository(objects, syncFile, {branch, url: parsed.url})
  return {branch, forge: {host: parsed.host, path: parsed.path}, head, objects, syncFile, url: parsed.url}
}

/**
 * Parses the sync file's YAML documents into plain objects (empty documents dropped).
 * @throws HomelabError naming the file on a YAML error
 */
export function parseSyncObjects(text: string, file: string): Array<Record<string, unknown>> {
  const objects: Array<Record<string, unknown>> = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new HomelabError(`${file}: ${doc.errors[0].message.split('\n')[0]}`)
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) continue
    if (typeof value !== 'object' || Array.isArray(value)) throw new HomelabError(`${file}: every document must be a Kubernetes object`)
    objects.push(value as Record<string, unknown>)
  }

  return objects
}

/**
 * Checks the sync objects: one GitRepository `flux-system/flux-system` whose `spec.url` is `url`,
 * `spec.ref.branch` is `branch` and `spec.secretRef.name` is `flux-system` (the Secret bootstrap
 * writes), and a Kustomization `flux-system/flux-system`.
 * @throws HomelabError (one line naming the file and the field) when not
 */
export function checkGitRepository(objects: Array<Record<string, unknown>>, file: string, want: {url: string; branch: string}): void {
  const named = (kind: string) =>
    objects.find((o) => o.kind === kind && (o.metadata as {name?: string; namespace?: string} | undefined)?.name === 'flux-system' && (o.metadata as {namespace?: string}).namespace === 'flux-system')
  const repo = named('GitRepository') as {spec?: {url?: string; ref?: {branch?: string}; secretRef?: {name?: string}}} | undefined
  if (!repo) throw new HomelabError(`${file}: no GitRepository flux-system in namespace flux-system`)
  if (!named('Kustomization')) throw new HomelabError(`${file}: no Kustomization flux-system in namespace flux-system`)
  const url = repo.spec?.url ?? ''
  if (!sameRepositoryUrl(url, want.url))
    throw new HomelabError(`${file}: GitRepository flux-system spec.url is ${url || '(none)'}, but the git remote is ${want.url}: make them agree`)
  const branch = repo.spec?.ref?.branch
  if (branch !== want.branch) throw new HomelabError(`${file}: GitRepository flux-system spec.ref.branch is ${branch ?? '(none)'}, but homelab.yaml git.branch is ${want.branch}: make them agree`)
  if (repo.spec?.secretRef?.name !== 'flux-system')
    throw new HomelabError(`${file}: GitRepository flux-system spec.secretRef.name must be flux-system (the Secret holding the deploy key)`)
}
