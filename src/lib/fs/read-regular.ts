import {constants, promises as fs, type Stats} from 'node:fs'
import path from 'node:path'

import {ConfigError} from '../errors.js'

/**
 * A repository path that is not a regular file (nor a folder): a FIFO, a character or block
 * device, a socket, or a symbolic link to one. homelab never reads it (a FIFO would block, a
 * device such as /dev/urandom never ends). Exit 1; the message names the path.
 */
export class NotRegularFileError extends ConfigError {}

/** What a non-regular file is, in words (`a FIFO (named pipe)`, `a character device` …), else undefined for a regular file or folder. */
export function specialKind(stats: Stats): string | undefined {
  if (stats.isFile() || stats.isDirectory()) return undefined
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isSocket()) return 'a socket'
  return 'not a regular file'
}

/** The one line homelab says of a non-regular file `rel` of kind `kind` (see {@link specialKind}). */
export function notRegularMessage(rel: string, kind: string): string {
  return `${rel} is ${kind}, not a regular file: homelab reads only regular files (and so does Flux); replace it with a regular file, or remove it`
}

/**
 * Reads a file of the repository as UTF-8 text, refusing anything but a regular file: it is
 * `stat`ed first (following a symbolic link), so a FIFO is never opened; then opened without
 * blocking and checked again on the open handle (`fstat`), so a file swapped in between is
 * refused too.
 * @param root the repository root
 * @param rel the path relative to `root` (named in errors as given)
 * @throws NotRegularFileError for a FIFO, device, socket (or a link to one), or a folder;
 *   NodeJS.ErrnoException (ENOENT …) when it cannot be read
 */
export async function readRegularFile(root: string, rel: string): Promise<string> {
  const file = path.resolve(root, rel)
  const kind = specialKind(await fs.stat(file))
  if (kind) throw new NotRegularFileError(notRegularMessage(rel, kind))
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw new NotRegularFileError(notRegularMessage(rel, specialKind(stats) ?? 'a folder'))
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}
