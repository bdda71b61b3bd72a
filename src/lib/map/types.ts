/**
 * The topology map of a homelab (`homelab map`, its `--json` output; schemas/map.schema.json).
 * Built from the repository alone (src/lib/map/model.ts). Every list is sorted, so the same
 * repository gives the same map, byte for byte.
 */
export interface TopologyMap {
  schemaVersion: 1
  /** homelab.yaml `cluster.name`. */
  cluster: string
  /** homelab.yaml `domain`. */
  domain: string
  /** The storage root (homelab.yaml `storage.root`). */
  storageRoot: string
  /**
   * What the map was built from: `digest` is `sha256:` + the hex SHA-256 over every input file
   * (its repository-relative path, a NUL byte, its bytes, a NUL byte; files sorted by path; a
   * `*.sops.yaml` file by its path only, so re-encrypting a value changes nothing); `files` lists
   * them. The same inputs give the same digest, whatever the commit.
   */
  inputs: {digest: string; files: string[]}
  apps: MapApp[]
  /** The Cloudflare Tunnel (cloudflared ConfigMap `config.yaml`), null when the tree has none. */
  tunnel: MapTunnel | null
  hosts: MapHost[]
  /** The host's Kopia settings (homelab.yaml `backup.file`). */
  backup: MapBackup
  /** Inputs of the repository's flakes (flake.nix, nixos/flake.nix), pinned revision from the flake.lock beside each when there is one. */
  flakeInputs: MapFlakeInput[]
}

/** One app: a folder the apps kustomization lists. */
export interface MapApp {
  name: string
  /** The namespace of its workloads (else of its first object); null when none is set. */
  namespace: string | null
  workloads: MapWorkload[]
  services: MapService[]
  /** Tunnel routes to one of the app's Services. */
  hostnames: MapRoute[]
  /** Its PersistentVolumeClaims and what each binds to. */
  volumes: MapVolume[]
  /** Its storage-file entry: host folder, owner and mode; null when it has none. */
  storage: {path: string; uid: number; gid: number; mode: string; node: string} | null
  /** Its Kopia backup source and how a snapshot is captured; null when no source covers it. */
  backup: {source: string; mode: 'files' | 'sqlite' | 'postgres' | 'stop'} | null
  /** Secrets its pods mount or read (names only); `sops` when the app's folder holds it SOPS-encrypted. */
  secrets: Array<{name: string; namespace: string; sops: boolean}>
}

/** A Deployment, StatefulSet or DaemonSet. */
export interface MapWorkload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'
  name: string
  namespace: string
  /** spec.replicas (null for a DaemonSet; 1 when unset, as the API defaults it). */
  replicas: number | null
  containers: Array<{name: string; image: string; ports: number[]}>
  /** The claims its pods mount. */
  claims: string[]
}

/** A Service and its ports. */
export interface MapService {
  name: string
  namespace: string
  type: string
  /** targetPort resolved to the container's port number when it is a name the selected pods declare. */
  ports: Array<{name: string | null; port: number; targetPort: number | string; protocol: string}>
  /** The workloads its selector picks (names, same namespace). */
  workloads: string[]
}

/** One tunnel ingress rule with a hostname. */
export interface MapRoute {
  hostname: string
  /** The rule's `path` regular expression, null when none. */
  path: string | null
  /** The rule's `service` as written (`http://svc.ns.svc.cluster.local:80`, `http_status:404`). */
  service: string
  /** The in-cluster Service it routes to; null for a status answer or a host outside the cluster. */
  target: {namespace: string; name: string; port: number} | null
}

/** A PersistentVolumeClaim → PersistentVolume → host folder. */
export interface MapVolume {
  claim: string
  namespace: string
  /** The PersistentVolume bound to the claim (its claimRef, or the claim's volumeName); null when none. */
  volume: string | null
  hostPath: string | null
  capacity: string | null
  /** The node holding the folder (storage-file `node` when present, else the k3s server host). */
  node: string
}

/** The tunnel. */
export interface MapTunnel {
  /** The cloudflared ConfigMap's file. */
  file: string
  /** `tunnel:` of config.yaml. */
  id: string | null
  /** Every rule with a hostname, in file order. */
  routes: Array<MapRoute & {app: string | null}>
}

/** A NixOS host of homelab.yaml, with what the host module declares for it. */
export interface MapHost {
  name: string
  ssh: string
  /** homelab.yaml `role`: the k3s role. */
  role: 'server' | 'agent'
  tags: string[]
  labels: Record<string, string>
  /**
   * networking.firewall of the host module (nixos/homelab-module.nix): ports open on every
   * interface, and (several hosts) k3s's node ports on the host's `nodeInterfaces`.
   */
  firewall: {tcp: number[]; udp: number[]; file: string; interfaces: Record<string, {tcp: number[]; udp: number[]}>}
  /** services.k3s.role as the host module sets it (null when not found). */
  k3sRole: string | null
  /** The systemd units the backup module adds (nixos/backup.nix), timers with their schedule from the backup file. */
  units: Array<{name: string; schedule: string | null}>
}

/** The backup file's values. */
export interface MapBackup {
  schedule: string
  drillSchedule: string
  syncEveryHours: number
  repositoryPath: string
  bucket: string
  prefix: string
  /** Every backup source (app folders and extraBackupSources), sorted. */
  sources: string[]
}

/** One input of a flake. */
export interface MapFlakeInput {
  /** The flake.nix that declares it (repository-relative). */
  flake: string
  name: string
  url: string | null
  /** `inputs.X.follows` of the input, by X. */
  follows: Record<string, string>
  /** locked.rev from the flake.lock beside the flake, null when there is no lock (the repository commits none). */
  rev: string | null
}
