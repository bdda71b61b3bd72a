import {postgresDumpPath, sqliteDumpPath} from '../capture.js'
import {HomelabError} from '../../errors.js'
import {type BackupHost, shellQuote} from '../host.js'
import {lastLine, RestoreStepError} from './step-error.js'

/**
 * The host side of a restore: small POSIX sh scripts run as root over the command's one SSH
 * connection. Each prints `@@homelab-restore KEY VALUE…` lines for what it found or did and exits
 * non-zero with one line on stderr when it fails.
 */
const MARK = '@@homelab-restore '
const q = shellQuote

/** Runs `script` with sudo; returns its marks (KEY → rest of the line); throws `fail(reason)` on a non-zero exit. */
async function run(connection: BackupHost, script: string, fail: (reason: string) => Error): Promise<Map<string, string[]>> {
  const r = await connection.sudo(script)
  if (r.exitCode !== 0) throw fail(lastLine(r))
  const marks = new Map<string, string[]>()
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith(MARK)) continue
    const [key, ...rest] = line.slice(MARK.length).split(' ')
    marks.set(key, rest)
  }

  return marks
}

/** A folder on the host: whether it exists, and the bytes and count of the regular files under it. */
export interface FolderFigures {
  exists: boolean
  /** Sum of the regular files' sizes, in bytes (what kopia's snapshot size counts). */
  size: number
  files: number
  /** True when it holds anything at all. */
  nonEmpty: boolean
}

/**
 * Size and file count of `folder` (0 and false when it does not exist).
 * @throws HomelabError when it exists but is not a folder
 */
export async function folderFigures(connection: BackupHost, folder: string): Promise<FolderFigures> {
  const script = [
    `p=${q(folder)}`,
    'if [ -d "$p" ]; then',
    `  echo "${MARK}figures $(find "$p" -type f -printf '%s\\n' | awk '{s += $1} END {print s + 0}') $(find "$p" -type f | wc -l) $(find "$p" -mindepth 1 -maxdepth 1 | head -n 1 | wc -l)"`,
    `elif [ -e "$p" ]; then echo "$p is not a folder" >&2; exit 1`,
    `else echo "${MARK}missing"; fi`,
  ].join('\n')
  const marks = await run(connection, script, (reason) => new HomelabError(`${folder} on the host: ${reason}`))
  const f = marks.get('figures')
  if (!f) return {exists: false, files: 0, nonEmpty: false, size: 0}
  return {exists: true, files: Number(f[1]), nonEmpty: f[2] === '1', size: Number(f[0])}
}

/**
 * Restores the snapshot whose root directory object is `rootObject` into `target` with
 * `homelab-kopia snapshot restore OBJ TARGET` (kopia creates the folder; owners, modes and times
 * come from the snapshot).
 * @throws RestoreStepError('restore') with kopia's last line
 */
export async function restoreSnapshot(connection: BackupHost, rootObject: string, target: string): Promise<void> {
  await run(connection, `homelab-kopia snapshot restore ${q(rootObject)} ${q(target)}`, (reason) => new RestoreStepError('restore', reason))
}

/**
 * Moves the live folder aside by renaming it (`mv -T`, same parent so the same file system: no
 * copy, nothing changes in it). A folder that is a mount point cannot be renamed and is refused.
 * @returns false when there was no folder to move
 * @throws RestoreStepError('move-aside')
 */
export async function moveAside(connection: BackupHost, folder: string, aside: string): Promise<boolean> {
  const script = [
    `p=${q(folder)}; a=${q(aside)}`,
    'if [ -e "$a" ]; then echo "$a exists already" >&2; exit 1; fi',
    `if [ ! -e "$p" ]; then echo "${MARK}none"; exit 0; fi`,
    'if mountpoint -q "$p" 2>/dev/null; then echo "$p is a mount point: it cannot be moved aside; restore with --to and copy back by hand" >&2; exit 1; fi',
    `mv -T -- "$p" "$a" && echo "${MARK}moved"`,
  ].join('\n')
  const marks = await run(connection, script, (reason) => new RestoreStepError('move-aside', reason))
  return marks.has('moved')
}

