import path from 'node:path'

import {applyChanges, type TransactionFs} from '../fs/transaction.js'

/**
 * A set of file changes prepared in memory and written all or nothing (see
 * `src/lib/fs/transaction.ts`). Paths are relative to the repository root, with `/`.
 */
export interface ChangeSet {
  /** Absolute repository root. */
  root: string
  files: {path: string; before: string | null; after: string | null}[]
  /** Folders (repo-relative) to remove when empty after the write (a removed app's folder). */
  removeEmptyDirs: string[]
}

/** Files the change set creates, changes and deletes (repo-relative, in change-set order). */
export function summarize(set: ChangeSet): {created: string[]; changed: string[]; deleted: string[]} {
  return {
    changed: set.files.filter((f) => f.before !== null && f.after !== null).map((f) => f.path),
    created: set.files.filter((f) => f.before === null).map((f) => f.path),
    deleted: set.files.filter((f) => f.after === null).map((f) => f.path),
  }
}

/**
 * Writes the change set all or nothing, journaled in the repository root (a killed run is undone
 * by the next one, see `recoverInterruptedChange`); `command` names it in the journal.
 * @throws TransactionError (nothing changed) when a file changed meanwhile, a write failed or a
 *   signal arrived (exit 128 + its number)
 */
export async function writeChangeSet(set: ChangeSet, options: {fs?: Partial<TransactionFs>; command?: string} = {}): Promise<void> {
  await applyChanges(
    set.files.map((f) => ({after: f.after, before: f.before, path: path.join(set.root, f.path)})),
    {command: options.command, fs: options.fs, removeEmptyDirs: set.removeEmptyDirs.map((d) => path.join(set.root, d)), root: set.root},
  )
}

/**
 * A unified diff of the change set (`--- a/<path>` / `+++ b/<path>`, /dev/null for created or
 * deleted files, 3 lines of context), as `git diff` shows it. `redact` replaces the shown content
 * of a file (e.g. an encrypted Secret) with a note.
 */
export async function unifiedDiff(set: ChangeSet, redact: ReadonlyMap<string, string> = new Map()): Promise<string> {
  const {createTwoFilesPatch} = await import('diff')
  return set.files
    .map((f) => {
      const note = redact.get(f.path)
      const after = f.after === null ? '' : (note ?? f.after)
      const patch = createTwoFilesPatch(f.before === null ? '/dev/null' : `a/${f.path}`, f.after === null ? '/dev/null' : `b/${f.path}`, f.before ?? '', after, '', '', {context: 3})
      // Drop jsdiff's "Index:"/"===" header lines; keep ---/+++ and the hunks.
      return patch
        .split('\n')
        .filter((l) => !l.startsWith('Index: ') && !/^=+$/.test(l))
        .map((l) => (l.startsWith('--- ') || l.startsWith('+++ ') ? l.replace(/\t$/, '') : l))
        .join('\n')
    })
    .join('')
}
