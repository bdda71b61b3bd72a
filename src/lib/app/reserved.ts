import {UsageError} from '../errors.js'
import type {AppTree} from './tree.js'

/**
 * Namespaces no app may take, with the reason: the initial namespaces of every Kubernetes cluster
 * (kubernetes.io "Namespaces: Initial namespaces") and Flux's own (`flux install` puts the
 * controllers, the GitRepository and the root Kustomization in `flux-system`).
 */
export const SYSTEM_NAMESPACES: ReadonlyMap<string, string> = new Map([
  ['default', 'the Kubernetes default namespace'],
  ['flux-system', "the Flux controllers' namespace"],
  ['kube-node-lease', 'a Kubernetes system namespace'],
  ['kube-public', 'a Kubernetes system namespace'],
  ['kube-system', 'a Kubernetes system namespace'],
])

/**
 * Why `name` cannot be an app's name or namespace, or undefined when it can be: a
 * {@link SYSTEM_NAMESPACES} entry, the `kube-` prefix (kept for Kubernetes system namespaces), or
 * a namespace that something outside the apps folder declares or uses (`tree.outsideNamespaces`,
 * e.g. the platform namespaces of `manifests/cluster/namespaces.yaml`). An app's folder declares
 * its own Namespace and `homelab app remove` deletes it, so Flux (prune: true) would delete such a
 * namespace with everything in it.
 */
export function reservedNamespace(tree: Pick<AppTree, 'outsideNamespaces'>, name: string): string | undefined {
  const system = SYSTEM_NAMESPACES.get(name)
  if (system) return system
  if (name.startsWith('kube-')) return 'the kube- prefix is kept for Kubernetes system namespaces'
  const outside = tree.outsideNamespaces.get(name)
  if (outside) return outside.declared ? `a namespace declared outside the apps folder, in ${outside.file}` : `a namespace used outside the apps folder, in ${outside.file}`
  return undefined
}

/**
 * Refuses a reserved app name or namespace (see {@link reservedNamespace}).
 * @param what how the error names the value: `app name` or `--namespace`
 * @throws UsageError "<what> NAME is reserved: <reason>"
 */
export function checkNotReserved(tree: Pick<AppTree, 'outsideNamespaces'>, name: string, what: 'app name' | '--namespace'): void {
  const reason = reservedNamespace(tree, name)
  if (reason)
    throw new UsageError(`${what} ${name} is reserved: ${reason}`, {
      suggestions: [what === 'app name' ? 'pick another app name' : 'pick another --namespace, or leave it out (the app name)'],
    })
}
