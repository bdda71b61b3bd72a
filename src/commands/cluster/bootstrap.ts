import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {BootstrapStep, DeployKeyReport} from '../../lib/cluster/bootstrap/index.js'
import {HomelabError, UsageError} from '../../lib/errors.js'
import {parseDuration} from '../../lib/flux/duration.js'
import {colors} from '../../ui/color.js'
import type {FluxWaitResult} from '../../ui/flux-wait.js'
import {pickHost} from '../../lib/config/hosts.js'

/**
 * `homelab cluster bootstrap --json`: `{host, url, branch, commit (the branch head waited for),
 * flux{version, via: "path"|"nix-run"}, steps[{step: "flux"|"deploy-key"|"sops-age"|"sync",
 * result: "created"|"updated"|"unchanged", detail, ms}], changed (any step not unchanged),
 * deployKey{publicKey, source: "generated"|"given"|"kept", addAt}, wait?: FluxWaitResult
 * ({converged, commit, elapsedMs, items[{kind, namespace, name, state, detail}], message?})}`.
 * Exit 1 when Flux did not converge.
 */
export interface ClusterBootstrapResult {
  host: string
  url: string
  branch: string
  commit: string
  flux: {version: string; via: 'nix-run' | 'path'}
  steps: BootstrapStep[]
  changed: boolean
  deployKey: DeployKeyReport & {addAt: string}
  wait?: FluxWaitResult
}

export default class ClusterBootstrap extends HomelabCommand {
  static override summary = 'Install Flux on the k3s server and point it at this repository: deploy key, sops-age Secret, sync objects, then wait.'

