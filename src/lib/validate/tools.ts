import {constants, promises as fs} from 'node:fs'
import path from 'node:path'

/**
 * Finds an executable on a PATH string (POSIX `:`-separated), like `command -v`.
 * @returns its absolute path, or undefined when no folder on PATH has it
 */
export async function findExecutable(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    try {
      const stat = await fs.stat(candidate)
      if (!stat.isFile()) continue
      await fs.access(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }

  return undefined
}

/** Runs `items` through `fn` with at most `limit` running at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const workers = Array.from({length: Math.min(limit, items.length)}, async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  })
  await Promise.all(workers)
  return results
}
