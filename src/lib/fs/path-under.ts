import path from 'node:path'

/**
 * True when `child` (an absolute POSIX path) equals `parent` or lies inside it, compared after
 * normalising (`/srv/a/../b` is `/srv/b`; a trailing slash does not count). A sibling that only
 * starts with the same letters (`/srv/app-old` for `/srv/app`) or a name beginning with `..` is
 * judged by path segments, not by text.
 */
export function isUnder(child: string, parent: string): boolean {
  const c = path.posix.normalize(child).replace(/\/+$/, '') || '/'
  const p = path.posix.normalize(parent).replace(/\/+$/, '') || '/'
  return p === '/' || c === p || c.startsWith(`${p}/`)
}
