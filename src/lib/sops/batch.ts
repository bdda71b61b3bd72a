import path from 'node:path'

import {type AgeIdentity, loadIdentities, type LoadIdentitiesOptions} from '../age/identities.js'
import {applyChanges} from '../fs/transaction.js'
import {listRepoFiles} from '../validate/repo-files.js'
import {type CreationRule, loadSopsConfig, matchCreationRule, type SopsConfig, unusedCreationRules} from './creation-rules.js'
import {listSopsFiles} from './repo.js'

/** One SOPS file a batch command works on. */
export interface SopsTarget {
  /** The name to show and report: as given on the command line, or relative to the homelab root. */
  file: string
  /** Its absolute path. */
  path: string
}

/** Options for {@link sopsBatch}. */
export interface SopsBatchOptions extends LoadIdentitiesOptions {
  /** The files named on the command line (relative to `cwd`); none means every SOPS file of the homelab. */
  files: readonly string[]
  /** The folder the given files are relative to. */
  cwd: string
  /** The homelab root, asked for only when no file is given (it may throw "not a homelab"). */
  homelabRoot: () => Promise<string>
  /** With no file given, keep only the files a creation rule of the root's `.sops.yaml` matches. */
  withCreationRule?: boolean
}

/**
 * What `secrets rotate` and `secrets updatekeys` start from: the operator's age identities
 * ({@link loadIdentities}) and the SOPS files to work on (the given ones, else every SOPS file of
 * the homelab, see {@link listSopsFiles}, optionally only those a creation rule matches).
 *
 * @throws AgeIdentityError from {@link loadIdentities}; SopsConfigError when `withCreationRule`
 *   is set and the homelab's `.sops.yaml` is missing or malformed; whatever `homelabRoot` throws
 */
export async function sopsBatch(options: SopsBatchOptions): Promise<SopsBatch> {
  const identities = await loadIdentities({env: options.env, homeDir: options.homeDir})
  if (options.files.length > 0) return {identities, targets: options.files.map((file) => ({file, path: path.resolve(options.cwd, file)})), unmatched: [], unusedRules: []}
  const root = await options.homelabRoot()
  let files = await listSopsFiles(root)
  let unmatched: string[] = []
  let unusedRules: CreationRule[] = []
  let config: SopsConfig | undefined
  if (options.withCreationRule) {
    const loaded = await loadSopsConfig({dir: root})
    config = loaded
    unmatched = files.filter((rel) => !matchCreationRule(loaded, path.join(root, rel)))
    files = files.filter((rel) => matchCreationRule(loaded, path.join(root, rel)))
    unusedRules = unusedCreationRules(loaded, (await listRepoFiles(root)).map((rel) => path.join(root, rel)))
  }

  return {config, identities, targets: files.map((file) => ({file, path: path.join(root, file)})), unmatched, unusedRules}
}

/** What {@link sopsBatch} found. `unmatched` and `unusedRules` are filled only with `withCreationRule` and no file given. */
export interface SopsBatch {
  identities: AgeIdentity[]
  /** The files to work on. */
  targets: SopsTarget[]
  /** The homelab's `.sops.yaml`, when it was loaded. */
  config?: SopsConfig
  /** SOPS files of the homelab (root-relative) that no creation rule matches: left out of `targets`. */
  unmatched: string[]
  /** Creation rules that decide no file of the repository (a typo in `path_regex`, most often). */
  unusedRules: CreationRule[]
}

/**
 * Writes the new texts of a batch of SOPS files all or nothing (`src/lib/fs/transaction.ts`):
 * every temp is written before the first rename, a journal in `journalRoot` (the homelab root;
 * else the folder holding every target) lets the next run undo a killed one, and a failure or
 * SIGINT/SIGTERM/SIGHUP puts every file back. Files whose `after` is null or equal to `before`
 * are left alone. Errors name the file as `target.file` shows it, never a temp file.
 *
 * @throws TransactionError (no file changed) when a file changed since it was read, a write
 *   failed (e.g. a read-only folder) or a signal arrived (exit 128 + its number)
 */
export async function writeSopsBatch(
  items: ReadonlyArray<{target: SopsTarget; before: string; after: string | null}>,
  options: {journalRoot?: string; command: string},
): Promise<void> {
  const changes = items
    .filter((i) => i.after !== null && i.after !== i.before)
    .map((i) => ({after: i.after, before: i.before, displayName: i.target.file, path: i.target.path}))
  if (changes.length === 0) return
  await applyChanges(changes, {command: options.command, journalRoot: options.journalRoot ?? commonFolder(changes.map((c) => c.path))})
}

/** The deepest folder holding every one of `files` (absolute paths). */
function commonFolder(files: readonly string[]): string {
  let dir = path.dirname(files[0])
  while (!files.every((f) => f.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep))) dir = path.dirname(dir)
  return dir
}