/**
 * Undoes {@link moveAside}: removes whatever a failed restore left in `folder` and renames `aside`
 * back (byte for byte: it is the same directory); with `aside` null (there was no folder) only
 * removes `folder`.
 * @throws HomelabError when either fails (the aside folder is then still where it was)
 */
export async function putBack(connection: BackupHost, folder: string, aside: string | null): Promise<void> {
  const script = [`p=${q(folder)}`, 'rm -rf -- "$p"', ...(aside === null ? [] : [`mv -T -- ${q(aside)} "$p"`])].join('\n')
  await run(connection, script, (reason) => new HomelabError(reason))
}

/**
 * Sets the owner and mode of the app folder itself from storage.json (`chown UID:GID`, `chmod
 * MODE`); what is inside keeps the owners and modes of the snapshot.
 * @throws RestoreStepError('owner')
 */
export async function fixOwner(connection: BackupHost, folder: string, owner: {uid: number; gid: number; mode: string}): Promise<void> {
  await run(connection, `chown ${owner.uid}:${owner.gid} -- ${q(folder)} && chmod ${q(owner.mode)} -- ${q(folder)}`, (reason) => new RestoreStepError('owner', reason))
}

/** One database re-imported from the snapshot's dump (`reimported` of the `--json` result). */
export interface Reimported {
  kind: 'sqlite' | 'postgres'
  /** The database file inside the app folder (sqlite) or the database name (postgres). */
  database: string
  /** The dump it came from, relative to the app folder; null when the snapshot had no dump and the file is as snapshotted. */
  dump: string | null
}

/**
 * SQLite re-import: each database's online-backup copy `.homelab-backup/sqlite/<db>` (src/lib/backup/capture.ts)
 * is copied over `<db>` (written beside it, then renamed), owned by the app's uid:gid, and the
 * database's `-wal`, `-shm` and `-journal` files are removed (they belong to the replaced file).
 * A snapshot without the dump (taken before the capture) keeps the database file it holds.
 * @throws RestoreStepError('re-import') when a database has neither
 */
export async function reimportSqlite(connection: BackupHost, folder: string, databases: string[], owner: {uid: number; gid: number}): Promise<Reimported[]> {
  const lines = ['set -e', `p=${q(folder)}`]
  for (const [i, db] of databases.entries()) {
    lines.push(
      `d="$p"/${q(db)}; dump="$p"/${q(sqliteDumpPath(db))}`,
      'if [ -f "$dump" ]; then',
      '  mkdir -p -- "$(dirname -- "$d")"',
      '  cp -- "$dump" "$d.homelab-restore"',
      `  chown ${owner.uid}:${owner.gid} -- "$d.homelab-restore"`,
      '  mv -f -- "$d.homelab-restore" "$d"',
      '  rm -f -- "$d-wal" "$d-shm" "$d-journal"',
      `  echo "${MARK}db${i} dump"`,
      `elif [ -f "$d" ]; then echo "${MARK}db${i} file"`,
      `else echo ${q(`the snapshot has neither ${sqliteDumpPath(db)} nor ${db}`)} >&2; exit 1; fi`,
    )
  }

  const marks = await run(connection, lines.join('\n'), (reason) => new RestoreStepError('re-import', reason))
  return databases.map((db, i) => ({database: db, dump: marks.get(`db${i}`)?.[0] === 'dump' ? sqliteDumpPath(db) : null, kind: 'sqlite'}))
}

/** The postgres capture of storage.json (`apps[].backup` with mode postgres). */
export interface PostgresTarget {
  namespace: string
  /** `statefulset/NAME` or `deployment/NAME`. */
  workload: string
  container?: string
  database: string
  user: string
}

/**
 * Checks that the restored folder holds the dump `.homelab-backup/postgres/<database>.pgdump`
 * and creates the (snapshot-excluded) cluster folder `dataDir` empty, owned by the app, mode 0700,
 * so the Postgres image initialises a fresh cluster there when it starts.
 * @throws RestoreStepError('re-import') when the dump is missing
 */
