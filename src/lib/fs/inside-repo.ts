import {type Dirent, lstatSync, promises as fs} from 'node:fs'
import path from 'node:path'

import {HomelabError} from '../errors.js'
import {isUnder} from './path-under.js'

/**
 * A path of the repository resolves, through a symbolic link, to a place outside the repository.
 * homelab never reads, writes or deletes through such a link. Exit 1; the message names the path.
 */
export class OutsideRepoError extends HomelabError {}

/** At most this many links are followed for one path (Linux's MAXSYMLINKS is 40). */
const MAX_LINKS = 40

/**
 * The real path of `target` (absolute, every symbolic link resolved), also when it or its last
 * parts do not exist yet: the longest existing prefix is resolved with `realpath` and the missing
 * rest appended; a dangling link is followed to where it points (where a write would land).
 * @throws NodeJS.ErrnoException other than ENOENT/ENOTDIR (EACCES, ELOOP …)
 */
export async function resolveReal(target: string, depth = 0): Promise<string> {
  const rest: string[] = []
  let current = path.resolve(target)
  for (;;) {
    try {
      return path.join(await fs.realpath(current), ...rest)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
    }

    const link = await fs.lstat(current).catch(() => undefined)
    if (link?.isSymbolicLink() && depth < MAX_LINKS) {
      const to = path.resolve(path.dirname(current), await fs.readlink(current))
      return path.join(await resolveReal(to, depth + 1), ...rest)
    }

    const parent = path.dirname(current)
    if (parent === current) return path.join(current, ...rest)
    rest.unshift(path.basename(current))
    current = parent
  }
}

/**
 * Where a repository path really is: `real` is {@link resolveReal} of `root`/`rel`, `inside` is
 * true when it lies under the real path of `root` (the repository root, itself possibly reached
 * through a link).
 * @param root the repository root (absolute or relative to the cwd)
 * @param rel a path relative to `root` (POSIX or native separators), or an absolute path
 */
export async function realpathInside(root: string, rel: string): Promise<{real: string; rootReal: string; inside: boolean}> {
  const rootReal = await resolveReal(root)
  const real = await resolveReal(path.resolve(root, rel))
  return {inside: isUnder(real, rootReal), real, rootReal}
}

/**
 * Refuses a repository path that leads out of the repository through a symbolic link (the path
 * itself or one of its folders). Call it before reading, writing or deleting `rel`.
 * @param root the repository root
 * @param rel the path, relative to `root` (or absolute)
 * @returns the real (absolute) path, under the real root
 * @throws OutsideRepoError, one line: "<rel> is a symbolic link to <real>, outside the repository …"
 */
export async function assertInsideRepo(root: string, rel: string): Promise<string> {
  const {inside, real} = await realpathInside(root, rel)
  if (!inside) {
    const shown = path.isAbsolute(rel) ? path.relative(path.resolve(root), rel) || rel : rel
    throw new OutsideRepoError(
      `${shown} leads through a symbolic link to ${real}, outside the repository; homelab does not follow it and changed nothing: replace the link with the files themselves, or remove it`,
    )
  }

  return real
}

/** A symbolic link found by {@link listLinksOutside}: its repository-relative path and where it leads. */
export interface OutsideLink {
  /** Repository-relative POSIX path of the link. */
  rel: string
  /** The absolute real path it resolves to. */
  target: string
}

/**
 * Every symbolic link in the repository that resolves outside it (a dangling link counts by where
 * it points), sorted by path. Links are never followed while walking.
 * @param skip called with each folder's repository-relative POSIX path; true leaves it out (e.g. `.git`)
 * @throws NodeJS.ErrnoException when `root` cannot be read
 */
export async function listLinksOutside(root: string, skip: (rel: string, name: string) => boolean = () => false): Promise<OutsideLink[]> {
  const rootReal = await resolveReal(root)
  const out: OutsideLink[] = []
  async function walk(rel: string): Promise<void> {
    let entries: Dirent[]
    try {
      entries = await fs.readdir(path.join(root, rel), {withFileTypes: true})
    } catch {
      return
    }

    await Promise.all(
      entries.map(async (entry) => {
        const child = rel ? `${rel}/${entry.name}` : entry.name
        if (entry.isSymbolicLink()) {
          const target = await resolveReal(path.join(root, child)).catch(() => undefined)
          if (target !== undefined && !isUnder(target, rootReal)) out.push({rel: child, target})
        } else if (entry.isDirectory() && !skip(child, entry.name)) await walk(child)
      }),
    )
  }

  await walk('')
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}

/** True when `file` exists as an entry, a symbolic link included (dangling or not): `lstat`, never following it. */
export function existsNoFollow(file: string): boolean {
  try {
    lstatSync(file)
    return true
  } catch {
    return false
  }
}
