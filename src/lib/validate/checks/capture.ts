import {captureOf, namespaceOf} from '../../backup/capture.js'
import type {BackupMode, StorageApp} from '../../config/schema.js'
import {isRecord, type KubeObject, lineOf} from '../context.js'
import type {FindingList} from '../finding.js'

/**
 * Consistent-capture rules of the storage file's `apps[].backup` (issue 13), run as part of the
 * `backup` check:
 * - warning: an app whose Deployment/StatefulSet runs an image known to hold a database
 *   ({@link databaseOfImage}) while its capture is `files` (or absent), since a plain copy of a
 *   live database may not open;
 * - error: a `postgres` capture whose `workload` is not a Deployment/StatefulSet of the app (the
 *   app's namespace, or its folder under the apps folder).
 * (A `sqlite` database path outside the app folder is refused by the storage file's schema.)
 */
export function checkCaptures(out: FindingList, options: {apps: StorageApp[]; objects: KubeObject[]; storageFile: string; storageText: string | undefined}): void {
  const workloads = options.objects.filter((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.apiVersion === 'apps/v1')
  for (const app of options.apps) {
    const capture = captureOf(app)
    const mine = workloads.filter((o) => belongsTo(o, app))
    const line = lineOfApp(options.storageText, app.name)
    if (capture.mode === 'files') {
      for (const object of mine) {
        for (const {image, keyPath} of images(object.value)) {
          const db = databaseOfImage(image)
          if (!db) continue
          out.warning(
            object.file.rel,
            lineOf(object, keyPath),
            `app ${app.name}: ${object.kind}/${object.name} runs ${image} (${db.what}), but ${options.storageFile} captures its folder as plain files: set apps[].backup {"mode": "${db.mode}"…} there (homelab app new --backup ${db.mode}), or a file copy of the live database may not open`,
          )
        }
      }
    }

    if (capture.mode === 'postgres') {
      const [kindRef, name] = capture.workload.split('/')
      const kind = kindRef === 'deployment' ? 'Deployment' : 'StatefulSet'
      if (!mine.some((o) => o.kind === kind && o.name === name))
        out.error(
          options.storageFile,
          line,
          `app ${app.name}: backup.workload ${capture.workload} is not a ${kind} of the app (namespace ${namespaceOf(app)}); name the ${kind} that runs PostgreSQL`,
        )
    }
  }
}

/**
 * What database an image is known to hold, by its repository name (registry host, tag and digest
 * stripped): any repository containing `postgres`, `postgis` or `pgvecto` (PostgreSQL: `postgres`
 * capture); the bundled homelab's SQLite-based `vaultwarden/server` and
 * `tursodatabase/libsql-server` (`sqlite`); `tuwunel` (RocksDB, no online copy tool: `stop`).
 * @returns undefined for any other image
 */
export function databaseOfImage(image: string): {mode: Exclude<BackupMode, 'files'>; what: string} | undefined {
  const repository = repositoryOf(image)
  if (/postgres|postgis|pgvecto/.test(repository)) return {mode: 'postgres', what: 'PostgreSQL'}
  if (/(^|\/)(vaultwarden\/server|tursodatabase\/libsql-server)$/.test(repository)) return {mode: 'sqlite', what: 'SQLite'}
  if (/(^|\/)tuwunel$/.test(repository)) return {mode: 'stop', what: 'RocksDB'}
  return undefined
}

/** `ghcr.io/immich-app/postgres:14@sha256:…` → `immich-app/postgres` (lowercase). */
function repositoryOf(image: string): string {
  let rest = image.split('@')[0]
  const parts = rest.split('/')
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0])) rest = parts.slice(1).join('/')
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon)
  return rest.toLowerCase()
}

/** Whether a workload is the app's: in its namespace, or in its folder `…/apps/<name>/`. */
function belongsTo(object: KubeObject, app: StorageApp): boolean {
  return object.namespace === namespaceOf(app) || object.file.rel.split('/').slice(-2, -1)[0] === app.name
}

/** Every container and init container image of a workload, with the key path of `image`. */
function images(value: Record<string, unknown>): Array<{image: string; keyPath: Array<string | number>}> {
  const spec = (value.spec as Record<string, unknown> | undefined)?.template
  const podSpec = isRecord(spec) && isRecord(spec.spec) ? spec.spec : undefined
  if (!podSpec) return []
  const out: Array<{image: string; keyPath: Array<string | number>}> = []
  for (const key of ['initContainers', 'containers']) {
    const list = podSpec[key]
    if (!Array.isArray(list)) continue
    for (const [i, c] of list.entries()) if (isRecord(c) && typeof c.image === 'string') out.push({image: c.image, keyPath: ['spec', 'template', 'spec', key, i, 'image']})
  }

  return out
}

/** 1-based line of the app's entry in the storage file (1 when not found). */
function lineOfApp(text: string | undefined, name: string): number {
  if (!text) return 1
  const at = text.search(new RegExp(`"name"\\s*:\\s*${JSON.stringify(name).replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`)}`))
  return at < 0 ? 1 : text.slice(0, at).split('\n').length
}
