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
 * @throws NodeJS.ErrnoException from the file system (ENOENT for a missing folder, EACCES, ...);
 *   the temp file is removed on failure.
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
  const handle = await fs.open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.chmod(mode) // umask may have narrowed the mode given to open()
    await handle.sync()
  } catch (error) {
    await handle.close()
    await fs.rm(tmp, {force: true})
    throw error
  }

  await handle.close()
  try {
    await fs.rename(tmp, file)
  } catch (error) {
    await fs.rm(tmp, {force: true})
    throw error
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
