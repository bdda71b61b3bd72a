import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {HomelabError} from '../errors.js'
import {fsyncDir} from './atomic-write.js'
import {assertInsideRepo} from './inside-repo.js'

/**
 * One file in a change set. `before` is the content the file must still have when the change set
 * is written (`null`: the file must not exist); `after` is the new content (`null`: delete it).
 * Paths are absolute.
 */
export interface FileChange {
  path: string
  before: string | null
  after: string | null
  /** Mode of a created file (octal, default 0o644). Changed files keep their own mode. */
  mode?: number
}

/** The file-system calls the writer makes; tests replace one to make a write fail. */
export interface TransactionFs {
  writeFile(file: string, data: string, mode: number): Promise<void>
  rename(from: string, to: string): Promise<void>
}

/** Options for {@link applyChanges}. */
export interface ApplyChangesOptions {
  /** Folders (absolute) to remove after the commit when they are left empty (e.g. a removed app's folder). */
  removeEmptyDirs?: string[]
  /**
   * The repository root: paths in error messages are made relative to it, and a change whose path
   * leads out of it through a symbolic link is refused (OutsideRepoError, nothing written).
   */
  root?: string
  /** Replaces the writer's file-system calls (tests). */
  fs?: Partial<TransactionFs>
}

/** A change set could not be written; every file was put back as it was. */
export class TransactionError extends HomelabError {}

const defaultFs: TransactionFs = {
  async rename(from, to) {
    await fs.rename(from, to)
  },
  async writeFile(file, data, mode) {
    const handle = await fs.open(file, 'wx', mode)
    try {
      await handle.writeFile(data)
      await handle.chmod(mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
  },
}

/**
 * Writes a set of file changes all or nothing: first checks that every file still holds its
 * `before` content, then writes a temp file next to every target, then renames them all into place
 * (deleted files are renamed aside). If any step fails, the files already renamed are put back
 * (original bytes and mode restored, created files and folders removed, renamed-aside files moved
 * back), temps are removed, and a {@link TransactionError} names the file that failed.
 * A crash (power loss) between two renames can still leave a mix; each single file is never torn.
 *
 * @throws TransactionError when a file changed since the change set was prepared (nothing is
 *   written), or when a write fails (everything is rolled back); OutsideRepoError when, with
 *   `root`, a path leads out of the repository through a symbolic link (nothing is written).
 */
export async function applyChanges(changes: readonly FileChange[], options: ApplyChangesOptions = {}): Promise<void> {
  const ops: TransactionFs = {...defaultFs, ...options.fs}
  const show = (file: string) => (options.root ? path.relative(options.root, file) : file)

  // 1. Every file must be as it was when the change set was prepared, and (with a root) inside it.
  const modes = new Map<string, number>()
  for (const change of changes) {
    if (options.root) await assertInsideRepo(options.root, change.path)
    const current = await readOrNull(change.path)
    if ((current?.text ?? null) !== change.before)
      throw new TransactionError(`${show(change.path)} changed while the change was prepared; nothing was written`, {
        suggestions: ['run the command again'],
      })
    modes.set(change.path, current ? current.mode : (change.mode ?? 0o644))
  }

  const suffix = randomBytes(6).toString('hex')
  const tempOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${suffix}.tmp`)
  const asideOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${suffix}.old`)
  const createdDirs: string[] = []
  const temps: string[] = []
  const committed: FileChange[] = []
  let failing = ''

  try {
    // 2. Temps for every new content (and the folders new files need).
    for (const change of changes) {
      failing = change.path
      if (change.after === null) continue
      await mkdirRecorded(path.dirname(change.path), createdDirs)
      const temp = tempOf(change.path)
      await ops.writeFile(temp, change.after, modes.get(change.path)!)
      temps.push(temp)
    }

    // 3. Rename all into place.
    for (const change of changes) {
      failing = change.path
      await (change.after === null ? ops.rename(change.path, asideOf(change.path)) : ops.rename(tempOf(change.path), change.path))
      committed.push(change)
    }
  } catch (error) {
    const problems = await rollback()
    const reason = (error as Error).message
    throw new TransactionError(`could not write ${show(failing)}: ${reason}; ${problems.length === 0 ? 'no file was changed' : 'rollback incomplete'}`, {
      cause: error,
      suggestions: problems.length === 0 ? ['fix the cause and run the command again'] : problems,
    })
  }

  // 4. Clean up: drop renamed-aside originals, then empty folders asked for.
  for (const change of changes) if (change.after === null) await fs.rm(asideOf(change.path), {force: true})
  for (const dir of [...(options.removeEmptyDirs ?? [])].sort((a, b) => b.length - a.length)) await rmdirIfEmpty(dir)
  for (const dir of new Set(changes.map((c) => path.dirname(c.path)))) if (await exists(dir)) await fsyncDir(dir)

  async function rollback(): Promise<string[]> {
    const problems: string[] = []
    for (const change of [...committed].reverse()) {
      try {
        if (change.before === null) await fs.rm(change.path, {force: true})
        else if (change.after === null) await fs.rename(asideOf(change.path), change.path)
        else await restore(change.path, change.before, modes.get(change.path)!)
      } catch (error) {
        problems.push(`restore ${show(change.path)} by hand: ${(error as Error).message}`)
      }
    }

    for (const temp of temps) await fs.rm(temp, {force: true}).catch(() => {})
    for (const dir of [...createdDirs].reverse()) await fs.rmdir(dir).catch(() => {})
    return problems
  }
}

/** Puts original bytes back through a temp and a rename, keeping the mode. */
async function restore(file: string, text: string, mode: number): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.restore`)
  await defaultFs.writeFile(temp, text, mode)
  await fs.rename(temp, file)
}

async function readOrNull(file: string): Promise<{mode: number; text: string} | null> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)])
    return {mode: stat.mode & 0o7777, text}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    if (code === 'EISDIR') throw new TransactionError(`${file} is a folder where a file belongs; nothing was written`)
    throw error
  }
}

/** mkdir -p that records each folder it created (outermost first). */
async function mkdirRecorded(dir: string, created: string[]): Promise<void> {
  if (await exists(dir)) return
  await mkdirRecorded(path.dirname(dir), created)
  await fs.mkdir(dir)
  created.push(dir)
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  try {
    await fs.rmdir(dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOTEMPTY' && code !== 'ENOENT' && code !== 'EEXIST') throw error
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p)
    return true
  } catch {
    return false
  }
}
