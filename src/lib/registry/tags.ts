/**
 * Version schemes of image tags: a tag is `<prefix><N>[.<N>…]<suffix>`, e.g. `v1.2.3`
 * (prefix `v`), `1.2` (two parts), `1.2.3-alpine` (suffix `-alpine`). A newer tag must keep the
 * scheme: the same prefix, the same number of numeric parts and the same suffix, so `1.2.3-alpine`
 * is only ever compared with `X.Y.Z-alpine`, `1.2` with `X.Y`. A suffix that is a pre-release
 * (`-rc.1`, `-beta2`, `-alpha`, … as in semver 2.0.0 §9) is not a scheme of its own: pre-release
 * tags are candidates only when the current tag is one, and a release outranks its pre-releases.
 */

/** A tag read as a version. */
export interface TagVersion {
  tag: string
  prefix: string
  /** The numeric parts (`1.2.3` → [1, 2, 3]). */
  parts: number[]
  /** The suffix when it is not a pre-release (`-alpine`), else ''. */
  suffix: string
  /** The pre-release identifiers (`-rc.1` → ['rc', '1']); empty for a release. */
  prerelease: string[]
}

const TAG = /^([A-Za-z]+[-_.]?)?(\d+(?:\.\d+)*)(.*)$/
const PRERELEASE = /^[-.]?((?:alpha|beta|rc|pre|preview|dev)(?:[.-]?\d+)*)$/i

/** Reads a tag as a version; undefined for a tag without numbers (`latest`, `stable`, `main`). */
export function parseTag(tag: string): TagVersion | undefined {
  const m = TAG.exec(tag)
  if (!m) return undefined
  const parts = m[2].split('.').map(Number)
  if (parts.some((p) => !Number.isSafeInteger(p))) return undefined
  const rest = m[3]
  const pre = PRERELEASE.exec(rest)
  if (pre) return {parts, prefix: m[1] ?? '', prerelease: pre[1].split(/[.-]|(?<=\D)(?=\d)/).filter(Boolean), suffix: '', tag}
  if (rest !== '' && !/^[-_+.]/.test(rest)) return undefined
  return {parts, prefix: m[1] ?? '', prerelease: [], suffix: rest, tag}
}

/** True when `candidate` is in the scheme of `current` (prefix, number of parts, suffix; pre-releases only for a pre-release). */
export function sameScheme(current: TagVersion, candidate: TagVersion): boolean {
  if (candidate.prefix !== current.prefix || candidate.parts.length !== current.parts.length || candidate.suffix !== current.suffix) return false
  return candidate.prerelease.length === 0 || current.prerelease.length > 0
}

/** Orders two versions of one scheme: negative when a < b (numeric parts, then release > pre-release, then pre-release identifiers as semver §11). */
export function compareVersions(a: TagVersion, b: TagVersion): number {
  for (let i = 0; i < Math.max(a.parts.length, b.parts.length); i++) {
    const d = (a.parts[i] ?? 0) - (b.parts[i] ?? 0)
    if (d !== 0) return d
  }

  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i]
    const y = b.prerelease[i]
    if (x === undefined) return -1
    if (y === undefined) return 1
    const nx = /^\d+$/.test(x)
    const ny = /^\d+$/.test(y)
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y)
    if (nx !== ny) return nx ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }

  return 0
}

/**
 * The newest tag of `tags` in the scheme of `current`.
 * @returns the newest tag (possibly `current` itself), or undefined when `current` has no version scheme
 */
export function newestInScheme(current: string, tags: readonly string[]): string | undefined {
  const mine = parseTag(current)
  if (!mine) return undefined
  let best = mine
  for (const tag of tags) {
    const v = parseTag(tag)
    if (v && sameScheme(mine, v) && compareVersions(v, best) > 0) best = v
  }

  return best.tag
}
