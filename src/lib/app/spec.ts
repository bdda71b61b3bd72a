import {BACKUP_MODES, type BackupCapture, backupCaptureSchema} from '../config/schema.js'
import {UsageError} from '../errors.js'

/** Workload kinds `homelab app new` writes (Kubernetes apps/v1). */
export const WORKLOAD_KINDS = ['deployment', 'statefulset'] as const
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number]

/** Everything `homelab app new` needs to know about a new app, validated. */
export interface AppSpec {
  /** DNS-1123 label: the app folder, workload, Service and default namespace name. */
  name: string
  /** OCI image reference, e.g. `ghcr.io/owner/app:1.2.3`. */
  image: string
  /** Container port (1-65535); `undefined` = no Service, no readiness probe, no hostname. */
  port?: number
  /** Volume size as a Kubernetes quantity (`10Gi`); `undefined` = no volume, no backup. */
  storage?: string
  /** Mount path of the volume in the container (absolute). */
  mount: string
  /** Public hostname routed through the Cloudflare Tunnel; `undefined` = none. */
  hostname?: string
  kind: WorkloadKind
  /** Plain environment variables, in flag order. */
  env: {name: string; value: string}[]
  /** Secret keys (environment variable names) stored in `secret.sops.yaml`, in flag order. */
  secretKeys: string[]
  namespace: string
  /** Numeric owner of the host folder, and runAsUser/runAsGroup unless `root`. */
  uid: number
  gid: number
  /** Run the container as root (no runAsNonRoot). */
  root: boolean
  /** How the volume's snapshot is captured (storage.json `backup`); `undefined` = `files`. Needs `storage`. */
  backup?: BackupCapture
  /** The host whose disk holds the volume (its PersistentVolume's node affinity); `undefined` = the k3s server host. */
  node?: string
}

/** The `--backup*` flags of `homelab app new`, as given (undefined = not given). */
export interface BackupFlags {
  backup?: string
  /** `--backup-database` (sqlite, repeatable): database file paths inside the app folder. */
  database?: string[]
  /** `--backup-postgres-workload`: `deployment/NAME` or `statefulset/NAME`; default the app's own workload. */
  postgresWorkload?: string
  postgresContainer?: string
  postgresDatabase?: string
  postgresUser?: string
  /** `--backup-postgres-data-dir`: the cluster folder (PGDATA) inside the app folder. */
  postgresDataDir?: string
}

/**
 * Builds the storage.json `backup` capture from `homelab app new`'s `--backup*` flags, validated
 * with {@link backupCaptureSchema}.
 * @param flags the flags as given
 * @param app the new app: `storage` (undefined = no volume), its own workload (`<kind>/<name>`,
 *   the default --backup-postgres-workload) and namespace (written as `backup.namespace` when it
 *   is not the app's name)
 * @returns the capture, or undefined when no `--backup*` flag was given (`files`)
 * @throws UsageError (exit 3) naming the flag: --backup without a volume, a sub-flag of another
 *   mode, a missing sub-flag, a value the schema refuses
 */
export function checkBackup(flags: BackupFlags, app: {name: string; namespace: string; storage: string | undefined; workload: string}): BackupCapture | undefined {
  const given = (['database', 'postgresWorkload', 'postgresContainer', 'postgresDatabase', 'postgresUser', 'postgresDataDir'] as const).filter((k) =>
    Array.isArray(flags[k]) ? (flags[k] as string[]).length > 0 : flags[k] !== undefined,
  )
  const flagName = (k: (typeof given)[number]) => `--backup-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
  if (flags.backup === undefined) {
    if (given.length > 0) throw new UsageError(`${flagName(given[0])} needs --backup ${given[0] === 'database' ? 'sqlite' : 'postgres'}`)
    return undefined
  }

  const mode = flags.backup
  if (!(BACKUP_MODES as readonly string[]).includes(mode)) throw new UsageError(`--backup "${mode}" must be one of: ${BACKUP_MODES.join(', ')}`)
  if (app.storage === undefined)
    throw new UsageError(`--backup ${mode} needs a volume: without --storage (or with --storage 0) the app has no folder to back up`)
  const own = mode === 'sqlite' ? ['database'] : mode === 'postgres' ? given.filter((k) => k.startsWith('postgres')) : []
  const stray = given.find((k) => !own.includes(k))
  if (stray) throw new UsageError(`${flagName(stray)} does not apply to --backup ${mode}`)
  const namespace = app.namespace === app.name ? {} : {namespace: app.namespace}
  const require = (value: string | undefined, k: (typeof given)[number]): string => {
    if (value === undefined || value === '') throw new UsageError(`--backup ${mode} needs ${flagName(k)}`)
    return value
  }

  let capture: unknown
  switch (mode) {
    case 'sqlite': {
      if (!flags.database || flags.database.length === 0) throw new UsageError('--backup sqlite needs --backup-database PATH (the database file inside the app folder; repeatable)')
      capture = {mode, ...namespace, databases: flags.database}
      break
    }

    case 'postgres': {
      capture = {
        mode,
        ...namespace,
        workload: flags.postgresWorkload ?? app.workload,
        ...(flags.postgresContainer === undefined ? {} : {container: flags.postgresContainer}),
        database: require(flags.postgresDatabase, 'postgresDatabase'),
        user: require(flags.postgresUser, 'postgresUser'),
        dataDir: require(flags.postgresDataDir, 'postgresDataDir'),
      }
      break
    }

    default: {
      capture = {mode, ...namespace}
    }
  }

  const parsed = backupCaptureSchema.safeParse(capture)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = String(issue.path[0] ?? '')
    const flag =
      {container: '--backup-postgres-container', dataDir: '--backup-postgres-data-dir', database: '--backup-postgres-database', databases: '--backup-database', user: '--backup-postgres-user', workload: '--backup-postgres-workload'}[key] ??
      '--backup'
    const value = issue.path.length > 0 ? issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)?.[k as PropertyKey], capture) : mode
    throw new UsageError(`${flag} ${JSON.stringify(value)}: ${issue.message}`)
  }

  return parsed.data
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
// distribution/reference grammar (reference.go), simplified: [host[:port]/]path[:tag][@digest]
const IMAGE =
  /^(?:(?:[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/
// Kubernetes resource.Quantity (apimachinery pkg/api/resource/quantity.go), positive, binary or decimal suffix.
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$/

/** @throws UsageError unless `name` is a DNS-1123 label (lowercase letters, digits, '-', at most 63). */
export function checkName(name: string, what = 'app name'): string {
  if (name.length > 63) throw new UsageError(`${what} "${name}" is longer than 63 characters (a DNS-1123 label)`)
  if (!LABEL.test(name))
    throw new UsageError(`${what} "${name}" must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit`)
  return name
}

/** @throws UsageError unless `image` is an OCI image reference. */
export function checkImage(image: string): string {
  if (!IMAGE.test(image)) throw new UsageError(`--image "${image}" is not an image reference like ghcr.io/owner/app:1.2.3`)
  return image
}

/** Port from a flag value; `0` means none. @throws UsageError outside 0-65535. */
export function checkPort(port: number): number | undefined {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port ${port} must be 1-65535 (or 0 for no port)`)
  return port === 0 ? undefined : port
}

