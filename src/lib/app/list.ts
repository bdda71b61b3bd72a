import type {Homelab} from '../config/load.js'
import {backupSources} from '../config/load.js'
import {routesTo} from './plan-remove.js'
import {readAppFolder, serviceHosts} from './read-app.js'
import {type AppTree, appFolders, readAppTree} from './tree.js'

/** One app as the tree describes it (the rows of `homelab app list`, and its `--json` items). */
export interface AppSummary {
  /** Folder name under the apps folder. */
  name: string
  /** Namespace of the workload (or of the folder's first object); null when none is set. */
  namespace: string | null
  /** `Deployment`, `StatefulSet`, …; null when the folder has no workload. */
  kind: string | null
  /** Image of the first container. */
  image: string | null
  /** Service port, else the first containerPort. */
  port: number | null
  /** The hostPath volume bound to the app's claim: host path and capacity (e.g. `10Gi`). */
  volume: {path: string; size: string | null} | null
  /** Public hostnames routed to the app's Services through the tunnel. */
  hostnames: string[]
  /** True when the app's volume path (or the app's storage-file entry) is a Kopia backup source. */
  backedUp: boolean
  /** True when the folder holds a SOPS file or a Secret, or its workload reads a Secret. */
  secret: boolean
}

/**
 * Lists the apps of the tree: every folder the apps kustomization lists, joined with
 * persistent-volumes.yaml, the storage file and the tunnel's ingress rules.
 * @throws ConfigError when the shared files cannot be read
 */
export async function listApps(options: {homelab: Homelab; tree?: AppTree}): Promise<AppSummary[]> {
  const {homelab} = options
  const tree = options.tree ?? (await readAppTree(homelab))
  const sources = backupSources(tree.storage)
  const out: AppSummary[] = []
  for (const name of appFolders(tree)) {
    const folder = await readAppFolder(homelab.root, `${tree.layout.appsDir}/${name}`, tree.parsed)
    const workload = folder.workloads[0]
    const claims = new Set(folder.claims.map((c) => `${c.namespace}/${c.name}`))
    const pv = tree.volumes.find((v) => v.claimRef && claims.has(`${v.claimRef.namespace}/${v.claimRef.name}`))
    const storageEntry = tree.storage.apps.find((a) => a.name === name)
    const volumePath = pv?.hostPath ?? null
    const hosts = serviceHosts(folder)
    const routes = (tree.tunnel?.rules ?? []).filter((r) => r.hostname && routesTo(r, hosts))
    // The Service the tunnel routes to, else the one named like the workload or the app, else the first.
    const service =
      folder.services.find((s) => routes.some((r) => routesTo(r, new Set([`${s.name}.${s.namespace ?? 'default'}`])))) ??
      folder.services.find((s) => s.name === workload?.name || s.name === name) ??
      folder.services[0]
    out.push({
      backedUp: volumePath !== null ? sources.some((s) => volumePath === s || volumePath.startsWith(s.endsWith('/') ? s : s + '/')) : storageEntry !== undefined,
      hostnames: routes.map((r) => r.hostname!),
      image: workload?.image ?? null,
      kind: workload?.kind ?? null,
      name,
      namespace: workload?.namespace ?? service?.namespace ?? folder.namespace ?? null,
      port: service?.port ?? workload?.containerPort ?? null,
      secret: folder.hasSecret,
      volume: pv ? {path: pv.hostPath ?? '', size: pv.capacity ?? null} : null,
    })
  }

  return out
}
