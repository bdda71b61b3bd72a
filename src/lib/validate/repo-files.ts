import {type Dirent, promises as fs} from 'node:fs'
import path from 'node:path'

import {isUnder} from '../fs/path-under.js'
import {specialKind} from '../fs/read-regular.js'

/**
 * Top-level folders of a homelab repository that hold the CLI itself or build output, not the
 * homelab: validate never looks inside them. `test/` holds deliberately broken fixtures.
 */
export const IGNORED_TOP_DIRS: ReadonlySet<string> = new Set(['src', 'test', 'bench', 'dist', 'coverage', 'bin', '.homelab-state', 'result'])

/** Folders ignored at any depth. */
export const IGNORED_DIRS: ReadonlySet<string> = new Set(['.git', 'node_modules'])

/**
 * Calls `visit(rel, entry)` for every entry of the homelab in `root` that is not a folder
 * (repository-relative POSIX path), skipping {@link IGNORED_TOP_DIRS} at the top and
 * {@link IGNORED_DIRS} anywhere; symlinks are not followed. Folders are read in parallel.
 * @throws NodeJS.ErrnoException when a folder cannot be read, or what `visit` throws
 */
async function walkRepo(root: string, visit: (rel: string, entry: Dirent) => Promise<void> | void): Promise<void> {
  async function walk(rel: string): Promise<void> {
    const entries = await fs.readdir(path.join(root, rel), {withFileTypes: true})
    await Promise.all(
      entries.map(async (entry) => {
        const child = rel ? `${rel}/${entry.name}` : entry.name
        if (!entry.isDirectory()) return visit(child, entry)
        if (IGNORED_DIRS.has(entry.name) || (!rel && IGNORED_TOP_DIRS.has(entry.name))) return
        return walk(child)
      }),
    )
  }

  await walk('')
}

/**
 * Lists every regular file of the homelab in `root`, as repository-relative POSIX paths, sorted.
 * Skips {@link IGNORED_TOP_DIRS} at the top and {@link IGNORED_DIRS} anywhere; symlinks are not followed.
 * @throws NodeJS.ErrnoException when `root` cannot be read
 */
export async function listRepoFiles(root: string): Promise<string[]> {
  const out: string[] = []
  await walkRepo(root, (rel, entry) => {
    if (entry.isFile()) out.push(rel)
  })
  return out.sort()
}

/** A homelab entry that is neither a regular file nor a folder (see {@link listNonRegularFiles}). */
export interface NonRegularFile {
  /** Repository-relative POSIX path. */
  rel: string
  /** What it is, in words: `a FIFO (named pipe)`, `a character device` … (see specialKind). */
  kind: string
}

/**
 * Every FIFO, device or socket of the homelab in `root`, and every symbolic link to one inside
 * the repository, sorted by path (the folders {@link listRepoFiles} skips are skipped). Nothing is
 * opened. Links that leave the repository are left to listLinksOutside; dangling links are skipped.
 * @throws NodeJS.ErrnoException when `root` cannot be read
 */
export async function listNonRegularFiles(root: string): Promise<NonRegularFile[]> {
  const rootReal = await fs.realpath(root)
  const out: NonRegularFile[] = []
  await walkRepo(root, async (rel, entry) => {
    if (entry.isFile()) return
    if (entry.isSymbolicLink()) {
      const real = await fs.realpath(path.join(root, rel)).catch(() => undefined)
      if (real === undefined || !isUnder(real, rootReal)) return
    }

    const stats = await fs.stat(path.join(root, rel)).catch(() => undefined)
    const kind = stats && specialKind(stats)
    if (kind) out.push({kind, rel})
  })
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}

/** True for `.yaml`/`.yml` files. */
export function isYamlFile(rel: string): boolean {
  return /\.ya?ml$/i.test(rel)
}

/** True for kustomize's own config files (`kustomization.yaml`, `kustomization.yml`, `Kustomization`). */
export function isKustomizationFile(rel: string): boolean {
  return ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].includes(path.posix.basename(rel))
}