/**
 * Storage size from a flag value: a Kubernetes quantity (digits, optional decimals, an optional
 * suffix Ki Mi Gi Ti Pi Ei or k M G T P E). A zero quantity (`0`, `0Gi`, `0.0`) means no volume.
 * @returns the size as given, or undefined for zero
 * @throws UsageError (exit 3) naming --storage and the accepted form, for anything else (also `0XB`)
 */
export function checkStorage(size: string): string | undefined {
  if (!QUANTITY.test(size))
    throw new UsageError(`--storage "${size}" is not a size: give a Kubernetes quantity like 10Gi or 500Mi (digits, then Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E), or 0 for no volume`)
  if (Number(/^[\d.]+/.exec(size)![0]) === 0) return undefined
  return size
}

/** @throws UsageError unless an absolute container path without spaces or `..`. */
export function checkMount(mount: string): string {
  if (!/^\/[\w./-]*$/.test(mount) || mount.split('/').includes('..')) throw new UsageError(`--mount "${mount}" must be an absolute path in the container, like /data`)
  return mount
}

/** @throws UsageError unless a lowercase fully qualified host name. */
export function checkHostname(hostname: string): string {
  if (!HOSTNAME.test(hostname)) throw new UsageError(`--hostname "${hostname}" must be a fully qualified host name like app.example.org`)
  return hostname
}

/** @throws UsageError unless one of {@link WORKLOAD_KINDS}. */
export function checkKind(kind: string): WorkloadKind {
  if (!(WORKLOAD_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind "${kind}" must be one of: ${WORKLOAD_KINDS.join(', ')}`)
  return kind as WorkloadKind
}

/** @throws UsageError unless a numeric id 0-4294967294. */
export function checkId(id: number, flag: string): number {
  if (!Number.isInteger(id) || id < 0 || id > 4_294_967_294) throw new UsageError(`--${flag} ${id} must be a numeric id (0-4294967294)`)
  return id
}

/** Parses `--env K=V` values. @throws UsageError for a missing `=`, a bad or repeated name. */
export function parseEnvFlags(values: readonly string[]): {name: string; value: string}[] {
  const seen = new Set<string>()
  return values.map((pair) => {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env "${pair}" must be NAME=VALUE`)
    const name = pair.slice(0, eq)
    if (!ENV_NAME.test(name)) throw new UsageError(`--env ${name}: not an environment variable name (letters, digits, _)`)
    if (seen.has(name)) throw new UsageError(`--env ${name} is given twice`)
    seen.add(name)
    return {name, value: pair.slice(eq + 1)}
  })
}

/** Checks `--secret KEY` names. @throws UsageError for a bad or repeated key. */
export function checkSecretKeys(keys: readonly string[]): string[] {
  const seen = new Set<string>()
  for (const key of keys) {
    if (!ENV_NAME.test(key)) throw new UsageError(`--secret ${key}: not an environment variable name (letters, digits, _)`)
    if (seen.has(key)) throw new UsageError(`--secret ${key} is given twice`)
    seen.add(key)
  }

  return [...keys]
}

/**
 * Parses dotenv text (`KEY=VALUE` lines; `#` comments, blank lines and an `export ` prefix
 * allowed; values optionally in single or double quotes, `\n` escapes in double quotes), the
 * format of motdotla/dotenv `lib/main.js` for single-line values.
 * Errors never include a value.
 * @throws UsageError naming the line of a malformed entry
 */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new UsageError(`stdin line ${i + 1}: expected KEY=VALUE (dotenv)`)
    let value = m[2]
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replaceAll('\\n', '\n').replaceAll('\\"', '"')
    else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) value = value.slice(1, -1)
    else value = value.replace(/\s+#.*$/, '')
    out.set(m[1], value)
  }

  return out
}