  static override description = `Run once after the first deploy (and again at any time: a run that finds everything in place changes nothing and says so). Over one SSH connection, as root on the host (KUBECONFIG=/etc/rancher/k3s/k3s.yaml):
  1. Flux: \`flux install\` unless the controllers already run the version of the host's \`flux\` (root's PATH, from the host's nixpkgs; else \`nix run --inputs-from <flakeDir> nixpkgs#fluxcd\`); \`flux check --pre\` first
  2. deploy key: the Secret flux-system/flux-system (identity, identity.pub, known_hosts). The key is generated on the host (the private half never leaves it) or taken from --deploy-key-file (sent on stdin); known_hosts are the forge's keys pinned in the git access file (homelab.yaml git.hostAccess), never scanned. The public half is printed with where to add it (read-only deploy key)
  3. sops-age: the Secret flux-system/sops-age (key age.agekey) made on the host from its own /var/lib/sops-nix/key.txt, so the age identity never travels
  4. sync: the GitRepository and root Kustomization committed in <cluster.path>/flux-system-sync.yaml at the remote branch head, applied (their URL and branch must match the git remote and homelab.yaml git.branch)
  5. wait (--no-wait skips): until the GitRepository serves the branch head and every Kustomization is Ready at it, with the same live view as \`deploy --wait\`
Each step compares first (versions, SHA-256 sums of Secret values on the host, kubectl's own apply result) and reports created, updated or unchanged. A deploy-key Secret holding another key than --deploy-key-file is replaced only after a yes (or with --force).
Exit status: 0 done, 1 a step failed or Flux did not converge, 2 host unreachable, 3 usage (or replacing the deploy key refused).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'First time: install Flux, make the deploy key on the host and print it, wait for the cluster.'},
    {command: '<%= config.bin %> <%= command.id %> --deploy-key-file ~/.ssh/flux-homelab', description: 'Use a deploy key you already added to the repository (sent to the host on stdin).'},
    {command: '<%= config.bin %> <%= command.id %> --json --timeout 15m', description: 'Non-interactive, each step created/updated/unchanged as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'the host running the k3s server (name in homelab.yaml; default: the first)'}),
    'deploy-key-file': Flags.file({description: 'unencrypted private SSH key Flux fetches the repository with (default: keep the one in the cluster, or generate one on the host)'}),
    force: Flags.boolean({description: 'replace a different deploy key in the cluster with --deploy-key-file without asking', default: false}),
    wait: Flags.boolean({description: 'wait until every Kustomization is Ready at the branch head (--no-wait: return after applying)', default: true, allowNo: true}),
    timeout: Flags.string({description: 'how long to wait for Flux, e.g. 90s, 10m', default: '10m'}),
    ...connectionFlags,
  }

  async run(): Promise<ClusterBootstrapResult> {
    const {flags} = await this.parse(ClusterBootstrap)
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    if (flags.force && !flags['deploy-key-file']) throw new UsageError('--force only applies with --deploy-key-file')
    const homelab = await this.homelab(flags.repo)
    const host = pickHost(homelab, flags.host)
    const [lib, {loadGitAccess}, ui, {openHostConnection}] = await Promise.all([
      import('../../lib/cluster/bootstrap/index.js'),
      import('../../lib/config/git-access.js'),
      import('../../ui/cluster-bootstrap.js'),
      import('../../ui/host-connection.js'),
    ])
    const c = colors()
    const out = (line: string) => !this.jsonEnabled() && this.log(line)

    // Everything local first: a wrong URL, branch or key file fails before the host is contacted.
    const access = await loadGitAccess(homelab)
    const source = await lib.readBootstrapSource(homelab, process.env)
    if (access.forge !== source.forge.host)
      throw new HomelabError(`${access.file}: forge is ${access.forge}, but the git remote is on ${source.forge.host}: the pinned host keys would not match`, {suggestions: [`set "forge": "${source.forge.host}" and its forgeHostKeys`]})
    if (access.forgeHostKeys.length === 0)
      throw new HomelabError(`${access.file}: forgeHostKeys is empty: Flux needs ${access.forge}'s SSH host keys for known_hosts`, {
        suggestions: ['copy them from the forge\'s published fingerprints page (GitHub: docs.github.com, "GitHub\'s SSH key fingerprints")'],
      })
    const deployKey = flags['deploy-key-file'] ? await lib.readDeployKeyFile(flags['deploy-key-file'], process.cwd()) : undefined
    out(`Bootstrapping Flux on ${host.name}: ${source.url} ${source.branch} at ${source.head.slice(0, 7)}`)

    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const canPrompt = this.canPrompt()
      const done = await lib.bootstrapCluster({
        async confirmReplace(current) {
          if (!canPrompt) return false
          const {confirm} = await import('@inquirer/prompts')
          return confirm({default: false, message: `The cluster's deploy key is ${current}. Replace it with --deploy-key-file?`})
        },
        connection,
        deployKey,
        force: flags.force,
        forgeHostKeys: access.forgeHostKeys,
        homelab,
        host,
        onStep: (step) => out(ui.renderStep(step, c)),
        source,
      })
      const page = lib.deployKeyPage(source.forge.host, source.forge.path)
      const keyStep = done.steps.find((s) => s.step === 'deploy-key')!
      out(ui.renderDeployKey(done.deployKey, keyStep.result !== 'unchanged', page, c))
      const changed = done.steps.some((s) => s.result !== 'unchanged')
      const result: ClusterBootstrapResult = {
        branch: source.branch,
        changed,
        commit: source.head,
        deployKey: {...done.deployKey, addAt: page},
        flux: done.flux,
        host: host.name,
        steps: done.steps,
        url: source.url,
      }
      out(changed ? 'Bootstrap applied the changes above.' : c.dim('Nothing changed: Flux, the deploy key, sops-age and the sync objects were already in place.'))
      if (flags.wait) {
        const {renderFluxWait, waitForFlux} = await import('../../ui/flux-wait.js')
        result.wait = await waitForFlux({
          callbacks: {},
          commit: source.head,
          connection,
          env: process.env,
          homelab,
          host,
          live: !this.jsonEnabled() && Boolean(process.stderr.isTTY), // progress on a terminal only (issue 17)
          timeoutMs,
        })
        out(renderFluxWait(result.wait))
        if (!result.wait.converged) process.exitCode = 1
      }

      return result
    } finally {
      await connection.close()
    }
  }
}
