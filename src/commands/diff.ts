import {Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import type {HostConfig} from '../lib/config/schema.js'
import type {FullDiffReport} from '../lib/diff/report.js'
import {colors} from '../ui/color.js'

/**
 * `homelab diff`: what a change does to the cluster (offline) and to each host (built on the
 * host, nothing changed there): issue 16.
 *
 * `--json` prints the {@link FullDiffReport} (schemas/diff.schema.json): `{schemaVersion: 1, ok, changed, cluster, fromSource, from: {label, commit?}, to: {label,
 * commit?}, kustomizations: [{id, status, prune, skipped?}], objects: [{action:
 * "added"|"changed"|"pruned"|"orphaned"|"moved", kustomization, object, kind, namespace?, name, diff,
 * secretKeys?: [{key, change}], movedTo?}], errors: [{kustomization, object?, message}], warnings, builds: {run, cached}, hosts: [{host, status, commit?, overrideUrl?,
 * currentSystem?, newSystem?, packages: [{name, from[], to[], sizeKiB?}], sizeDeltaBytes, units: {added, removed, changed},
 * message?, exitCode?}]}`.
 * Exit 1 when there is any error (also without --exit-code); 2 when a host is unreachable or its key refused;
 * with --exit-code, 1 when anything differs (cluster or host).
 */
export default class Diff extends HomelabCommand {
  static override summary = 'Show what a change does to the cluster (every Flux Kustomization built at two revisions, offline) and to each host (its system built on the host, nothing changed).'

  static override description = `Builds the cluster folder (homelab.yaml cluster.path) the way Flux builds it, at two revisions, and compares them object by object. Every Flux Kustomization is built with kubectl kustomize, following Kustomizations that other Kustomizations create, with spec.path, targetNamespace, namePrefix/nameSuffix, patches, images, components and postBuild substitute/substituteFrom (ConfigMaps and Secrets of the tree; \${var}, \${var:=default}, $\${var}; the kustomize.toolkit.fluxcd.io/substitute: disabled annotation).

The old side is --from; without it, what Flux last applied (status.lastAppliedRevision of the root Kustomization flux-system/flux-system, read with k3s kubectl on the k3s server host), or with --offline the remote branch (homelab.yaml git.remote/git.branch, e.g. origin/main as last fetched), else HEAD. The new side is the working tree, or --to. Revisions are read with git archive into temp folders: your working tree is never changed.

Host side (each host of --host/--on, default all; skipped with --offline): over SSH, root builds the host's system from the commit deploy would push (HEAD, or --to) with nixos-rebuild build --flake <flakeDir>#<host> --override-input <flakeInput> <the input's URL at that commit> --no-write-lock-file, in a temp folder: the host's flake.lock, profiles and running system are not touched. The commit must be on the remote branch already (root on the host asks the remote, like deploy's fetch check); when it is not, that host part is skipped with one line (push first, or give --to a pushed commit). Then nix store diff-closures against /run/current-system (package version changes), nix path-info -S (closure size change) and the unit files under etc/systemd/system of both systems: units added, removed, and changed (the unit file or a drop-in is another store path: the activation restarts or reloads it).

The report groups by Flux Kustomization, then Kind/namespace/name: deletions first (pruned when the Kustomization has prune: true, orphaned — left in the cluster — when not), then added and changed objects with a unified YAML diff (status and Flux's own labels/annotations left out). SOPS-encrypted values are decrypted in memory with your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt) and only compared: a Secret shows key names and "value changed", never a value.

Builds are cached: each successful kubectl kustomize output is kept in $XDG_CACHE_HOME/homelab/kustomize-builds (default ~/.cache/homelab/kustomize-builds; at most 64 MiB, oldest dropped first), keyed by the content of every file the build reads, the Kustomization's fields and the kubectl binary, so the old side and every unchanged Kustomization are read back instead of built again. What is kept is kubectl's output before post-build substitution: values of substituteFrom Secrets are never written (SOPS Secrets stay encrypted, as in the repository), and an output holding a Secret that is not SOPS-encrypted (a secretGenerator) is not kept. A folder that is a symlink or another user's is not used; a kubectl that is a script (an asdf/mise shim) is told apart by its kubectl version --client. --no-cache neither reads nor writes it; rm -rf ~/.cache/homelab/kustomize-builds clears it. homelab deploy's report uses the same cache.

A change Kubernetes refuses or that deletes storage is an error line and exits 1: a PersistentVolume or PersistentVolumeClaim pruned; a claim shrunk; a claim's storageClassName, volumeName or accessModes, a volume's capacity (down), hostPath, storageClassName, claimRef or accessModes changed; a Deployment or StatefulSet selector, a StatefulSet's volumeClaimTemplates or serviceName changed. A Kustomization that does not build is an error too.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'What the cluster gets against what Flux last applied, and what each host gets from HEAD.'},
    {command: '<%= config.bin %> <%= command.id %> --offline', description: 'Cluster only, no connection: the remote branch against the working tree.'},
    {command: '<%= config.bin %> <%= command.id %> --on @storage --json', description: 'The hosts tagged storage, and the cluster, as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> --from origin/main --to HEAD', description: 'What pushing your commits does, Flux tracking origin/main.'},
    {command: '<%= config.bin %> <%= command.id %> --from HEAD~1 --to HEAD --json', description: 'The last commit\'s change as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> --name-only --exit-code', description: 'Only the objects that change; exit 1 when any does (like git diff --exit-code).'},
    {command: '<%= config.bin %> <%= command.id %> --offline --no-cache', description: 'Build everything afresh: earlier builds in ~/.cache/homelab/kustomize-builds are neither read nor added to.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    from: Flags.string({description: 'old revision of the cluster side (commit, branch, tag); default: what Flux last applied (offline: <remote>/<branch>, else HEAD)'}),
    to: Flags.string({description: 'new revision; default: the working tree on disk (cluster) and HEAD (hosts)'}),
    offline: Flags.boolean({description: 'never connect to a host: cluster side only, host parts skipped', default: false}),
    host: Flags.string({description: 'build only this host (name in homelab.yaml; default: all)'}),
    'sudo-password-stdin': Flags.boolean({description: 'read the sudo password from the first line of stdin (else HOMELAB_SUDO_PASSWORD or a prompt)', default: false}),
    on: Flags.string({description: 'hosts to build, colmena-style: names, globs and @tags, comma-separated'}),
    ...connectionFlags,
    'exit-code': Flags.boolean({description: 'exit 1 when anything differs (like git diff --exit-code)', default: false}),
    'name-only': Flags.boolean({description: 'print only KUSTOMIZATION<TAB>Kind/namespace/name of each object that changes', default: false, exclusive: ['json']}),
    cache: Flags.boolean({description: 'reuse kubectl kustomize outputs of earlier runs from ~/.cache/homelab/kustomize-builds (--no-cache: neither read nor write it)', default: true, allowNo: true}),
  }

  async run(): Promise<FullDiffReport> {
    const {flags} = await this.parse(Diff)
    const homelab = await this.homelab(flags.repo)
    const {selectHosts} = await import('../lib/config/hosts.js')
    const hosts = selectHosts(homelab, {host: flags.host, on: flags.on})
    // Only what the cluster side needs is loaded up front; the SSH side when a host is opened.
    // The renderer loads while the diff waits for git and kubectl.
    const renderer = this.jsonEnabled() ? undefined : import('../ui/diff.js')
    renderer?.catch(() => {})
    // The identities (the age library, the key files) load once kubectl runs (diffCluster calls this).
    const identities = async () => (await import('../lib/age/identities.js')).loadIdentities({env: process.env, homeDir: os.homedir()})
    const {defaultBuildCacheDir, diffAll} = await import('../lib/diff/report.js')
    const connection = this.hostConnectionOptions(flags)
    let stdinPassword: string | undefined
    if (flags['sudo-password-stdin']) {
      const {readStdinLine} = await import('../ui/deploy-callbacks.js')
      stdinPassword = await readStdinLine(process.stdin)
    }

    const open = async (host: HostConfig) => {
      const {connectionPrompts, openHostConnection} = await import('../ui/host-connection.js')
      if (stdinPassword === undefined) return openHostConnection({...connection, homelab, host})
      const {connectHost} = await import('../lib/ssh/index.js')
      const prompts = connectionPrompts({canPrompt: connection.canPrompt, env: process.env, stdinFlag: '--sudo-password-stdin', stdinPassword})
      return connectHost({...prompts, ...connection.settings, env: process.env, homelab, host})
    }

    const report = await diffAll({
      buildCache: flags.cache ? defaultBuildCacheDir(process.env) : undefined,
      from: flags.from,
      homelab,
      hosts,
      identities,
      offline: flags.offline,
      open,
      path: process.env.PATH,
      to: flags.to,
    })
    if (!this.jsonEnabled()) {
      const {renderFullReport: renderDiffReport, renderNameOnly} = await renderer!
      if (flags['name-only']) {
        const text = renderNameOnly(report)
        if (text) this.log(text)
        const c = colors(process.stderr)
        for (const e of report.errors) process.stderr.write(`${c.red('error:')} Kustomization ${e.kustomization}: ${e.message}\n`)
      } else this.log(renderDiffReport(report, colors()))
    }

    if (!report.ok || (flags['exit-code'] && report.changed)) process.exitCode = 1
    if (report.hosts.some((h) => h.exitCode === 2)) process.exitCode = 2
    return report
  }
}
