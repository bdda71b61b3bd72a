import {Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../base-command.js'
import type {DiffReport} from '../lib/diff/index.js'
import {colors} from '../ui/color.js'

/**
 * `homelab diff`: what a change does to the cluster, offline (the cluster side of issue 16).
 *
 * `--json` prints the {@link DiffReport}: `{ok, changed, cluster, from: {label, commit?}, to: {label,
 * commit?}, kustomizations: [{id, status, prune, skipped?}], objects: [{action:
 * "added"|"changed"|"pruned"|"orphaned"|"moved", kustomization, object, kind, namespace?, name, diff,
 * secretKeys?: [{key, change}], movedTo?}], errors: [{kustomization, object?, message}], warnings}`.
 * Exit 1 when there is any error (also without --exit-code); with --exit-code, 1 when anything differs.
 */
export default class Diff extends HomelabCommand {
  static override summary = 'Show what a change does to the cluster: every Flux Kustomization built at two revisions and compared, offline.'

  static override description = `Builds the cluster folder (homelab.yaml cluster.path) the way Flux builds it, at two revisions, and compares them object by object. Every Flux Kustomization is built with kubectl kustomize, following Kustomizations that other Kustomizations create, with spec.path, targetNamespace, namePrefix/nameSuffix, patches, images, components and postBuild substitute/substituteFrom (ConfigMaps and Secrets of the tree; \${var}, \${var:=default}, $\${var}; the kustomize.toolkit.fluxcd.io/substitute: disabled annotation).

The old side is --from (default HEAD, the last commit); reading the revision Flux last applied from the cluster comes with the host side of homelab diff. The new side is the working tree, or --to. Revisions are read with git archive into temp folders: your working tree is never changed. Nothing connects to a host (--offline is accepted and changes nothing).

The report groups by Flux Kustomization, then Kind/namespace/name: deletions first (pruned when the Kustomization has prune: true, orphaned — left in the cluster — when not), then added and changed objects with a unified YAML diff (status and Flux's own labels/annotations left out). SOPS-encrypted values are decrypted in memory with your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt) and only compared: a Secret shows key names and "value changed", never a value.

A change Kubernetes refuses or that deletes storage is an error line and exits 1: a PersistentVolume or PersistentVolumeClaim pruned; a claim shrunk; a claim's storageClassName, volumeName or accessModes, a volume's capacity (down), hostPath, storageClassName, claimRef or accessModes changed; a Deployment or StatefulSet selector, a StatefulSet's volumeClaimTemplates or serviceName changed. A Kustomization that does not build is an error too.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'What the uncommitted changes do to the cluster (HEAD against the working tree).'},
    {command: '<%= config.bin %> <%= command.id %> --from origin/main --to HEAD', description: 'What pushing your commits does, Flux tracking origin/main.'},
    {command: '<%= config.bin %> <%= command.id %> --from HEAD~1 --to HEAD --json', description: 'The last commit\'s change as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> --name-only --exit-code', description: 'Only the objects that change; exit 1 when any does (like git diff --exit-code).'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    from: Flags.string({description: 'old revision (commit, branch, tag); default HEAD. Reading what Flux last applied from the cluster comes with the host side', default: 'HEAD'}),
    to: Flags.string({description: 'new revision; default: the working tree as it is on disk'}),
    offline: Flags.boolean({description: 'never connect to a host (the cluster side never does; accepted for scripts)', default: false}),
    'exit-code': Flags.boolean({description: 'exit 1 when anything differs (like git diff --exit-code)', default: false}),
    'name-only': Flags.boolean({description: 'print only KUSTOMIZATION<TAB>Kind/namespace/name of each object that changes', default: false, exclusive: ['json']}),
  }

  async run(): Promise<DiffReport> {
    const {flags} = await this.parse(Diff)
    const homelab = await this.homelab(flags.repo)
    const {loadIdentities} = await import('../lib/sops/index.js')
    const {diffCluster} = await import('../lib/diff/index.js')
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const report = await diffCluster({
      clusterPath: homelab.config.cluster.path,
      from: flags.from,
      identities,
      path: process.env.PATH,
      root: homelab.root,
      to: flags.to,
    })
    if (!this.jsonEnabled()) {
      const {renderDiffReport, renderNameOnly} = await import('../ui/diff.js')
      if (flags['name-only']) {
        const text = renderNameOnly(report)
        if (text) this.log(text)
        const c = colors(process.stderr)
        for (const e of report.errors) process.stderr.write(`${c.red('error:')} Kustomization ${e.kustomization}: ${e.message}\n`)
      } else this.log(renderDiffReport(report, colors()))
    }

    if (!report.ok || (flags['exit-code'] && report.changed)) process.exitCode = 1
    return report
  }
}
