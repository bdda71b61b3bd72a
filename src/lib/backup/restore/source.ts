import path from 'node:path'

import type {StorageApp, StorageFile} from '../../config/schema.js'
import {UsageError} from '../../errors.js'

/** What `homelab backup restore SOURCE` restores: a backup source, and the app owning it (none for an extra source such as /etc/nixos). */
export interface RestoreSource {
  /** The source path as kopia knows it, e.g. "/srv/vaultwarden" or "/etc/nixos". */
  path: string
  /** The storage.json app whose folder it is; undefined for `extraBackupSources`. */
  app: StorageApp | undefined
}

const trimSlash = (p: string) => p.replace(/(.)\/+$/, '$1')

/**
 * Resolves SOURCE: an app name of the storage file (`vaultwarden`), an app's folder
 * (`/srv/vaultwarden`) or an extra backup source (`/etc/nixos`).
 *
 * @param storageFile the storage file's name for messages, e.g. "nixos/storage.json"
 * @throws UsageError (exit 3) naming the apps and sources when SOURCE is none of them
 */
export function resolveRestoreSource(storage: StorageFile, source: string, storageFile: string): RestoreSource {
  const byName = storage.apps.find((a) => a.name === source)
  if (byName) return {app: byName, path: byName.path}
  const wanted = trimSlash(source)
  const byPath = storage.apps.find((a) => trimSlash(a.path) === wanted)
  if (byPath) return {app: byPath, path: byPath.path}
  const extra = storage.extraBackupSources.find((s) => trimSlash(s) === wanted)
  if (extra) return {app: undefined, path: extra}
  throw new UsageError(`${source}: not an app or backup source of ${storageFile}`, {
    suggestions: [`apps: ${storage.apps.map((a) => a.name).join(', ') || 'none'}; other sources: ${storage.extraBackupSources.join(', ') || 'none'}`],
  })
}

/**
 * Checks a `--to` folder before anything runs: absolute, and not a live backup source, inside
 * one, or holding one (a restore there would overwrite live data, or be snapshotted as if it were).
 *
 * @param sources every backup source of the storage file
 * @throws UsageError (exit 3) naming the source it collides with
 */
export function checkRestoreTarget(target: string, sources: string[]): string {
  if (!path.isAbsolute(target)) throw new UsageError(`--to ${target}: give an absolute folder on the host, e.g. /var/tmp/restore-vaultwarden`)
  const to = path.posix.normalize(target).replace(/(.)\/+$/, '$1')
  for (const source of sources.map(trimSlash)) {
    const inside = (a: string, b: string) => a === b || a.startsWith(`${b === '/' ? '' : b}/`)
    if (inside(to, source) || inside(source, to))
      throw new UsageError(`--to ${target}: ${to === source ? 'is' : inside(to, source) ? 'is inside' : 'holds'} the live backup source ${source}`, {
        suggestions: ['restore into a new folder outside every app folder (e.g. /var/tmp/restore-<app>), or leave --to out to restore in place'],
      })
  }

  return to
}
