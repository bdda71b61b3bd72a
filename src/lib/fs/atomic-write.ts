import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode for a new file (octal, e.g. 0o600). An existing file keeps its own mode unless this is set. */
  mode?: number
}

/**
 * Writes `data` to `file` so that readers see either the old or the new bytes, never a mix:
 * a temp file in the same folder, fsync, rename over the target, fsync of the folder.
 * An existing file's mode is kept (unless `options.mode` is given).
 *
 * @throws NodeJS.ErrnoException from the file system (ENOENT for a missing folder, EACCES, ...),
 *   always naming `file` (an error about the temp file is reported as one about `file`, see
 *   {@link asTargetError}); the temp file is removed on failure.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file)
  let mode = options.mode
  if (mode === undefined) {
    try {
      mode = (await fs.stat(file)).mode & 0o7777
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      mode = 0o644
    }
  }

  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  let handle: fs.FileHandle
  try {
    handle = await fs.open(tmp, 'wx', mode)
  } catch (error) {
    throw asTargetError(error, tmp, file)
  }

  try {
    await handle.writeFile(data)
    await handle.chmod(mode) // umask may have narrowed the mode given to open()
    await handle.sync()
  } catch (error) {
    await handle.close()
    await fs.rm(tmp, {force: true})
    throw asTargetError(error, tmp, file)
  }

  await handle.close()
  try {
    await fs.rename(tmp, file)
  } catch (error) {
    await fs.rm(tmp, {force: true})
    throw asTargetError(error, tmp, file)
  }

  await fsyncDir(dir)
}

/** fsyncs a folder so a rename in it survives a crash. Best effort: some file systems refuse it. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined
  try {
    handle = await fs.open(dir, 'r')
    await handle.sync()
  } catch {
    // EISDIR/EINVAL on platforms that cannot fsync folders: the rename is still atomic.
  } finally {
    await handle?.close()
  }
}

/** Why a write into a folder can fail, in words a person can act on (by errno code). */
const WRITE_FAILURES: Record<string, string> = {
  EACCES: 'permission denied: its folder is not writable',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the file name is too long to write next to it',
  ENOENT: 'its folder does not exist',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of its folder path is not a folder',
  EPERM: 'operation not permitted: its folder is read-only or immutable',
  EROFS: 'the file system is read-only',
}

/**
 * Turns a file-system error about a temp file (or a backup) written next to `target` into the
 * same error about `target`: a person never sees the temp name, which they cannot act on.
 * The result is an Error with the same `code`/`errno`/`syscall`, `path` set to `target`, and
 * the message `<target>: <what went wrong>`. Errors about other paths (and non-errno values)
 * are returned as they are.
 *
 * @param error what the file system threw
 * @param temp the temp (or backup) path the operation was on
 * @param target the file the caller meant to write (absolute or as it should be shown)
 */
export function asTargetError(error: unknown, temp: string, target: string): unknown {
  const errno = error as NodeJS.ErrnoException
  if (!(error instanceof Error) || !errno.code || (errno.path !== temp && (errno as {dest?: string}).dest !== temp)) return error
  const translated = new Error(`${target}: ${WRITE_FAILURES[errno.code] ?? errno.code}`, {cause: error}) as NodeJS.ErrnoException
  translated.code = errno.code
  translated.errno = errno.errno
  translated.syscall = errno.syscall
  translated.path = target
  return translated
}
