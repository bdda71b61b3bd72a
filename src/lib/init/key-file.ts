import {promises as fs} from 'node:fs'
import path from 'node:path'

import {keyFileTarget} from '../age/key-file-location.js'
import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fs/atomic-write.js'

/**
 * The operator's sops age key file, as sops looks it up (sops `age/keysource.go`):
 * `$SOPS_AGE_KEY_FILE`, else `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
 * `<home>/.config/sops/age/keys.txt`. Returns an absolute path.
 */
export function operatorKeyFile(options: {env: Readonly<Record<string, string | undefined>>; homeDir: string}): string {
  const {env} = options
  if (env.SOPS_AGE_KEY_FILE) return path.resolve(env.SOPS_AGE_KEY_FILE)
  const config = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(options.homeDir, '.config')
  return path.resolve(config, 'sops', 'age', 'keys.txt')
}

/** Where {@link appendIdentity} writes, and what it finds there; from {@link inspectKeyFile}. */
export interface KeyFileTarget {
  /** The absolute path written: the key file, or the final target when it is a symbolic link. */
  target: string
  /** Mode (permission bits) of the existing file, undefined when it does not exist yet. */
  mode?: number
}

/**
 * Looks at the key file about to receive a new identity, before anything is generated: follows
 * a symbolic link to its final target (the identity must land there, not replace the link), and
 * refuses what would be silently rewritten: a folder, or a read-only file (no owner write bit:
 * the person made it so on purpose; root could write it anyway).
 *
 * @param file absolute or relative path of the key file (see {@link operatorKeyFile})
 * @throws UsageError (exit 3, one line naming the file) for a folder, a read-only file, a link loop
 */
export async function inspectKeyFile(file: string): Promise<KeyFileTarget> {
  const given = path.resolve(file)
  const target = await keyFileTarget(given)
  const shown = target === given ? given : `${given} (a link to ${target})`
  let stat
  try {
    stat = await fs.stat(target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {target}
    throw new UsageError(`cannot read the sops key file ${shown}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }

  if (stat.isDirectory())
    throw new UsageError(`the sops key file ${shown} is a folder, not a file; nothing was written`, {
      suggestions: ['point SOPS_AGE_KEY_FILE at a file (e.g. keys.txt inside that folder)'],
    })
  if (!stat.isFile()) throw new UsageError(`the sops key file ${shown} is not a regular file; nothing was written`, {suggestions: ['point SOPS_AGE_KEY_FILE at a regular file']})
  const mode = stat.mode & 0o7777
  if ((mode & 0o200) === 0)
    throw new UsageError(`the sops key file ${shown} is read-only (mode ${octal(mode)}); nothing was written`, {
      suggestions: [`make it writable for the new identity (chmod 600 ${target}), or point SOPS_AGE_KEY_FILE at another file`],
    })
  return {mode, target}
}

/** A mode as 4 octal digits, e.g. `0644`. */
export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`
}

/** What {@link appendIdentity} did. */
export interface AppendIdentityResult {
  /** The file written (the final target when the key file is a symbolic link). */
  target: string
  /** The former mode when an existing file was narrowed to 0600 (e.g. 0o644); undefined when it was 0600 already or new. */
  narrowedFrom?: number
}

/**
 * Appends an age identity to a key file in age-keygen's format (`# created: <RFC 3339>`,
 * `# public key: <recipient>`, the `AGE-SECRET-KEY-1…` line), keeping every identity already
 * there. A symbolic link is followed: the entry is appended to its target and the link stays.
 * The file ends up mode 0600 (created so, or narrowed, reported in `narrowedFrom`); missing
 * folders are created 0700. Written atomically (the old contents plus the new entry).
 *
 * @param comment an extra `# ...` line naming what the key is for
 * @throws UsageError as {@link inspectKeyFile} (folder, read-only file); NodeJS.ErrnoException from the file system
 */
export async function appendIdentity(options: {file: string; identity: string; recipient: string; comment?: string; now?: Date}): Promise<AppendIdentityResult> {
  const {mode, target} = await inspectKeyFile(options.file)
  await fs.mkdir(path.dirname(target), {mode: 0o700, recursive: true})
  let existing = ''
  try {
    existing = await fs.readFile(target, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  const created = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const entry = [
    ...(options.comment ? [`# ${options.comment}`] : []),
    `# created: ${created}`,
    `# public key: ${options.recipient}`,
    options.identity,
    '',
  ].join('\n')
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
  await writeFileAtomic(target, existing + separator + entry, {mode: 0o600})
  return {narrowedFrom: mode !== undefined && (mode & 0o7777 & ~0o600) !== 0 ? mode : undefined, target}
}
