import {HomelabError} from '../errors.js'

/** A local preflight problem (dirty tree, wrong branch, push failed). Exit 1. */
export class PreflightError extends HomelabError {}

async function git(cwd: string, args: string[], env?: Record<string, string | undefined>): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const {execa} = await import('execa')
  const r = await execa('git', args, {cwd, env, extendEnv: true, reject: false})
  return {exitCode: r.exitCode ?? 1, stderr: String(r.stderr).trim(), stdout: String(r.stdout).trim()}
}

/** The local repository state deploy starts from. */
export interface LocalGitState {
  branch: string
  /** HEAD commit (40 hex). */
  commit: string
  /** Tracked files with uncommitted changes (`git status --porcelain --untracked-files=no`). */
  dirty: string[]
}

/**
 * Reads branch, HEAD and uncommitted tracked changes of the repository at `root`.
 * @throws PreflightError when `root` is not a git repository or has no commit.
 */
export async function readLocalGit(root: string, env?: Record<string, string | undefined>): Promise<LocalGitState> {
  const [head, branch, status] = await Promise.all([
    git(root, ['rev-parse', 'HEAD'], env),
    git(root, ['rev-parse', '--abbrev-ref', 'HEAD'], env),
    git(root, ['status', '--porcelain', '--untracked-files=no'], env),
  ])
  if (head.exitCode !== 0) throw new PreflightError(`${root}: not a git repository with a commit (${head.stderr.split('\n')[0]})`)
  return {branch: branch.stdout, commit: head.stdout, dirty: status.stdout ? status.stdout.split('\n') : []}
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
