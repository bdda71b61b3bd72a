/** How many SOPS files the batch commands (rotate, updatekeys) work on at once. */
export const SOPS_FILE_CONCURRENCY = 16

/**
 * Runs `task` over `items` with at most `limit` running at once; results in input order.
 * Rejects with the first error after the started tasks have settled (no task left running).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  let failure: {error: unknown} | undefined
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++
      try {
        results[index] = await task(items[index], index)
      } catch (error) {
        failure ??= {error}
      }
    }
  }

  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  if (failure) throw failure.error
  return results
}