export async function preparePostgres(connection: BackupHost, folder: string, database: string, dataDir: string, owner: {uid: number; gid: number}): Promise<void> {
  const script = [
    `p=${q(folder)}`,
    `if [ ! -f "$p"/${q(postgresDumpPath(database))} ]; then echo ${q(`the snapshot has no ${postgresDumpPath(database)} (taken before the postgres capture?)`)} >&2; exit 1; fi`,
    `d="$p"/${q(dataDir)}`,
    `if [ ! -e "$d" ]; then mkdir -p -- "$d" && chown ${owner.uid}:${owner.gid} -- "$d" && chmod 0700 -- "$d"; fi`,
  ].join('\n')
  await run(connection, script, (reason) => new RestoreStepError('re-import', reason))
}

/**
 * Postgres re-import, the Postgres workload running and Ready: waits until it accepts
 * connections (`pg_isready` in the pod, up to `attempts` tries 2 s apart), then streams the dump
 * from the host into `k3s kubectl exec -i … -- pg_restore --clean --if-exists --no-owner
 * --single-transaction --exit-on-error -U USER -d DB` on stdin (no copy of the dump in the pod;
 * `-i` passes stdin, without it kubectl gives the command none). All or nothing: one transaction,
 * rolled back at the first error, so a failed re-import leaves the database as it was.
 * @throws RestoreStepError('re-import') with pg_restore's (or kubectl's) last line
 */
export async function reimportPostgres(connection: BackupHost, folder: string, pg: PostgresTarget, attempts = 60): Promise<Reimported> {
  const exec = (interactive: boolean) =>
    `k3s kubectl exec${interactive ? ' -i' : ''} -n ${q(pg.namespace)} ${q(pg.workload)}${pg.container ? ` -c ${q(pg.container)}` : ''} --`
  const dump = postgresDumpPath(pg.database)
  const script = [
    `p=${q(folder)}`,
    'ok=""; i=0',
    `while [ "$i" -lt ${attempts} ]; do`,
    `  if ${exec(false)} pg_isready -U ${q(pg.user)} -d ${q(pg.database)} >/dev/null 2>&1; then ok=1; break; fi`,
    '  i=$((i + 1)); sleep 2',
    'done',
    `if [ -z "$ok" ]; then echo ${q(`postgres in ${pg.workload} does not accept connections`)} >&2; exit 1; fi`,
    `${exec(true)} pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error -U ${q(pg.user)} -d ${q(pg.database)} <"$p"/${q(dump)}`,
  ].join('\n')
  await run(connection, script, (reason) => new RestoreStepError('re-import', `pg_restore of ${dump}: ${reason}`))
  return {database: pg.database, dump, kind: 'postgres'}
}

/** A kept `<source>.aside-<UTC timestamp>` folder. */
export interface AsideFolder {
  path: string
  /** Bytes of its regular files. */
  size: number
  files: number
}

/**
 * The `<source>.aside-*` folders next to `source` on the host, oldest first.
 * @throws HomelabError when the listing fails
 */
export async function listAsideFolders(connection: BackupHost, source: string): Promise<AsideFolder[]> {
  const script = [
    `for a in ${q(source)}.aside-*; do`,
    '  [ -d "$a" ] || continue',
    `  echo "${MARK}aside $(find "$a" -type f -printf '%s\\n' | awk '{s += $1} END {print s + 0}') $(find "$a" -type f | wc -l) $a"`,
    'done',
  ].join('\n')
  const r = await connection.sudo(script)
  if (r.exitCode !== 0) throw new HomelabError(`listing ${source}.aside-* on the host: ${lastLine(r)}`)
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith(`${MARK}aside `))
    .map((l) => {
      const [, size, files, ...rest] = l.slice(MARK.length).split(' ')
      return {files: Number(files), path: rest.join(' '), size: Number(size)}
    })
    .sort((a, b) => a.path.localeCompare(b.path))
}

/**
 * Removes the given aside folders (`rm -rf`); each must be `<source>.aside-…`.
 * @throws HomelabError naming the first that could not be removed
 */
export async function removeAsideFolders(connection: BackupHost, source: string, folders: string[]): Promise<void> {
  for (const folder of folders) {
    if (!folder.startsWith(`${source}.aside-`)) throw new HomelabError(`${folder} is not an aside folder of ${source}`)
    await run(connection, `rm -rf -- ${q(folder)}`, (reason) => new HomelabError(`removing ${folder}: ${reason}`))
  }
}
