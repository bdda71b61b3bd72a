/**
 * A Flux artifact revision, parsed.
 *
 * Grammar (flux2 `rfcs/0005-artifact-revision-and-digest`): `[<pointer>@]<algo>:<checksum>`,
 * split at the LAST `@` (a pointer may itself hold `@`). Examples: `main@sha1:<40 hex>` (branch),
 * `refs/heads/main@sha1:<40 hex>` (`ref.name`), `v1.2.3@sha1:<hex>` (tag), `sha1:<hex>` (bare
 * commit). The legacy format `<branch>/<40 hex>` (Flux < 2.0) is also understood.
 */
export interface Revision {
  /** The revision exactly as Flux reported it. */
  raw: string
  /** Branch, tag or ref name before the last `@` (or before `/` in the legacy format); undefined for a bare digest. */
  pointer?: string
  /** Digest algorithm, e.g. `sha1` or `sha256`; undefined when the revision has no `<algo>:` part. */
  algorithm?: string
  /** The checksum after `<algo>:`; for a Git source this is the full commit id. */
  checksum?: string
  /** The full Git commit id when the checksum looks like one (40 or 64 lowercase hex), else undefined. */
  commit?: string
}

const HEX_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/
const LEGACY = /^(.+)\/([0-9a-f]{40})$/

/**
 * Parses a Flux revision string (see {@link Revision} for the grammar).
 * Never throws: an unparsable string comes back with only `raw` (and `checksum` = the string).
 */
export function parseRevision(raw: string): Revision {
  const at = raw.lastIndexOf('@')
  const pointer = at > 0 ? raw.slice(0, at) : undefined
  const digest = at >= 0 ? raw.slice(at + 1) : raw
  const colon = digest.indexOf(':')
  if (colon > 0) {
    const algorithm = digest.slice(0, colon)
    const checksum = digest.slice(colon + 1)
    return {algorithm, checksum, commit: HEX_COMMIT.test(checksum) ? checksum : undefined, pointer, raw}
  }

  const legacy = at < 0 ? LEGACY.exec(raw) : null
  if (legacy) return {checksum: legacy[2], commit: legacy[2], pointer: legacy[1], raw}
  if (at < 0 && HEX_COMMIT.test(raw)) return {checksum: raw, commit: raw, raw}
  return {checksum: digest, pointer, raw}
}

/** A Git commit id shortened to `length` characters (default 7, like `git log --oneline`). */
export function shortCommit(commit: string, length = 7): string {
  return commit.slice(0, length)
}

/**
 * A revision for display: `main@sha1:696f056df…` becomes `main@696f056`; anything else is
 * shortened like `flux get` does (long hex to 8 characters).
 */
export function formatRevision(revision: Revision | string | undefined): string {
  if (revision === undefined) return '-'
  const rev = typeof revision === 'string' ? parseRevision(revision) : revision
  if (rev.commit) return rev.pointer ? `${rev.pointer}@${shortCommit(rev.commit)}` : shortCommit(rev.commit)
  return rev.raw.replace(/[0-9a-f]{40,64}/g, (hex) => hex.slice(0, 8))
}

/** True when two revisions name the same content: same commit when both are Git commits, else the same string. */
export function sameRevision(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false
  const ra = parseRevision(a)
  const rb = parseRevision(b)
  if (ra.commit && rb.commit) return ra.commit === rb.commit
  return a === b
}
