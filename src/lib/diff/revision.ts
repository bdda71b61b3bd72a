import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {HomelabError, UsageError} from '../errors.js'
import {pipe, type ProcessResult, run} from './exec.js'

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
  /**
   * The identity of the content at `rel` (a repository-relative folder or file, `.` for the whole
   * repository): equal identities mean equal content (names, modes and bytes of everything under
   * it). For a commit it is git's tree or blob id (`tree:ID`, `blob:ID`, from one `git ls-tree`);
   * for the working tree the ids git would give the files on disk ({@link diskIdentity}), so a
   * folder left as committed matches the commit. `absent` when nothing is there; undefined
   * when the content cannot be vouched for (a symlink or submodule under it, or the whole
   * working tree): a build reading it is then not shared. Absent on revisions made elsewhere.
   */
  identity?(rel: string): Promise<string | undefined>
}

/** The label of the working tree side. */
export const WORKING_TREE = 'working tree'

/**
 * Resolves `rev` to a commit of the repository at `root` (`git rev-parse --verify REV^{commit}`).
 * @throws UsageError (exit 3) naming the revision when git does not know it
 */
export async function resolveCommit(root: string, rev: string, flag: string): Promise<string> {
  if (rev.startsWith('-')) throw new UsageError(`${flag} ${rev}: not a revision (it starts with -)`)
  const result = await run('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {cwd: root})
  if (result.exitCode !== 0 || !result.stdout.trim()) {
    const inRepo = await run('git', ['rev-parse', '--git-dir'], {cwd: root})
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
  const listed = listTree(root, side)
  listed.catch(() => {}) // awaited below; this only keeps an early failure from being unhandled
  // Each folder's extraction, once: a second build asking for a folder waits for the first one's.
  const extracted = new Map<string, Promise<void>>()
  const fail = (a: ProcessResult, t: ProcessResult) =>
    new HomelabError(`cannot read ${side.label} (${side.commit.slice(0, 7)}) from git: ${(a.exitCode === 0 ? t.stderr : a.stderr).split('\n')[0]}`)
  const extract = async (rels: readonly string[]) => {
    // Only paths the commit has (git archive fails on a pathspec that matches nothing).
    const tree = await listed
    const present = rels.filter((r) => r === '.' || tree.entries.has(r.replace(/\/+$/, '')))
    if (present.length === 0) return
    const [a, t] = await pipe({args: ['archive', '--format=tar', side.commit, '--', ...present], cwd: root, file: 'git'}, {args: ['-x', '-f', '-', '-C', dir], file: 'tar'})
    if (a.exitCode !== 0 || t.exitCode !== 0) throw fail(a, t)
  }

  // The first paths are extracted while the tree is listed; a path the commit lacks makes git
  // archive fail, and is then checked against the tree (nothing to extract), as extract does.
  const first = (async () => {
    const [a, t] = await pipe({args: ['archive', '--format=tar', side.commit, '--', ...paths], cwd: root, file: 'git'}, {args: ['-x', '-f', '-', '-C', dir], file: 'tar'})
    if (a.exitCode === 0 && t.exitCode === 0) return
    const tree = await listed
    if (paths.every((r) => r === '.' || tree.entries.has(r.replace(/\/+$/, '')))) throw fail(a, t)
    await fs.rm(dir, {force: true, recursive: true})
    await fs.mkdir(dir, {mode: 0o700})
    await extract(paths)
  })()
  let tree: CommitTree
  try {
    for (const p of paths) extracted.set(p, first)
    const [listedTree] = await Promise.all([listed, first])
    tree = listedTree
  } catch (error) {
    await Promise.allSettled([listed, first])
    await cleanup()
    throw error
  }

  const ensure = async (rel: string) => {
    const top = rel.split('/')[0]
    const pending = extracted.get('.') ?? extracted.get(top) ?? extracted.get(rel)
    if (pending) return pending
    const started = extract([top])
    extracted.set(top, started)
    return started
  }

  return {...side, cleanup, dir, ensure, identity: async (rel) => tree.identity(rel)}
}

/** A commit's tree as `git ls-tree -r -t` lists it: every path with its mode, type and object id. */
interface CommitTree {
  entries: Map<string, {mode: string; type: string; id: string}>
  identity(rel: string): string | undefined
}

/**
 * Lists every path of the commit once (`git ls-tree -r -t -z --full-tree`, format
 * `<mode> SP <type> SP <object> TAB <path>`, git-ls-tree(1)). The whole tree's identity is the
 * hash of its top-level entries (the same content gives the same entries, as git's own tree id).
 * A folder holding a symlink (mode 120000) or submodule (160000) anywhere under it has no identity.
 */
async function listTree(root: string, side: Required<RevisionSide>): Promise<CommitTree> {
  const listed = await run('git', ['ls-tree', '-r', '-t', '-z', '--full-tree', side.commit], {cwd: root})
  if (listed.exitCode !== 0) throw new HomelabError(`cannot read ${side.label} (${side.commit.slice(0, 7)}) from git: ${String(listed.stderr).split('\n')[0]}`)
  const entries = new Map<string, {mode: string; type: string; id: string}>()
  const unsafe = new Set<string>()
  const top = createHash('sha256')
  for (const line of String(listed.stdout).split('\0')) {
    const tab = line.indexOf('\t')
    if (tab === -1) continue
    const [mode, type, id] = line.slice(0, tab).split(' ')
    const rel = line.slice(tab + 1)
    entries.set(rel, {id, mode, type})
    if (!rel.includes('/')) top.update(`${mode} ${type} ${id}\t${rel}\0`)
    if (mode === '120000' || mode === '160000') {
      unsafe.add(rel)
      for (let at = rel.lastIndexOf('/'); at > 0; at = rel.lastIndexOf('/', at - 1)) unsafe.add(rel.slice(0, at))
      unsafe.add('')
    }
  }

  const whole = `tree-of-top:${top.digest('hex')}`
  return {
    entries,
    identity(rel) {
      const r = rel.replace(/^\.\//, '').replace(/\/+$/, '')
      if (r === '.' || r === '') return unsafe.has('') ? undefined : whole
      if (unsafe.has(r)) return undefined
      const entry = entries.get(r)
      return entry ? `${entry.type}:${entry.id}` : 'absent'
    },
  }
}

/**
 * The identity of `rel` in a folder on disk (see {@link MaterialisedRevision.identity}), in git's
 * own terms so that a folder equal to a commit's gets the same identity: `blob:ID`/`tree:ID` with
 * the object ids git would give the bytes on disk (sha1 of `blob <size>\0<bytes>`, and of the
 * tree object `<mode> <name>\0<20-byte id>…` in git's order; gitformat-objects(5)). A file git
 * ignores counts too (then it simply differs from the commit). `absent` when missing; undefined
 * for the whole repository (`.`) and when a symlink or other special file is under it.
 */
export async function diskIdentity(dir: string, rel: string): Promise<string | undefined> {
  const r = rel.replace(/^\.\//, '').replace(/\/+$/, '')
  if (r === '.' || r === '') return undefined
  const full = path.join(dir, r)
  const stat = await fs.lstat(full).catch(() => undefined)
  if (!stat) return 'absent'
  if (stat.isFile()) return `blob:${gitObjectId('blob', await fs.readFile(full))}`
  if (!stat.isDirectory()) return undefined
  const id = await gitTreeId(full)
  return id === undefined ? undefined : `tree:${id === '' ? gitObjectId('tree', Buffer.alloc(0)) : id}`
}

function gitObjectId(type: string, body: Buffer): string {
  return createHash('sha1').update(`${type} ${body.length}\0`).update(body).digest('hex')
}

/** Git's tree id of a folder on disk ('' for a folder without files, which git does not record); undefined when it holds a symlink or special file. */
async function gitTreeId(dir: string): Promise<string | undefined> {
  const entries: Array<{id: string; mode: string; name: string}> = []
  for (const entry of await fs.readdir(dir, {withFileTypes: true})) {
    if (entry.name === '.git') continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      const id = await gitTreeId(full)
      if (id === undefined) return undefined
      if (id !== '') entries.push({id, mode: '40000', name: entry.name})
    } else if (entry.isFile()) {
      const [data, stat] = await Promise.all([fs.readFile(full), fs.stat(full)])
      entries.push({id: gitObjectId('blob', data), mode: stat.mode & 0o111 ? '100755' : '100644', name: entry.name})
    } else return undefined
  }

  if (entries.length === 0) return ''
  // git orders tree entries by name bytes, a folder's name as if it ended in '/'.
  const sortName = (e: {mode: string; name: string}) => Buffer.from(e.mode === '40000' ? `${e.name}/` : e.name)
  entries.sort((a, b) => Buffer.compare(sortName(a), sortName(b)))
  const body = Buffer.concat(entries.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.id, 'hex')]))
  return gitObjectId('tree', body)
}

/**
 * Materialises `rev` of the repository at `root`: the working tree itself when `rev` is
 * undefined, else a temp copy of the commit's `paths` (see {@link materialiseCommit}).
 * @param resolved the commit `rev` names when the caller resolved it already ({@link resolveCommit})
 * @throws UsageError for an unknown revision; HomelabError when it cannot be read
 */
export async function materialise(root: string, rev: string | undefined, flag: string, paths?: readonly string[], resolved?: string): Promise<MaterialisedRevision> {
  if (rev === undefined) return {cleanup: async () => {}, dir: root, ensure: async () => {}, identity: (rel) => diskIdentity(root, rel), label: WORKING_TREE}
  const commit = resolved ?? (await resolveCommit(root, rev, flag))
  return materialiseCommit(root, {commit, label: rev}, paths)
}
