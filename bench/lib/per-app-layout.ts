/**
 * A larger tree for bench/diff, made from the bundled homelab: the same apps, each applied by its
 * own Flux Kustomization (`apps-<app>`, path `manifests/apps/<app>`, the rest of its spec as the
 * bundled `apps` Kustomization's), the layout many Flux homelabs use (one Kustomization per app,
 * so one app that fails to build or roll out holds back only itself). The shared apps SOPS file
 * moves to `manifests/apps/shared` (still under the cluster creation rule of .sops.yaml) under a
 * Kustomization of its own. Used only by the bench.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parse, stringify} from 'yaml'

/**
 * Rewrites the copy at `work` (a copy of the bundled homelab, before its first commit) so that
 * every app folder of `<cluster>/manifests/apps` has its own Flux Kustomization.
 * @param cluster repository-relative cluster folder (homelab.yaml cluster.path)
 * @returns the number of Flux Kustomizations of the tree (the root included)
 * @throws Error when the copy does not have the bundled layout (apps.yaml, manifests/apps/kustomization.yaml)
 */
export async function splitAppsPerKustomization(work: string, cluster: string): Promise<number> {
  const root = path.join(work, cluster)
  const appsKs = parse(await fs.readFile(path.join(root, 'apps.yaml'), 'utf8')) as {metadata: {name: string; namespace: string}; spec: Record<string, unknown>}
  const appsDir = path.join(root, 'manifests/apps')
  const {resources} = parse(await fs.readFile(path.join(appsDir, 'kustomization.yaml'), 'utf8')) as {resources: string[]}
  const docs: unknown[] = []
  const ks = (name: string, rel: string) => ({
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: {name, namespace: appsKs.metadata.namespace},
    spec: {...appsKs.spec, path: `./${cluster}/${rel}`},
  })
  const shared = resources.filter((r) => !r.includes('/') && /\.ya?ml$/.test(r))
  for (const r of resources) if (!shared.includes(r)) docs.push(ks(`apps-${r}`, `manifests/apps/${r}`))
  if (shared.length > 0) {
    const sharedDir = path.join(appsDir, 'shared')
    await fs.mkdir(sharedDir, {recursive: true})
    for (const file of shared) await fs.rename(path.join(appsDir, file), path.join(sharedDir, file))
    await fs.writeFile(path.join(sharedDir, 'kustomization.yaml'), stringify({apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: shared}))
    docs.push(ks('apps-shared', 'manifests/apps/shared'))
  }

  await fs.rm(path.join(appsDir, 'kustomization.yaml'))
  await fs.writeFile(path.join(root, 'apps.yaml'), docs.map((d) => stringify(d)).join('---\n'))
  // The root, infrastructure, and one per app folder plus the shared one.
  return 2 + docs.length
}
