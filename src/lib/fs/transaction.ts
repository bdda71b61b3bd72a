import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {HomelabError} from '../errors.js'
import {asTargetError, fsyncDir} from './atomic-write.js'
import {assertInsideRepo} from './inside-repo.js'
import {isProcessAlive, processStartTime} from './process-alive.js'

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
  /** The name errors show for this file (default: relative to `root`, else the absolute path). */
  displayName?: string
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
   * It is also where the journal goes unless `journalRoot` is given.
   */
  root?: string
  /**
   * The folder whose `.homelab-state/journal.json` records the change while it is renamed into
   * place (see {@link JOURNAL_FILE}); default `root`. Without either, no journal is written: a
   * SIGKILL between two renames can then leave a mix.
   */
  journalRoot?: string
  /** What the journal says made the change (e.g. `app new wiki`), shown when it is recovered. */
  command?: string
  /** Replaces the writer's file-system calls (tests). */
  fs?: Partial<TransactionFs>
}

/** A change set could not be written; every file was put back as it was. */
export class TransactionError extends HomelabError {}

/** Where the journal of a change in progress lives, relative to the journal root (a folder .gitignore covers). */
export const JOURNAL_FILE = path.join('.homelab-state', 'journal.json')

/** The signals that make a change in progress roll back; the exit code is 128 + the signal's number. */
const ROLLBACK_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/**
 * One file of a journal. Paths are relative to the journal root. `temp` holds the new content
 * (null when the file is deleted); `backup` is the original (a hard link made before any rename,
 * or the deleted file renamed aside; null when the file is created).
 */
interface JournalEntry {
  target: string
  temp: string | null
  backup: string | null
  created: boolean
  deleted: boolean
}

/** The journal of one change: written durably before the first rename, removed after the last cleanup. */
interface Journal {
  version: 1
  command: string
  pid: number
  startTime: string | null
  createdAt: string
  /** `applying`: renames may be half done, recovery rolls back; `committed`: every rename done, recovery only cleans up. */
  state: 'applying' | 'committed'
  entries: JournalEntry[]
  /** Folders the change created (outermost first), removed again on rollback when empty. */
  createdDirs: string[]
  /** Folders to remove when empty once committed. */
  removeEmptyDirs: string[]
}

