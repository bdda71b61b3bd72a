import {z} from 'zod'

/** A DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters (Kubernetes names, hosts, apps). */
export const dns1123Label = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lowercase letters, digits and -, at most 63)')

const absolutePath = z.string().regex(/^\/\S*$/, 'must be an absolute path')
const repoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path inside the repository')

/**
 * True for an SSH target `[user@]host[:port]`: no spaces, at most one `@`, a non-empty host
 * without `:`, and a port (when given) that is a whole number from 1 to 65535.
 */
export function isSshTarget(target: string): boolean {
  const match = /^([^@\s]+@)?([^@\s:]+)(?::(\d+))?$/.exec(target)
  if (!match) return false
  const port = match[3] === undefined ? undefined : Number(match[3])
  return port === undefined || (port >= 1 && port <= 65_535)
}

/** One NixOS host the CLI deploys to. */
/** Node label keys the kubelet (kubernetes.io/docs/reference/labels-annotations-taints/) or k3s set on every start. */
const KUBELET_OWNED_LABEL = /^(kubernetes\.io\/(hostname|os|arch)|beta\.kubernetes\.io\/.*|node\.kubernetes\.io\/instance-type|(failure-domain\.beta|topology)\.kubernetes\.io\/.*|(.+\.)?k3s\.io\/.*)$/

export const hostSchema = z.strictObject({
  /** The NixOS configuration name in the host flake (`nixosConfigurations.<name>`), usually the hostname. */
  name: dns1123Label,
  /** SSH target as `[user@]host[:port]` (port 1–65535, no spaces); `host` is resolved through `~/.ssh/config`. */
  ssh: z.string().refine(isSshTarget, 'must be [user@]host[:port] with a port from 1 to 65535 and no spaces'),
  /** The host's bootstrap flake folder (holds flake.nix and flake.lock). */
  flakeDir: absolutePath.default('/etc/nixos'),
  /** The name of the flake input in the host flake that pins this repository. */
  flakeInput: z.string().regex(/^[A-Za-z_][\w-]*$/, 'must be a flake input name').default('homelab'),
  /**
   * The k3s role of the host: `server` runs the control plane (exactly one per homelab for now;
   * HA servers with embedded etcd are a later step), `agent` joins it as a worker node.
   */
  role: z.enum(['server', 'agent']).default('server'),
  /**
   * Kubernetes node labels of the host's node: given to k3s (`--node-label k=v`, at registration)
   * where the kubelet may set them, and kept true by `homelab deploy` (`kubectl label`). Keys the
   * kubelet or k3s set themselves on every start are refused (they would fight over them).
   */
  labels: z.record(z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label key like example.org/name'), z.string().max(63).regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, 'must be a label value'))
    .superRefine((labels, ctx) => {
      for (const key of Object.keys(labels))
        if (KUBELET_OWNED_LABEL.test(key)) ctx.addIssue({code: 'custom', message: 'is set by the kubelet or k3s on every start; use a key of your own, e.g. homelab.dev/zone', path: [key]})
    })
    .default({}),
  /** Tags for host selection (`--on @tag`, as colmena's deployment tags). */
  tags: z.array(dns1123Label).default([]),
  /**
   * The address the other nodes reach this host at (an agent joins `https://<server address>:6443`).
   * Default: the host part of `ssh` (which must then resolve on the other hosts too).
   */
  address: z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9.:]*[A-Za-z0-9])?$/, 'must be a host name or IP address').optional(),
  /**
   * Network interfaces (Linux names, e.g. `enp1s0`) on which k3s's node ports (8472/udp flannel
   * VXLAN, 10250/tcp kubelet, 6443/tcp on the server) are opened when the homelab has several
   * hosts. Empty: none (nodes cannot reach each other's pods until you name the LAN interface).
   */
  nodeInterfaces: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a network interface name like enp1s0')).optional(),
})

/** The `homelab.yaml` file: everything the CLI needs to know about one homelab. */
export const homelabConfigSchema = z.strictObject({
  /** Schema version of this file. */
  version: z.literal(1),
  /** Public DNS domain; app hostnames default to `<app>.<domain>`. */
  domain: z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/, 'must be a domain name like example.org'),
  hosts: z.array(hostSchema).min(1, 'must list at least one host'),
  git: z
    .strictObject({
      remote: z.string().min(1).default('origin'),
      branch: z.string().min(1).default('main'),
      /**
       * How each host fetches this repository as its flake input (root runs `nix flake update`
       * on the host): the git access file, JSON so the host module (nixos/git-access.nix) reads
       * the same method and forge host keys. Relative to the repository root.
       */
      hostAccess: repoPath.default('nixos/git-access.json'),
    })
    .prefault({}),
  cluster: z.strictObject({
    /** Flux cluster name: the folder under `flux/clusters/`. */
    name: dns1123Label,
    /** The folder Flux's root Kustomization reconciles, relative to the repository root. */
    path: repoPath,
    /**
     * The hosts as Nix reads them (role, address, labels, node interfaces, configuration file),
     * JSON written by the CLI from `hosts:` (src/lib/config/hosts-file.ts); relative to the root.
     */
    hostsFile: repoPath.default('nixos/hosts.json'),
  }),
  storage: z.strictObject({
    /** Host folder that holds every app's data (`<root>/<app>`). */
    root: absolutePath.default('/srv'),
    /**
     * The single list of app storage paths and extra backup sources, as JSON so Nix reads it
     * natively (`builtins.fromJSON`). Relative to the repository root.
     */
    file: repoPath.default('nixos/storage.json'),
  }),
  backup: z.strictObject({
    /**
     * The host's backup settings (schedule, syncEveryHours, repositoryPath, stateDir, bucket,
     * prefix) as JSON, so Nix (nixos/backup.nix) and the CLI (src/lib/backup/settings.ts) read
     * the same values. Relative to the repository root.
     */
    file: repoPath.default('nixos/backup.json'),
    /** Optional here: the value lives in the backup file; when given it must equal it. */
    schedule: z.string().min(1).optional(),
    /** Optional here: the value lives in the backup file; when given it must equal it. */
    syncEveryHours: z.number().int().positive().optional(),
    /** Hours past the schedule before a snapshot counts as stale. */
    graceHours: z.number().positive().default(6),
    offsite: z.strictObject({
      /** Optional here: the value lives in the backup file; when given it must equal it. */
      bucket: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
        .optional(),
      /** S3 endpoint host, `<account id>.r2.cloudflarestorage.com` for R2 (a bare host, no scheme). */
      endpoint: z.string().min(1),
      /** Optional here: the value lives in the backup file; when given it must equal it. */
      prefix: z.string().optional(),
      /** SOPS file (repo-relative) holding `r2.access_key_id` and `r2.secret_access_key`. */
      credentialsFile: repoPath,
    }),
  }),
  /** Pinned SSH host keys (OpenSSH known_hosts format), relative to the repository root. */
  knownHosts: repoPath.default('known_hosts'),
})

