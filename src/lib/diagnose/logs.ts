import type {Homelab} from '../config/load.js'
import {readAppFolder} from '../app/read-app.js'
import {appFolders, readAppTree} from '../app/tree.js'
import {selectorText} from '../backup/restore/workloads.js'
import {UsageError} from '../errors.js'
import {K3S_KUBECONFIG} from '../flux/kubectl.js'
import {shellJoin} from '../ssh/shell.js'
import {parseYamlDocuments, yamlToJS} from '../yaml/parse.js'
import {assertRemoteName} from './names.js'

/** A workload of an app, as its manifests declare it, with its pods' label selector. */
export interface AppWorkload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'
  name: string
  namespace: string
  /** kubectl `-l` syntax from spec.selector (matchLabels `k=v`, matchExpressions), see selectorText. */
  selector: string
}

/**
 * The Deployments, StatefulSets and DaemonSets of app `app` (a folder of the apps folder), read
 * from its manifests: namespace (the object's, else the folder kustomization's, else `default`)
 * and the pods' label selector (spec.selector).
 * @throws UsageError (exit 3) for a name that is no app name, an app the apps kustomization does
 *   not list (naming the apps), or an app without a workload with a selector
 */
export async function appWorkloads(homelab: Homelab, app: string): Promise<AppWorkload[]> {
  assertRemoteName('app', app, 'APP')
  const tree = await readAppTree(homelab)
  const apps = appFolders(tree)
  if (!apps.includes(app)) throw new UsageError(`no app "${app}" in ${tree.layout.appsDir} (apps: ${apps.join(', ') || 'none'})`, {suggestions: ['see `homelab app list`']})
  const folder = await readAppFolder(homelab.root, `${tree.layout.appsDir}/${app}`, tree.parsed)
  const out: AppWorkload[] = []
  for (const file of folder.files) {
    if (!/\.ya?ml$/.test(file.path) || /\.sops\.ya?ml$/.test(file.path)) continue
    const {docs, lineCounter} = parseYamlDocuments(file.text)
    for (const doc of docs) {
      if (doc.errors.length > 0) continue
      const o = yamlToJS(doc, lineCounter, file.path) as {kind?: string; metadata?: {name?: string; namespace?: string}; spec?: {selector?: Parameters<typeof selectorText>[0]}} | null
      if (!o || typeof o !== 'object' || !['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind ?? '') || !o.metadata?.name) continue
      const selector = selectorText(o.spec?.selector)
      if (!selector) continue
      const namespace = o.metadata.namespace ?? folder.namespace ?? 'default'
      assertRemoteName('namespace', namespace, `namespace of ${o.kind} ${o.metadata.name} in ${file.path}:`)
      out.push({kind: o.kind as AppWorkload['kind'], name: o.metadata.name, namespace, selector})
    }
  }

  if (out.length === 0) throw new UsageError(`app "${app}" declares no Deployment, StatefulSet or DaemonSet with a spec.selector: it has no pods to read logs from`)
  return out
}

/** Options of {@link kubectlLogsCommand}: the flags of `homelab logs`. */
export interface LogsOptions {
  container?: string
  /** kubectl's --since (a Go duration, e.g. `1h`). */
  since?: string
  follow: boolean
  previous: boolean
  /** Lines per container; -1 for all (kubectl's default with a selector is 10). */
  tail: number
}

/**
 * `k3s kubectl logs` of one workload's pods, as one shell command with every word quoted:
 * `-n NS -l SELECTOR --prefix` (each line starts with `[pod/NAME/CONTAINER] `),
 * `--all-containers` unless `-c`, `--tail`, `--since`, `-f`, `--previous`, `--ignore-errors`,
 * and `--max-log-requests 50` (kubectl's default of 5 would refuse an app with more pods while
 * following). KUBECONFIG is k3s's.
 */
export function kubectlLogsCommand(workload: AppWorkload, options: LogsOptions): string {
  const args = ['k3s', 'kubectl', 'logs', '-n', workload.namespace, '-l', workload.selector, '--prefix', '--ignore-errors', '--max-log-requests=50', `--tail=${options.tail}`]
  if (options.container) args.push('-c', assertRemoteName('container', options.container, '--container'))
  else args.push('--all-containers')
  if (options.since) args.push(`--since=${options.since}`)
  if (options.follow) args.push('-f')
  if (options.previous) args.push('--previous')
  return `KUBECONFIG=${K3S_KUBECONFIG} ${shellJoin(args)}`
}

/**
 * One shell command for the logs of every workload of an app: one kubectl per workload, run
 * together when following (each streams until stopped), else one after the other.
 */
export function appLogsCommand(workloads: AppWorkload[], options: LogsOptions): string {
  const commands = workloads.map((w) => kubectlLogsCommand(w, options))
  if (commands.length === 1) return commands[0]
  if (!options.follow) return commands.map((c) => `{ ${c}; } || s=$?`).join('; ') + '; exit ${s:-0}'
  return `${commands.map((c) => `${c} &`).join(' ')} wait`
}
