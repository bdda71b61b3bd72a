import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {HomelabError, UsageError} from '../errors.js'

/** One side of a diff: a commit of the repository, or the working tree as it is on disk. */
export interface RevisionSide {
  /** What the person asked for: `HEAD`, a branch, a commit, or `working tree`. */
  label: string
  /** The full commit id; undefined for the working tree. */
  commit?: string
}

/** A revision's files on disk, ready to build. */
export interface MaterialisedRevision extends RevisionSide {
  /** Absolute folder holding the revision's files (the repository root itself for the working tree). */
  dir: string
  /** Removes the folder when it is a temporary copy; does nothing for the working tree. */
  cleanup(): Promise<void>
  /** Makes sure the top-level folder holding `rel` (repository-relative) is there (extracts it from git when missing). */
  ensure(rel: string): Promise<void>
}

/** The label of the working tree side. */
export const WORKING_TREE = 'working tree'

/**
 * Resolves `rev` to a commit of the repository at `root` (`git rev-parse --verify REV^{commit}`).
 * @throws UsageError (exit 3) naming the revision when git does not know it
 */
export async function resolveCommit(root: string, rev: string, flag: string): Promise<string> {
  if (rev.startsWith('-')) throw new UsageError(`${flag} ${rev}: not a revision (it starts with -)`)
  const result = await execa('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {cwd: root, reject: false})
  if (result.exitCode !== 0 || !result.stdout.trim()) {
    const inRepo = await execa('git', ['rev-parse', '--git-dir'], {cwd: root, reject: false})
    if (inRepo.exitCode !== 0) throw new UsageError(`${root} is not a git repository: ${flag} needs one (git init, and commit the homelab)`)
    throw new UsageError(`${flag} ${rev}: no such commit in ${root}`, {suggestions: ['give a commit, branch or tag (git log --oneline shows them)']})
  }

  return result.stdout.trim()
}

/**
 * Puts the files of `commit` under `paths` (repository-relative folders) into a new private temp
 * folder with `git archive | tar -x` (the person's working tree, index and refs are never
 * touched). Only what the builds read is extracted; {@link MaterialisedRevision.ensure} adds a
 * folder later (a Kustomization whose spec.path lies elsewhere).
 * @throws HomelabError when git archive or tar fails (names the commit)
 */
export async function materialiseCommit(root: string, side: Required<RevisionSide>, paths: readonly string[] = ['.']): Promise<MaterialisedRevision> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-diff-'))
  const cleanup = () => fs.rm(dir, {force: true, recursive: true})
  const extracted = new Set<string>()
  const extract = async (rels: readonly string[]) => {
    // Only folders the commit has (git archive fails on a pathspec that matches nothing).
    const listed = await execa('git', ['ls-tree', '--name-only', side.commit, '--', ...rels.map((r) => r.replace(/\/+$/, ''))], {cwd: root, reject: false})
    const present = rels.filter((r) => r === '.' || listed.stdout.split('\n').includes(r.replace(/\/+$/, '')))
    for (const r of rels) extracted.add(r)
    if (present.length === 0) return
    const archive = execa('git', ['archive', '--format=tar', side.commit, '--', ...present], {buffer: false, cwd: root, reject: false, stdout: 'pipe'})
    const tar = execa('tar', ['-x', '-f', '-', '-C', dir], {reject: false})
    archive.stdout!.pipe(tar.stdin!)
    const [a, t] = await Promise.all([archive, tar])
    if (a.exitCode !== 0 || t.exitCode !== 0)
      throw new HomelabError(`cannot read ${side.label} (${side.commit.slice(0, 7)}) from git: ${String(a.exitCode === 0 ? t.stderr : a.stderr).split('\n')[0]}`)
  }

  try {
    await extract(paths)
  } catch (error) {
    await cleanup()
    throw error
  }

  const ensure = async (rel: string) => {
    const top = rel.split('/')[0]
    if (extracted.has('.') || extracted.has(top) || extracted.has(rel)) return
    await extract([top])
  }

  return {...side, cleanup, dir, ensure}
}

/**
 * Materialises `rev` of the repository at `root`: the working tree itself when `rev` is
 * undefined, else a temp copy of the commit's `paths` (see {@link materialiseCommit}).
 * @throws UsageError for an unknown revision; HomelabError when it cannot be read
 */
export async function materialise(root: string, rev: string | undefined, flag: string, paths?: readonly string[]): Promise<MaterialisedRevision> {
  if (rev === undefined) return {cleanup: async () => {}, dir: root, ensure: async () => {}, label: WORKING_TREE}
  const commit = await resolveCommit(root, rev, flag)
  return materialiseCommit(root, {commit, label: rev}, paths)
}
