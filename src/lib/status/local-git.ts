/** Local Git facts `homelab status` compares the cluster and host against. */
export interface LocalGit {
  /** Full id of local HEAD, null outside a Git repository. */
  head: string | null
  /** Full id of `<remote>/<branch>` after the fetch (or the last known one when the fetch failed). */
  remoteHead: string | null
  /** Why `git fetch` failed (then remoteHead is the last fetched value), undefined when it worked. */
  fetchError?: string
  /** Counts `git rev-list --count from..to`; null when either commit is not in the local repository. */
  behind(from: string, to: string): Promise<number | null>
  /** `git log --format='%H %s' from..to`, newest first, at most `limit`; [] when unknown. */
  commitsBetween(from: string, to: string, limit: number): Promise<Array<{commit: string; subject: string}>>
}

/**
 * Reads HEAD and the remote branch head of the repository at `cwd`, fetching `<remote> <branch>`
 * first (at most `fetchTimeoutMs`, default 20 s) so "behind" is measured against the real remote.
 * Never throws: a missing repository gives nulls, a failed fetch sets `fetchError`.
 */
export async function readLocalGit(options: {
  cwd: string
  remote: string
  branch: string
  fetch?: boolean
  fetchTimeoutMs?: number
  /** The caller's environment; its GIT_SSH_COMMAND is kept for the fetch. */
  env?: Record<string, string | undefined>
}): Promise<LocalGit> {
  const {execa} = await import('execa')
  const git = async (args: string[], timeout = 10_000): Promise<string | null> => {
    const r = await execa('git', args, {cwd: options.cwd, reject: false, timeout, env: {GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C'}})
    return r.exitCode === 0 ? String(r.stdout).trim() : null
  }

  const known = new Map<string, boolean>()
  const exists = async (commit: string): Promise<boolean> => {
    if (!known.has(commit)) known.set(commit, (await git(['cat-file', '-e', `${commit}^{commit}`])) !== null)
    return known.get(commit)!
  }

  const ref = `refs/remotes/${options.remote}/${options.branch}`
  let fetchError: string | undefined
  const [head] = await Promise.all([
    git(['rev-parse', '--verify', '-q', 'HEAD']),
    (async () => {
      if (options.fetch === false) return
      const r = await execa('git', ['fetch', '--quiet', '--no-tags', options.remote, `+refs/heads/${options.branch}:${ref}`], {
        cwd: options.cwd,
        env: {GIT_SSH_COMMAND: options.env?.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C'},
        reject: false,
        timeout: options.fetchTimeoutMs ?? 20_000,
      })
      if (r.exitCode !== 0) fetchError = (String(r.stderr).trim().split('\n').pop() ?? '') || (r.timedOut ? 'timed out' : `exit status ${r.exitCode}`)
    })(),
  ])
  const remoteHead = await git(['rev-parse', '--verify', '-q', ref])

  return {
    async behind(from, to) {
      if (!(await exists(from)) || !(await exists(to))) return null
      const n = await git(['rev-list', '--count', `${from}..${to}`])
      return n === null ? null : Number(n)
    },
    async commitsBetween(from, to, limit) {
      if (!(await exists(from)) || !(await exists(to))) return []
      const out = await git(['log', `--max-count=${limit}`, '--format=%H %s', `${from}..${to}`])
      return (out ?? '')
        .split('\n')
        .filter(Boolean)
        .map((l) => ({commit: l.slice(0, 40), subject: l.slice(41)}))
    },
    fetchError,
    head,
    remoteHead,
  }
}
