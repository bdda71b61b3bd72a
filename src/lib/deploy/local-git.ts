import path from 'node:path'

import {HomelabError} from '../errors.js'
import {parseKnownHosts} from '../ssh/known-hosts.js'

/** A local preflight problem (dirty tree, wrong branch, push failed). Exit 1. */
export class PreflightError extends HomelabError {}

async function git(cwd: string, args: string[], env?: Record<string, string | undefined>, trim = true): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const {execa} = await import('execa')
  const r = await execa('git', args, {cwd, env, extendEnv: true, reject: false, stripFinalNewline: false})
  const stdout = String(r.stdout)
  return {exitCode: r.exitCode ?? 1, stderr: String(r.stderr).trim(), stdout: trim ? stdout.trim() : stdout}
}

/** One tracked path with uncommitted changes, from `git status --porcelain=v1 -z`. */
export interface GitChange {
  /** Status in the index (staged): `M`, `A`, `D`, `R`, `C`, `T`, `U` or ` ` (none). */
  index: string
  /** Status in the working tree (unstaged), same letters. */
  worktree: string
  /** The path relative to the repository's top folder (the new path of a rename or copy). */
  path: string
  /** For a rename or copy: the path it came from. */
  from?: string
}

/**
 * Parses `git status --porcelain=v1 -z` output: NUL-terminated `XY path` entries, where a rename
 * or copy (`R`/`C` in X or Y) is followed by one more NUL-terminated entry with the original path.
 * Paths are taken as they are (with -z git neither quotes nor escapes them). Untracked (`??`) and
 * ignored (`!!`) entries are skipped: only tracked files make a tree dirty.
 */
export function parsePorcelainZ(output: string): GitChange[] {
  const fields = output.split('\0')
  const changes: GitChange[] = []
  for (let i = 0; i < fields.length; i++) {
    const entry = fields[i]
    if (entry.length < 4 || entry[2] !== ' ') continue // the empty tail after the last NUL
    const index = entry[0]
    const worktree = entry[1]
    const change: GitChange = {index, path: entry.slice(3), worktree}
    if (index === 'R' || index === 'C' || worktree === 'R' || worktree === 'C') change.from = fields[++i]
    if (index === '?' || index === '!') continue
    changes.push(change)
  }

  return changes
}

/** A change for messages: `README.md`, or `new.md (renamed from old.md)`. */
export function describeChange(change: GitChange): string {
  if (change.from === undefined) return change.path
  return `${change.path} (${change.index === 'C' || change.worktree === 'C' ? 'copied' : 'renamed'} from ${change.from})`
}

/** The local repository state deploy starts from. */
export interface LocalGitState {
  branch: string
  /** HEAD commit (40 hex). */
  commit: string
  /** The repository's top folder (`git rev-parse --show-toplevel`); change paths are relative to it. */
  topLevel: string
  /** Tracked files with uncommitted changes, staged or not (`git status --porcelain=v1 -z --untracked-files=no`). */
  changes: GitChange[]
}

/**
 * Reads branch, HEAD and the uncommitted changes to tracked files of the repository at `root`
 * (untracked files do not count).
 * @throws PreflightError when `root` is not a git repository or has no commit.
 */
export async function readLocalGit(root: string, env?: Record<string, string | undefined>): Promise<LocalGitState> {
  const [head, branch, topLevel, status] = await Promise.all([
    git(root, ['rev-parse', 'HEAD'], env),
    git(root, ['rev-parse', '--abbrev-ref', 'HEAD'], env),
    git(root, ['rev-parse', '--show-toplevel'], env),
    git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=no'], env, false),
  ])
  if (head.exitCode !== 0) throw new PreflightError(`${root}: not a git repository with a commit (${head.stderr.split('\n')[0]})`)
  if (status.exitCode !== 0) throw new PreflightError(`git status failed in ${root}: ${status.stderr.split('\n').at(-1) ?? ''}`)
  return {branch: branch.stdout, changes: parsePorcelainZ(status.stdout), commit: head.stdout, topLevel: topLevel.stdout}
}

/**
 * Whether the uncommitted change of the known_hosts file at `file` (absolute) against HEAD,
 * staged and unstaged together, consists only of ADDED lines that are host key entries (what
 * pinning a new host key writes). Returns the added key lines, or undefined when anything else
 * changed: a removed or edited line, a comment, a line that is not a key, or the file being new
 * or gone.
 */
export async function pinnedKeyLines(root: string, file: string, env?: Record<string, string | undefined>): Promise<string[] | undefined> {
  const r = await git(root, ['diff', '--no-color', '--no-ext-diff', '--unified=0', 'HEAD', '--', path.relative(root, file) || '.'], env, false)
  if (r.exitCode !== 0) return undefined
  const added: string[] = []
  const removed: string[] = []
  let inHunks = false
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('@@')) inHunks = true
    else if (!inHunks) {
      if (/^(new|deleted) file mode|^rename |^copy |^Binary files /.test(line)) return undefined
    } else if (line.startsWith('+')) added.push(line.slice(1))
    else if (line.startsWith('-')) removed.push(line.slice(1))
    else if (line !== '' && !line.startsWith('\\')) return undefined
  }

  // A last line without a newline shows as removed and re-added unchanged when a pin is appended
  // after it: that is not a removal.
  for (const line of removed) {
    const at = added.indexOf(line)
    if (at === -1) return undefined
    added.splice(at, 1)
  }

  if (added.length === 0) return undefined
  return added.every((l) => parseKnownHosts(l).length === 1) ? added : undefined
}

/**
 * Pushes `branch` to `remote` (`git push <remote> <branch>`), or with `push: false` checks that
 * the remote branch already is `commit` (`git ls-remote`).
 * @throws PreflightError naming the remote and what git said.
 */
export async function pushOrVerify(options: {root: string; remote: string; branch: string; commit: string; push: boolean; env?: Record<string, string | undefined>}): Promise<void> {
  const {branch, commit, remote, root} = options
  if (options.push) {
    const r = await git(root, ['push', '--porcelain', remote, `HEAD:refs/heads/${branch}`], options.env)
    if (r.exitCode !== 0)
      throw new PreflightError(`git push ${remote} ${branch} failed: ${(r.stderr || r.stdout).split('\n').filter(Boolean).at(-1) ?? ''}`, {
        suggestions: [`pull and rebase on ${remote}/${branch}, or check the remote's URL and your access`],
      })
    return
  }

  const r = await git(root, ['ls-remote', remote, `refs/heads/${branch}`], options.env)
  if (r.exitCode !== 0) throw new PreflightError(`git ls-remote ${remote} failed: ${r.stderr.split('\n').at(-1) ?? ''}`)
  const remoteCommit = r.stdout.split(/\s+/)[0] ?? ''
  if (remoteCommit !== commit)
    throw new PreflightError(`--no-push: ${remote}/${branch} is at ${remoteCommit.slice(0, 12) || 'nothing'}, not HEAD ${commit.slice(0, 12)}`, {
      suggestions: ['push first, or run without --no-push'],
    })
}
