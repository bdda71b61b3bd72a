import {existsSync, promises as fs, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {AgeIdentity} from '../age/identities.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {isProcessAlive, processStartTime} from '../fs/process-alive.js'
import {HomelabError} from '../errors.js'
import {encryptDecrypted} from './engine.js'
import {SopsError} from './errors.js'
import {createSopsFile, decryptSopsFile, type RuleSource, creationRuleFor} from './files.js'
import {formatOfFile} from './metadata.js'
import {parseDocuments, ParseError, serializePlain} from './serialize.js'
import {walkDocument} from './tree.js'

/** The prefix of every private folder of `secrets edit`; the name goes on with `<pid>-<start time>-`. */
const PRIVATE_DIR_PREFIX = 'homelab-secret-'

/** The folders private folders are made in: /dev/shm when there is one, and the OS temp folder. */
export function privateDirBases(): string[] {
  return [...new Set([...(existsSync('/dev/shm') ? ['/dev/shm'] : []), os.tmpdir()])]
}

/**
 * A private folder (0700) for plaintext, on tmpfs when there is one. Its name carries this
 * process's pid and start time (`homelab-secret-<pid>-<start>-XXXXXX`) so that a later run can
 * tell a folder left by a killed process ({@link removeStaleEditFolders}). Remove it with
 * {@link removePrivateDir}.
 */
export async function makePrivateDir(base?: string): Promise<string> {
  const root = base ?? privateDirBases()[0]
  const prefix = `${PRIVATE_DIR_PREFIX}${process.pid}-${processStartTime(process.pid) ?? 0}-`
  let dir: string
  try {
    dir = await fs.mkdtemp(path.join(root, prefix))
  } catch {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix))
  }

  await fs.chmod(dir, 0o700)
  return dir
}

/**
 * Removes the private folders (with the plaintext in them) that `secrets edit` runs killed with
 * SIGKILL left in `bases` (default {@link privateDirBases}): a folder is stale when the process
 * its name records is gone, or the pid now belongs to another process (another start time).
 * Folders of running edits, of other users, and of older versions whose names carry no pid are
 * left alone. Returns the folders removed. Never throws.
 */
export async function removeStaleEditFolders(bases: readonly string[] = privateDirBases()): Promise<string[]> {
  const removed: string[] = []
  const uid = process.getuid?.()
  const pattern = /^homelab-secret-(\d+)-(\d+)-[^/]+$/
  for (const base of bases) {
    let names: string[]
    try {
      names = await fs.readdir(base)
    } catch {
      continue
    }

    for (const name of names) {
      const match = pattern.exec(name)
      if (!match) continue
      const dir = path.join(base, name)
      try {
        const stat = await fs.lstat(dir)
        if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue
      } catch {
        continue
      }

      const pid = Number(match[1])
      if (pid === process.pid || isProcessAlive(pid, match[2] === '0' ? null : match[2])) continue
      removePrivateDir(dir)
      if (!existsSync(dir)) removed.push(dir)
    }
  }

  return removed
}

/** Removes a private folder and its content, synchronously (safe in a signal handler); never throws. */
export function removePrivateDir(dir: string): void {
  try {
    rmSync(dir, {force: true, recursive: true})
  } catch {
    // already gone
  }
}

/** What {@link editSopsFile} needs from the command: how to run the editor and what to do with invalid YAML. */
export interface EditSessionOptions extends RuleSource {
  file: string
  identities: readonly AgeIdentity[]
  /** Opens the editor on `tempFile` and resolves when it exits; rejects when it fails. */
  runEditor(tempFile: string): Promise<void>
  /** Asked when the edited text is not valid: resolve true to reopen the editor, false to give up. */
  onInvalid(message: string): Promise<boolean>
  /** Called with the private folder right after it is made (register it for cleanup on signals). */
  onPrivateDir?(dir: string): void
  /** Base folder for the private folder (default /dev/shm when present, else the OS temp folder). */
  tmpBase?: string
  displayName?: string
  now?: Date
}

/** Outcome of an edit. */
export interface EditResult {
  /** `unchanged`: nothing written; `updated`: the file was re-encrypted; `created`: a new file. */
  status: 'created' | 'unchanged' | 'updated'
}

/**
 * `homelab secrets edit`: decrypts the file (MAC verified) into a private 0700 folder, runs the
 * editor, and writes back only on change (same data key; unchanged values keep their IV, so their
 * lines stay byte-identical). A missing file is created with the matching creation rule. The
 * private folder is removed whatever happens.
 *
 * @throws SopsError when the edited text is invalid and `onInvalid` declines (nothing written)
 *   or decrypt errors; HomelabError from the editor runner
 */
export async function editSopsFile(options: EditSessionOptions): Promise<EditResult> {
  const shown = options.displayName ?? options.file
  const format = formatOfFile(options.file)
  const exists = existsSync(options.file)
  const decrypted = exists ? await decryptSopsFile({displayName: shown, file: options.file, identities: options.identities}) : undefined
  if (!exists) await creationRuleFor(options.file, options) // fail before opening the editor
  const original = decrypted ? serializePlain(decrypted.documents, decrypted.format, decrypted.style) : ''
  const dir = await makePrivateDir(options.tmpBase)
  options.onPrivateDir?.(dir)
  try {
    const temp = path.join(dir, path.basename(options.file))
    await fs.writeFile(temp, original, {mode: 0o600})
    for (;;) {
      await options.runEditor(temp)
      const edited = await fs.readFile(temp, 'utf8')
      if (edited === original) return {status: 'unchanged'}
      let problem: string | undefined
      let documents
      try {
        documents = parseDocuments(edited, format)
        for (const doc of documents) walkDocument(doc, () => {})
      } catch (error) {
        problem = error instanceof ParseError ? `line ${error.line}: ${error.message}` : (error as Error).message
      }

      if (problem === undefined && documents) {
        if (!decrypted) {
          if (edited.trim() === '') return {status: 'unchanged'}
          await createSopsFile({...options, plaintext: edited})
          return {status: 'created'}
        }

        decrypted.documents = documents
        await writeFileAtomic(options.file, encryptDecrypted(decrypted, {now: options.now}))
        return {status: 'updated'}
      }

      const message = `${shown}: the edited text is not valid ${format === 'json' ? 'JSON' : 'YAML'} (${problem})`
      if (!(await options.onInvalid(message))) throw new SopsError(`${message}; nothing was written and the edit was discarded`)
    }
  } catch (error) {
    if (error instanceof HomelabError) throw error
    throw new HomelabError(`${shown}: ${(error as Error).message}`, {cause: error})
  } finally {
    removePrivateDir(dir)
  }
}
