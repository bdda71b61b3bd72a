import {execFileSync, spawn} from 'node:child_process'
import {existsSync, promises as fs, readdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * A real PostgreSQL server (Debian's `postgresql`, installed by scripts/install-test-tools.sh)
 * for the backup tests: a fresh cluster in a temp folder, listening only on a unix socket in that
 * folder (no TCP, nothing on the network), stopped by pid. When the tests run as root the server
 * runs as the `postgres` user Debian's package creates (postgres refuses to run as root).
 */
export interface TestPostgres {
  /** The folder holding the socket `.s.PGSQL.<port>`: libpq's PGHOST. */
  socketDir: string
  /** The socket's port number (5432; only names the socket file). */
  port: number
  /** The superuser the cluster was initialised with (trust authentication on the socket). */
  user: string
  /** The cluster folder (PGDATA). */
  dataDir: string
  /** libpq environment for client tools: PGHOST, PGPORT, PGUSER. */
  env: Record<string, string>
  /** Absolute path of a server-side binary (initdb, postgres, pg_ctl…) of the installed major. */
  bin(name: string): string
  /** Runs SQL with psql on database `db` (default postgres) and returns its unaligned output. */
  psql(sql: string, db?: string): string
  /** Stops the server (SIGINT: fast shutdown), waits for it, removes the folder. */
  stop(): Promise<void>
}

/** The newest installed major's bin folder, e.g. /usr/lib/postgresql/17/bin; throws naming the package when none. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql'
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin', 'initdb'))) : []
  if (majors.length === 0) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql; scripts/install-test-tools.sh does it)')
  majors.sort((a, b) => Number(b) - Number(a))
  return path.join(root, majors[0], 'bin')
}

/** Starts a throwaway cluster; resolves when `pg_isready` answers. */
export async function startPostgres(): Promise<TestPostgres> {
  const binDir = postgresBinDir()
  const bin = (name: string) => path.join(binDir, name)
  const asRoot = process.getuid?.() === 0
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-pg-'))
  await fs.chmod(base, 0o755) // the server user must reach its folders; the socket stays in base
  const dataDir = path.join(base, 'data')
  await fs.mkdir(dataDir, {mode: 0o700})
  const owner = asRoot ? {uid: Number(execFileSync('id', ['-u', 'postgres'], {encoding: 'utf8'})), gid: Number(execFileSync('id', ['-g', 'postgres'], {encoding: 'utf8'}))} : undefined
  if (owner) {
    await fs.chown(dataDir, owner.uid, owner.gid)
    await fs.chown(base, owner.uid, owner.gid)
  }
  const user = 'homelab'
  const port = 5432
  const runAs = (args: string[]) => (asRoot ? ['runuser', ['-u', 'postgres', '--', ...args]] as const : [args[0], args.slice(1)] as const)
  const [initCmd, initArgs] = runAs([bin('initdb'), '-D', dataDir, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  execFileSync(initCmd, [...initArgs], {stdio: 'pipe'})
  const [cmd, args] = runAs([bin('postgres'), '-D', dataDir, '-k', base, '-p', String(port), '-c', "listen_addresses=", '-c', 'fsync=off'])
  const server = spawn(cmd, [...args], {detached: true, stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  server.stderr.on('data', (d: Buffer) => {
    log += String(d)
  })
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()))
  const env = {PGHOST: base, PGPORT: String(port), PGUSER: user}
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      execFileSync(bin('pg_isready'), ['-h', base, '-p', String(port)], {stdio: 'ignore'})
      break
    } catch {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  return {
    bin,
    dataDir,
    env,
    port,
    psql(sql, db = 'postgres') {
      return execFileSync(bin('psql'), ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], {encoding: 'utf8', env: {...process.env, ...env}})
    },
    socketDir: base,
    async stop() {
      if (server.exitCode === null) {
        process.kill(-server.pid!, 'SIGINT') // its process group: runuser and the postmaster
        await exited
      }
      await fs.rm(base, {force: true, recursive: true})
    },
    user,
  }
}