/** The signal that interrupted a change (internal; turned into a TransactionError with exit 128+n). */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`)
  }
}

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
 * `before` content, then writes a temp file next to every target and keeps each original (a hard
 * link, `.NAME.<random>.old`), then — with a journal root — writes a journal durably (fsync)
 * listing every target, temp and backup, then renames them all into place (deleted files are
 * renamed aside), marks the journal committed, removes the backups and the journal.
 *
 * If any step fails, or SIGINT, SIGTERM or SIGHUP arrives before the commit, the files already
 * renamed are put back from their backups (bytes and mode), created files and folders are
 * removed, temps are removed, and a {@link TransactionError} names the file that failed (exit
 * code 128 + the signal's number after a signal). After a SIGKILL or power loss, the journal lets
 * the next run undo the change (or finish its cleanup): {@link recoverInterruptedChange}.
 * Test hooks: HOMELAB_TEST_CRASH_AFTER_RENAME=k SIGKILLs the process right after the k-th rename;
 * HOMELAB_TEST_PAUSE_AFTER_RENAME=k prints `homelab-test: paused after rename k` on stderr and
 * waits (up to 30 s) for a signal there.
 *
 * @throws TransactionError when a file changed since the change set was prepared (nothing is
 *   written), when a write fails or a signal arrives (everything is rolled back), or when another
 *   live homelab process holds the journal; OutsideRepoError when, with `root`, a path leads out
 *   of the repository through a symbolic link (nothing is written).
 */
export async function applyChanges(changes: readonly FileChange[], options: ApplyChangesOptions = {}): Promise<void> {
  const ops: TransactionFs = {...defaultFs, ...options.fs}
  const names = new Map(changes.map((c) => [c.path, c.displayName]))
  const show = (file: string) => names.get(file) ?? (options.root ? path.relative(options.root, file) : file)

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

  const journalRoot = options.journalRoot ?? options.root
  const suffix = randomBytes(6).toString('hex')
  const tempOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${suffix}.tmp`)
  const asideOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${suffix}.old`)
  const journal: Journal = {
    command: options.command ?? 'homelab',
    createdAt: new Date().toISOString(),
    createdDirs: [],
    entries: [],
    pid: process.pid,
    removeEmptyDirs: options.removeEmptyDirs ?? [],
    startTime: processStartTime(process.pid),
    state: 'applying',
    version: 1,
  }
  let journalWritten = false
  let failing = ''
  let interrupted: NodeJS.Signals | undefined
  let wake: (() => void) | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal
    wake?.()
  }

  const checkpoint = () => {
    if (interrupted) throw new Interrupted(interrupted)
  }

  for (const signal of ROLLBACK_SIGNALS) process.on(signal, onSignal)
  try {
    try {
      // 2. Temps for every new content (and the folders new files need), a backup of every original.
      for (const change of changes) {
        failing = change.path
        checkpoint()
        const entry: JournalEntry = {
          backup: change.before === null ? null : asideOf(change.path),
          created: change.before === null,
          deleted: change.after === null,
          target: change.path,
          temp: change.after === null ? null : tempOf(change.path),
        }
        journal.entries.push(entry)
        if (entry.temp !== null) {
          await mkdirRecorded(path.dirname(change.path), journal.createdDirs)
          await ops.writeFile(entry.temp, change.after!, modes.get(change.path)!).catch((error: unknown) => {
            throw asTargetError(error, entry.temp!, show(change.path))
          })
        }

        if (entry.backup !== null && !entry.deleted) await keepOriginal(change.path, entry.backup, change.before!, modes.get(change.path)!, show(change.path))
      }

      failing = ''
      checkpoint()
      if (journalRoot) {
        for (const dir of touchedDirs(journal)) await fsyncDir(dir)
        await writeJournal(journalRoot, journal, {exclusive: true})
        journalWritten = true
      }

      // 3. Rename all into place.
      let renamed = 0
      for (const entry of journal.entries) {
        failing = entry.target
        checkpoint()
        await (entry.deleted ? ops.rename(entry.target, entry.backup!) : ops.rename(entry.temp!, entry.target)).catch((error: unknown) => {
          throw asTargetError(error, entry.deleted ? entry.backup! : entry.temp!, show(entry.target))
        })
        renamed++
        await testHookAfterRename(renamed, (resolve) => {
          wake = resolve
        })
      }

      failing = ''
      checkpoint()
      for (const dir of touchedDirs(journal)) await fsyncDir(dir)
      // The commit point: from here on the change is done, and recovery only cleans up.
      journal.state = 'committed'
      if (journalWritten) await writeJournal(journalRoot!, journal, {exclusive: false})
    } catch (error) {
      const problems = await rollBack(journal, show)
      if (journalWritten) await removeJournal(journalRoot!)
      const outcome = problems.length === 0 ? 'no file was changed' : 'rollback incomplete'
      if (error instanceof Interrupted)
        throw new TransactionError(`interrupted by ${error.signal}; ${outcome}`, {
          exitCode: 128 + (os.constants.signals[error.signal] ?? 0),
          suggestions: problems,
        })
      if (error instanceof TransactionError) throw error
      const reason = (error as Error).message
      const named = failing && !reason.startsWith(`${show(failing)}: `) ? `could not write ${show(failing)}: ${reason}` : `could not write ${reason}`
      throw new TransactionError(`${named}; ${outcome}`, {
        cause: error,
        suggestions: problems.length === 0 ? ['fix the cause and run the command again'] : problems,
      })
    }

    // 4. Clean up: drop the originals, then empty folders asked for, then the journal.
    await finish(journal)
    if (journalWritten) await removeJournal(journalRoot!)
  } finally {
    for (const signal of ROLLBACK_SIGNALS) process.off(signal, onSignal)
  }

  if (interrupted)
    throw new TransactionError(`${interrupted} arrived after every file was written; the change is complete`, {
      exitCode: 128 + (os.constants.signals[interrupted] ?? 0),
    })
}

/** What {@link recoverInterruptedChange} did. */
export interface RecoveryResult {
  /** `rolled back`: the interrupted change was undone; `finished`: it was complete, only its cleanup was left. */
  action: 'finished' | 'rolled back'
  /** The command the journal names (e.g. `app new wiki`). */
  command: string
  /** When the interrupted change started (ISO 8601). */
  createdAt: string
  /** How many files the change touched. */
  files: number
  /** Files that could not be put back ("restore X by hand: …"), empty when all went well. */
  problems: string[]
}

/**
 * Finds the journal of a change a killed process left under `root` (see {@link JOURNAL_FILE}) and
 * undoes it (state `applying`: every original put back from its backup, new files and folders
 * removed, temps removed) or finishes it (state `committed`: backups removed), then removes the
 * journal. Returns null when there is no journal.
 *
 * @throws TransactionError when the journal belongs to a homelab process that is still running
 *   (same pid and start time): that change is in progress, not interrupted; or when the journal
 *   cannot be read or parsed (it names the file to inspect).
 */
export async function recoverInterruptedChange(root: string): Promise<RecoveryResult | null> {
  const file = path.join(root, JOURNAL_FILE)
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null
    throw new TransactionError(`${file}: cannot read the journal of an interrupted change (${(error as NodeJS.ErrnoException).code}); fix its permissions and run again`)
  }

  let stored: Journal
  try {
    stored = JSON.parse(text) as Journal
    if (stored.version !== 1 || !Array.isArray(stored.entries)) throw new Error('unknown journal version')
  } catch {
    throw new TransactionError(`${file}: the journal of an interrupted change is not readable JSON`, {
      suggestions: [`check the files it names with git status, then delete ${file}`],
    })
  }

  if (stored.pid !== process.pid && isProcessAlive(stored.pid, stored.startTime))
    throw new TransactionError(`another homelab command (${stored.command}, pid ${stored.pid}) is writing this repository; wait for it to finish`, {
      suggestions: [`if no such command runs, delete ${file} and check git status`],
    })

  const journal = fromStored(root, stored)
  const show = (p: string) => path.relative(root, p)
  let problems: string[] = []
  if (journal.state === 'committed') await finish(journal)
  else problems = await rollBack(journal, show)
  await removeJournal(root)
  return {
    action: journal.state === 'committed' ? 'finished' : 'rolled back',
    command: journal.command,
    createdAt: journal.createdAt,
    files: journal.entries.length,
    problems,
  }
}

/**
 * Undoes a (possibly half-applied) change from its journal: each original back from its backup,
 * each created file removed, every temp removed, created folders removed when empty. Works both
 * in the process that made the change and, after a SIGKILL, in the next one: it only looks at
 * what is on disk. Returns the files it could not put back ("restore X by hand: …").
 */
async function rollBack(journal: Journal, show: (file: string) => string): Promise<string[]> {
  const problems: string[] = []
  for (const entry of [...journal.entries].reverse()) {
    try {
      if (entry.created) {
        // A temp still there was never renamed; a temp gone means the target is the new file.
        if (entry.temp !== null && (await exists(entry.temp))) await fs.rm(entry.temp, {force: true})
        else await fs.rm(entry.target, {force: true}).catch(ignoreMissing)
      } else {
        if (entry.backup !== null && (await exists(entry.backup))) {
          await fs.rename(entry.backup, entry.target)
          await fs.rm(entry.backup, {force: true}) // rename between two links of one file does nothing
        }

        if (entry.temp !== null) await fs.rm(entry.temp, {force: true})
      }
    } catch (error) {
      problems.push(`restore ${show(entry.target)} by hand: ${(error as Error).message}`)
    }
  }

  for (const dir of [...journal.createdDirs].reverse()) await fs.rmdir(dir).catch(() => {})
  for (const dir of touchedDirs(journal)) if (await exists(dir)) await fsyncDir(dir)
  return problems
}

/** After the commit point: removes the kept originals, leftover temps, and the folders to remove when empty. */
async function finish(journal: Journal): Promise<void> {
  for (const entry of journal.entries) {
    if (entry.backup !== null) await fs.rm(entry.backup, {force: true})
    if (entry.temp !== null) await fs.rm(entry.temp, {force: true})
  }

  for (const dir of [...journal.removeEmptyDirs].sort((a, b) => b.length - a.length)) await rmdirIfEmpty(dir)
  for (const dir of touchedDirs(journal)) if (await exists(dir)) await fsyncDir(dir)
}

/** Keeps the original of a changed file as `backup`: a hard link (same bytes and mode, no copy), else a copy. */
async function keepOriginal(file: string, backup: string, text: string, mode: number, shown: string): Promise<void> {
  try {
    await fs.link(file, backup)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'ENOTSUP' && code !== 'EMLINK') throw asTargetError(error, backup, shown)
    await defaultFs.writeFile(backup, text, mode).catch((error_: unknown) => {
      throw asTargetError(error_, backup, shown)
    })
  }
}

/** Swallows "it is not there" (ENOENT, or ENOTDIR for a path through a file); rethrows the rest. */
function ignoreMissing(error: unknown): void {
  const code = (error as NodeJS.ErrnoException).code
  if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
}

/** The folders holding the change's files (to fsync after renames). */
function touchedDirs(journal: Journal): string[] {
  return [...new Set(journal.entries.map((e) => path.dirname(e.target)))]
}

/**
 * Writes the journal durably: a temp, fsync, then (first write) a hard link to the journal name,
 * which fails when another journal is there, or (later writes) a rename over it; fsync of the folder.
 */
async function writeJournal(root: string, journal: Journal, {exclusive}: {exclusive: boolean}): Promise<void> {
  const file = path.join(root, JOURNAL_FILE)
  const dir = path.dirname(file)
  await fs.mkdir(dir, {recursive: true})
  const stored = {...journal, createdDirs: journal.createdDirs.map(rel), entries: journal.entries.map((e) => ({...e, backup: e.backup && rel(e.backup), target: rel(e.target), temp: e.temp && rel(e.temp)})), removeEmptyDirs: journal.removeEmptyDirs.map(rel)}
  const temp = path.join(dir, `.journal.${randomBytes(6).toString('hex')}.tmp`)
  await defaultFs.writeFile(temp, `${JSON.stringify(stored, null, 2)}\n`, 0o644)
  try {
    if (!exclusive) await fs.rename(temp, file)
    else {
      try {
        await fs.link(temp, file)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        await recoverInterruptedChange(root) // throws when a live process holds it
        await fs.link(temp, file)
      }
    }
  } finally {
    await fs.rm(temp, {force: true})
  }

  await fsyncDir(dir)
  await fsyncDir(root)

  function rel(p: string): string {
    return path.relative(root, p)
  }
}

/** Removes the journal (and its folder when left empty), durably. */
async function removeJournal(root: string): Promise<void> {
  const file = path.join(root, JOURNAL_FILE)
  await fs.rm(file, {force: true})
  await fsyncDir(path.dirname(file))
  await fs.rmdir(path.dirname(file)).catch(() => {})
  await fsyncDir(root)
}

/** A stored journal with its paths made absolute again. */
function fromStored(root: string, stored: Journal): Journal {
  const abs = (p: string) => path.resolve(root, p)
  return {
    ...stored,
    createdDirs: (stored.createdDirs ?? []).map(abs),
    entries: stored.entries.map((e) => ({...e, backup: e.backup && abs(e.backup), target: abs(e.target), temp: e.temp && abs(e.temp)})),
    removeEmptyDirs: (stored.removeEmptyDirs ?? []).map(abs),
  }
}

/** The test hooks after the k-th rename (see {@link applyChanges}). */
async function testHookAfterRename(k: number, onWait: (resolve: () => void) => void): Promise<void> {
  if (process.env.HOMELAB_TEST_CRASH_AFTER_RENAME === String(k)) process.kill(process.pid, 'SIGKILL')
  if (process.env.HOMELAB_TEST_PAUSE_AFTER_RENAME === String(k)) {
    process.stderr.write(`homelab-test: paused after rename ${k}\n`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000)
      onWait(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
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
