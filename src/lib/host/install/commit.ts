import {execa} from 'execa'
import path from 'node:path'

/** What {@link commitInstallFiles} did. */
export interface InstallCommit {
  /** The new commit (full hash), when one was made. */
  commit?: string
  /** Repository-relative paths committed. */
  files: string[]
  /** Why nothing could be committed (git's first line), when it failed; the files are left changed. */
  problem?: string
}

/**
 * Commits the files an install changed (known_hosts, the host secrets file) and only them
 * (`git commit -m MESSAGE -- PATHS`: other staged changes stay staged, uncommitted), so the first
 * `homelab deploy` finds a clean tree and ships the pinned key and the secrets with the pushed
 * commit. Nothing is committed when they equal HEAD.
 *
 * @param root the repository root (inside the git work tree)
 * @param files absolute paths
 * @returns the commit, or the problem (never throws for a git failure)
 */
export async function commitInstallFiles(root: string, files: string[], message: string, env: NodeJS.ProcessEnv = process.env): Promise<InstallCommit> {
  const rel = files.map((f) => path.relative(root, f))
  const status = await execa('git', ['status', '--porcelain', '--', ...rel], {cwd: root, env, reject: false})
  if (status.exitCode !== 0) return {files: [], problem: firstLine(status.stderr)}
  if (status.stdout.trim() === '') return {files: []}
  const add = await execa('git', ['add', '--', ...rel], {cwd: root, env, reject: false})
  if (add.exitCode !== 0) return {files: [], problem: firstLine(add.stderr)}
  const commit = await execa('git', ['commit', '-q', '-m', message, '--', ...rel], {cwd: root, env, reject: false})
  if (commit.exitCode !== 0) return {files: [], problem: firstLine(commit.stderr || commit.stdout)}
  const head = await execa('git', ['rev-parse', 'HEAD'], {cwd: root, env, reject: false})
  return {commit: head.stdout.trim(), files: rel}
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'git failed'
}
