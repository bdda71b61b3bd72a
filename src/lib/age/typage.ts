/** typage (`age-encryption`), imported once on first use so that start-up does not pay for it. */
let typage: Promise<typeof import('age-encryption')> | undefined

/** The `age-encryption` module, loaded lazily with `await import()` on the first call and cached. */
export function loadTypage(): Promise<typeof import('age-encryption')> {
  typage ??= import('age-encryption')
  return typage
}
