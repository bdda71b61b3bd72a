import type {BackupCapture, StorageApp} from '../config/schema.js'

/**
 * The on-disk layout of consistent capture inside an app's storage folder, shared by
 * scripts/kopia-backup.sh (which writes it on the host before each snapshot), `homelab backup
 * restore` (which re-imports from it) and `homelab backup drill` (which opens it). The shell
 * scripts spell the same names; change both together.
 */

/** The dump folder inside each app folder, included in the snapshot. */
export const DUMP_DIR = '.homelab-backup'
// Named only by the host scripts, so not exported here: `<app>/.kopiaignore` (Kopia's default
// dot-ignore file, whose script-owned block leaves the live database files out) and
// `<stateDir>/.kopia.lock` (the one lock of snapshot, sync and drill).

/** The app's capture, `files` when storage.json says nothing. */
export function captureOf(app: StorageApp): BackupCapture {
  return app.backup ?? {mode: 'files'}
}

/** The app's Kubernetes namespace for scale-down/up: `backup.namespace`, else the app's name. */
export function namespaceOf(app: StorageApp): string {
  return app.backup?.namespace ?? app.name
}

/** Where the online backup copy of a SQLite database lives, relative to the app folder. */
export function sqliteDumpPath(database: string): string {
  return `${DUMP_DIR}/sqlite/${database}`
}

/** Where the `pg_dump --format=custom` file of a database lives, relative to the app folder. */
export function postgresDumpPath(database: string): string {
  return `${DUMP_DIR}/postgres/${database}.pgdump`
}
