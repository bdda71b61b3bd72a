import {HomelabError} from '../../errors.js'

/** The repository's URL could not be read or turned into Flux's `ssh://` form. Exit 1. */
export class GitUrlError extends HomelabError {}

/**
 * Converts a Git remote URL to the form Flux's GitRepository takes for SSH
 * (`ssh://git@github.com/owner/repo`, flux2 docs "flux create source git": `--url=ssh://git@…`;
 * source-controller does not accept the scp-like `git@host:path`). Accepted inputs:
 * `git@host:owner/repo(.git)`, `ssh://[user@]host[:port]/owner/repo(.git)`,
 * `https://host/owner/repo(.git)` (the same repository over SSH, user `git`).
 * The `.git` suffix and a trailing slash are dropped.
 *
 * @returns the URL and the forge host and `owner/repo` path, e.g. `{url, host: 'github.com', path: 'aiden/homelab'}`
 * @throws GitUrlError for anything else (a local path, `file://`)
 */
export function fluxSshUrl(remoteUrl: string): {url: string; host: string; path: string} {
  const raw = remoteUrl.trim()
  let user = 'git'
  let host: string
  let port = ''
  let repoPath: string
  const scp = /^(?:([^@/]+)@)?([^:/]+):(?!\/)(.+)$/.exec(raw)
  if (/^(ssh|git\+ssh|https?):\/\//.test(raw)) {
    const u = new URL(raw)
    if (u.protocol === 'ssh:' || u.protocol === 'git+ssh:') {
      user = u.username || 'git'
      port = u.port ? `:${u.port}` : ''
    }

    host = u.hostname
    repoPath = decodeURIComponent(u.pathname)
  } else if (scp && !raw.includes('://')) {
    user = scp[1] ?? 'git'
    host = scp[2]
    repoPath = scp[3]
  } else {
    throw new GitUrlError(`${raw}: not a forge URL Flux can fetch over SSH (expected git@host:owner/repo, ssh://… or https://…)`)
  }

  repoPath = repoPath.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/, '')
  if (!host || !repoPath) throw new GitUrlError(`${raw}: no host or repository path in the URL`)
  return {host, path: repoPath, url: `ssh://${user}@${host}${port}/${repoPath}`}
}

/** Two Flux SSH URLs name the same repository (a `.git` suffix and a trailing slash aside). */
export function sameRepositoryUrl(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().replace(/\/+$/, '').replace(/\.git$/, '')
  return norm(a) === norm(b)
}

/**
 * Where a person adds the deploy key: GitHub's repository page Settings → Deploy keys
 * (`https://github.com/<owner>/<repo>/settings/keys`, read-only is enough for Flux), else the
 * forge's own deploy-key page for the repository.
 */
export function deployKeyPage(host: string, repoPath: string): string {
  if (host === 'github.com') return `https://github.com/${repoPath}/settings/keys (Settings → Deploy keys → Add deploy key; leave "Allow write access" off)`
  if (host === 'gitlab.com') return `https://gitlab.com/${repoPath}/-/settings/repository (Deploy keys; read-only)`
  return `the deploy keys of ${repoPath} on ${host} (read-only)`
}