/** Parsed and defaulted `homelab.yaml`. */
export type HomelabConfig = z.infer<typeof homelabConfigSchema>
/** One entry of `hosts:` in `homelab.yaml`. */
export type HostConfig = z.infer<typeof hostSchema>

/** A path inside an app's storage folder: relative, no `..`, no leading `/` (e.g. `data/db.sqlite3`). */
const appRelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.split('/').includes('.'), 'must be a path inside the app folder (relative, no . or ..)')

/** A workload as kubectl names it: `deployment/<name>` or `statefulset/<name>`. */
const workloadRef = z.string().regex(/^(deployment|statefulset)\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be deployment/<name> or statefulset/<name>')

/** Capture modes of {@link backupCaptureSchema}, in the order `--backup` lists them. */
export const BACKUP_MODES = ['files', 'sqlite', 'postgres', 'stop'] as const
export type BackupMode = (typeof BACKUP_MODES)[number]

/**
 * How the nightly snapshot captures one app's folder consistently (storage.json `apps[].backup`,
 * absent = `{"mode": "files"}`). Read by scripts/kopia-backup.sh on the host (jq on the storage
 * file) and by the CLI (restore, drill, validate). `namespace` is the app's Kubernetes namespace
 * (default: the app's name); its Deployments and StatefulSets are what `stop` and an in-place
 * restore scale to 0 and back.
 * - `files`: the folder as it is (no database in it, or one that tolerates a crash-consistent copy).
 * - `sqlite`: each of `databases` (paths inside the folder) is copied with SQLite's online backup
 *   into `<folder>/.homelab-backup/sqlite/<path>`; the live files (and their -wal/-shm/-journal)
 *   are left out of the snapshot by the folder's `.kopiaignore`.
 * - `postgres`: `pg_dump --format=custom` of `database` as `user`, run in `workload`'s `container`
 *   through `k3s kubectl exec`, into `<folder>/.homelab-backup/postgres/<database>.pgdump`; the
 *   live cluster folder `dataDir` is left out.
 * - `stop`: every workload of the namespace is scaled to 0 for the snapshot and back after it.
 */
export const backupCaptureSchema = z.discriminatedUnion('mode', [
  z.strictObject({mode: z.literal('files'), namespace: dns1123Label.optional()}),
  z.strictObject({mode: z.literal('sqlite'), namespace: dns1123Label.optional(), databases: z.array(appRelativePath).min(1)}),
  z.strictObject({
    mode: z.literal('postgres'),
    namespace: dns1123Label.optional(),
    /** The Postgres workload, e.g. `statefulset/immich-postgres`. */
    workload: workloadRef,
    /** Its container (default: kubectl's default container). */
    container: dns1123Label.optional(),
    database: z.string().min(1),
    user: z.string().min(1),
    /** The live cluster folder inside the app folder (PGDATA on the host), e.g. `postgres`. */
    dataDir: appRelativePath,
  }),
  z.strictObject({mode: z.literal('stop'), namespace: dns1123Label.optional()}),
])
export type BackupCapture = z.infer<typeof backupCaptureSchema>

/** One app's host storage, as listed in the storage file. */
export const storageAppSchema = z.strictObject({
  name: dns1123Label,
  /** Absolute host path, `<storage root>/<name>`. */
  path: absolutePath,
  /** Numeric owner of the folder (the container's runAsUser). */
  uid: z.number().int().nonnegative().default(0),
  gid: z.number().int().nonnegative().default(0),
  /** Octal mode as a string, e.g. "0750". */
  mode: z.string().regex(/^0[0-7]{3}$/).default('0750'),
  /** How its snapshot is captured (absent: `files`). */
  backup: backupCaptureSchema.optional(),
  /**
   * The host (homelab.yaml `hosts[].name`, the k3s node name) whose disk holds the folder: its
   * PersistentVolume is pinned there by node affinity, and that host snapshots it. Absent: the
   * k3s server host.
   */
  node: dns1123Label.optional(),
})

/**
 * The storage file (`nixos/storage.json` by default): the one list that both Nix (folders under
 * the storage root, Kopia sources) and the CLI (validate, app new/remove, backup status) read.
 * Backup sources are every app path plus `extraBackupSources`.
 */
export const storageFileSchema = z.strictObject({
  $comment: z.string().optional(),
  apps: z.array(storageAppSchema),
  extraBackupSources: z.array(absolutePath).default([]),
})

export type StorageApp = z.infer<typeof storageAppSchema>
export type StorageFile = z.infer<typeof storageFileSchema>
