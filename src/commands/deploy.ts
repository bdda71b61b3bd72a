import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags, connectionSettings} from '../connection-flags.js'
import type {DeployHostResult, PlannedStep, PreflightResult, RebuildAction} from '../lib/deploy/index.js'
import {HomelabError, UsageError} from '../lib/errors.js'
import {signalExitCode} from '../lib/signal-exit.js'
import {colors} from '../ui/color.js'
import type {FluxWaitResult} from '../ui/flux-wait.js'
import type {DiffReport} from '../lib/diff/index.js'
import type {FullDiffReport} from '../lib/diff/report.js'

/**
 * `homelab deploy --json` output. `hosts[]` is one {@link DeployHostResult} per host:
 * `{host, ok, action, previousGeneration, generation, previousSystem, newSystem, changed,
 * fetchCheck{source (the input's URL from flake.lock), head (its branch head before the push)},
 * pinnedRev, configurationRevision, nixVersion, flakeUpdateCommand, closureChanges[{name, from[],
 * to[], sizeKiB, line}], activation: "setsid"|"systemd-run"|"none", magicRollback, connections,
 * steps[{step, ms, ok}], error?{step, message (without the host name), lastLines[],
 * stillOnPreviousGeneration (only when read), changedNothing, notStarted (locked, but stopped
 * before the push because another host failed), flakeLockRestored, exitCode}}`. `pushed` and
 * `preflight.pushed` are false when the run stopped before the push. `preflight.pinnedHostKeys`
 * lists host keys added to known_hosts and not committed yet. With --dry-run, `plan` lists every step's commands instead.
 * With --wait, `flux` is {@link FluxWaitResult}: `{converged, commit, elapsedMs, items[{kind,
 * namespace, name, state: "done"|"pending"|"failed", detail}], message?}` (exit 1 when not converged).
 */
export interface DeployResult {
  commit: string
  branch: string
  pushed: boolean
  dryRun: boolean
  action: RebuildAction
  preflight: PreflightResult
  hosts: DeployHostResult[]
  plan?: Record<string, PlannedStep[]>
  /** With --wait: whether Flux applied the pushed commit. */
  flux?: FluxWaitResult
  /**
   * The cluster half of the `homelab diff` report shown before the person is asked (not with --yes):
   * `<remote>/<branch>` (what Flux tracks) against the deployed commit, built offline; absent when not built.
   */
  cluster?: DiffReport
  /** With --diff-only: the whole `homelab diff --to <commit>` report (schemas/diff.schema.json); nothing was pushed or changed. */
  diff?: FullDiffReport
}

export default class Deploy extends HomelabCommand {
  static override summary = 'Push the branch, update the host flake input and run nixos-rebuild over one SSH connection, with rollback.'

  static override description = `Steps, each timed and shown live:
  1. preflight (here): the repository validates, the tracked tree is clean (--allow-dirty; host keys just pinned into known_hosts do not count), HEAD is on the configured branch
  2. connect to every host (host key pinned in known_hosts) and take its lock (flock under /run/lock; a second deploy fails at once naming the holder), then check as root that the host can fetch its flake input (git ls-remote of the input's URL and branch from its flake.lock, the way Nix's fetcher will; nix flake metadata --refresh for github:/gitlab: inputs): when it cannot, one line names the remote, ssh's or git's reason and what to set up (the deploy key's public half, computed on the host, or the host secret git/access_tokens); only then push the branch (--no-push: verify the remote has it), so an unreachable host, or one that cannot fetch, means nothing was pushed
  3. as root: check the input's branch head is now the pushed commit, update the flake input (only that input) (nix flake update <input> on Nix >= 2.19, nix flake lock --update-input <input> before), check flake.lock pins the pushed commit
  4. nixos-rebuild build, show nix store diff-closures against the running system, ask (--yes skips), then nixos-rebuild <action> detached on the host (systemd-run, or setsid when there is no systemd) while its output is followed; any failure from here puts the previous flake.lock back
  5. switch: a magic rollback is armed first; a NEW connection confirms the host answers and runs the pushed commit, else the host switches back after --confirm-timeout seconds
  Before it asks (4.), the host's part of the homelab diff report is shown: package version changes, closure size change, systemd units added, removed and changed; without --yes, the cluster part (<remote>/<branch> against the commit, built offline) is shown after the preflight. --diff-only shows the whole homelab diff report for the commit (host systems built with --override-input and --no-write-lock-file) and stops: nothing is pushed, no flake.lock or profile changes. Both use homelab diff's kustomize build cache (~/.cache/homelab/kustomize-builds; see homelab diff --help).
  6. report the old and new generation, the pinned commit and every step's time
  7. with --wait: on a new connection, request the GitRepository's reconciliation and wait until it serves the pushed commit and every Kustomization's lastAppliedRevision is it (Ready), showing the pending objects live; --wait-timeout bounds it
Several hosts build in parallel (each line prefixed by its host), then activate in order: the k3s server first, then the agents, at most --max-unavailable at a time. After each host's switch a health gate (k3s.service active, the node Ready on the server, its kubelet's Lease renewed since k3s last started, and for the server the API's /readyz) must pass before its magic rollback is cancelled; a host failing it switches back at once and the hosts not yet activated are left on their previous generation (flake.lock put back). Gates run by default when more than one host deploys (--gate / --no-gate). An agent whose switch restarts k3s is cordoned on the server first (--drain drains it) and uncordoned after its gate. A summary table says per host: ok, rolled back (gate failed), failed at a step, or not started. Ctrl-C releases the hosts still waiting (previous flake.lock back) and lets the ones activating finish, then exits 130; a second Ctrl-C exits at once.
The sudo password (asked once, only when \`sudo -n true\` says one is needed) comes from --sudo-password-stdin, HOMELAB_SUDO_PASSWORD or a hidden prompt; it is sent to sudo on stdin only.
Exit status: 0 done, 1 a step failed, 2 host unreachable or host key refused, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Deploy the pushed branch to every host, asking before activating.'},
    {command: '<%= config.bin %> <%= command.id %> --host azalab-0 --yes', description: 'One host, no questions (CI).'},
    {command: '<%= config.bin %> <%= command.id %> --dry-run', description: 'Print every step and remote command; contact nothing.'},
    {command: '<%= config.bin %> <%= command.id %> --yes --max-unavailable 2 --drain', description: 'Server first, then two agents at a time, each drained before its switch.'},
    {command: '<%= config.bin %> <%= command.id %> --diff-only', description: 'Show what the deploy would change on the cluster and each host (homelab diff), then stop: nothing pushed or activated.'},
    {command: 'echo "$SUDO_PW" | <%= config.bin %> <%= command.id %> --yes --sudo-password-stdin --json', description: 'Non-interactive, sudo password on stdin, JSON report.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'deploy only this host (name in homelab.yaml; default: all)', exclusive: ['on']}),
    on: Flags.string({description: 'deploy these hosts: names, * globs and @tags from homelab.yaml, comma-separated (e.g. @agents,azalab-0)', exclusive: ['host']}),
    action: Flags.string({description: 'what nixos-rebuild does after the build', options: ['switch', 'boot', 'test', 'dry-activate'], default: 'switch'}),
    yes: Flags.boolean({char: 'y', description: 'activate without asking (needed without a terminal)', default: false}),
    'dry-run': Flags.boolean({description: 'print every step and remote command; contact nothing', default: false}),
    'diff-only': Flags.boolean({description: 'show the homelab diff report (cluster and hosts) for the commit and stop: no push, no flake.lock or profile change', default: false, exclusive: ['dry-run']}),
    cache: Flags.boolean({description: 'reuse kubectl kustomize outputs of earlier runs for the diff report (~/.cache/homelab/kustomize-builds; --no-cache: neither read nor write it)', default: true, allowNo: true}),
    'allow-dirty': Flags.boolean({description: 'deploy even with uncommitted changes (the pushed commit is what deploys)', default: false}),
    validate: Flags.boolean({description: 'run the validate checks first (--no-validate: skip them, e.g. right after homelab validate)', default: true, allowNo: true}),
    push: Flags.boolean({description: 'push the branch first (--no-push: only verify the remote has HEAD)', default: true, allowNo: true}),
    'max-unavailable': Flags.integer({description: 'agents activated at the same time (the server always goes first, alone)', default: 1, min: 1}),
    drain: Flags.boolean({description: 'drain an agent (kubectl drain) instead of cordoning it when its switch restarts k3s', default: false}),
    gate: Flags.boolean({description: 'run the health gate after each host (default: when more than one host deploys)', allowNo: true}),
    'gate-timeout': Flags.string({description: 'how long each health gate waits for k3s and the node, e.g. 2m', default: '2m'}),
    'confirm-timeout': Flags.integer({description: 'seconds the host waits for the confirmation before rolling back (switch)', default: 60, min: 5}),
    'sudo-password-stdin': Flags.boolean({description: 'read the sudo password from the first line of stdin', default: false}),
    wait: Flags.boolean({description: 'then wait until Flux applied the pushed commit (every Kustomization Ready at it)', default: false}),
    'wait-timeout': Flags.string({description: 'how long --wait waits, e.g. 90s, 5m', default: '5m'}),
    ...connectionFlags,
  }

  async run(): Promise<DeployResult> {
    const {flags} = await this.parse(Deploy)
    const c = colors()
    const out = (line: string) => !this.jsonEnabled() && this.log(line)
    const action = flags.action as RebuildAction
    if (!flags['dry-run'] && !flags['diff-only'] && !flags.yes && !this.canPrompt())
      throw new UsageError('--yes is required when not running in a terminal (deploy asks before activating)')
    const gateTimeoutSeconds = Math.ceil((await import('../lib/flux/duration.js')).parseDuration(flags['gate-timeout'], '--gate-timeout') / 1000)
    const waitMs = flags.wait ? (await import('../lib/flux/duration.js')).parseDuration(flags['wait-timeout'], '--wait-timeout') : 0
    const homelab = await this.homelab(flags.repo)
    const deploy = await import('../lib/deploy/index.js')
    const ui = await import('../ui/deploy.js')
    const hosts = deploy.selectHosts(homelab, {host: flags.host, on: flags.on})
    const holder = deploy.lockHolder(process.env)

    const started = performance.now()
    // Local checks first; the push waits until every host is connected and locked (deployHosts' publish).
    const pre = await deploy.preflight({allowDirty: flags['allow-dirty'], env: process.env, homelab, validate: flags.validate})
    out(ui.renderPreflight(pre, c, Math.round(performance.now() - started)))
    const base = {action, branch: pre.branch, commit: pre.commit, dryRun: flags['dry-run'], preflight: pre}

    if (flags['dry-run']) {
      const plan: NonNullable<DeployResult['plan']> = {}
      out(`dry run: ${action} of ${pre.commit.slice(0, 12)} (${pre.branch}); nothing is contacted. Would ${flags.push ? 'push' : 'verify'} ${homelab.config.git.remote} ${pre.branch} once every host below is connected and locked, then run the rest:`)
      for (const host of hosts) {
        plan[host.name] = deploy.planHost({action, confirmTimeoutSeconds: flags['confirm-timeout'], holder, host})
        out(ui.renderPlan(host.name, plan[host.name], c))
      }

      return {...base, hosts: [], plan, pushed: false}
    }

    const {deployCallbacks, readStdinLine} = await import('../ui/deploy-callbacks.js')
    const stdinPassword = flags['sudo-password-stdin'] ? await readStdinLine(process.stdin) : undefined
    const width = hosts.length > 1 ? Math.max(...hosts.map((h) => h.name.length)) : 0
    const callbacks = deployCallbacks({canPrompt: this.canPrompt(), env: process.env, stdinPassword, yes: flags.yes})
    const diffUi = await import('../ui/diff.js')
    // The kustomize build cache of the diff report (--no-cache: none).
    const buildCache = async () => (flags.cache ? (await import('../lib/diff/build-cache.js')).defaultBuildCacheDir(process.env) : undefined)
    const loadIdentities = async () => (await import('../lib/sops/index.js')).loadIdentities({env: process.env, homeDir: (await import('node:os')).homedir()})
    if (flags['diff-only']) {
      const {diffAll} = await import('../lib/diff/report.js')
      const {connectHost} = await import('../lib/ssh/index.js')
      const {askHostKey, askPassphrase, askSudoPassword} = callbacks
      const diff = await diffAll({
        buildCache: await buildCache(),
        homelab,
        hosts,
        identities: await loadIdentities(),
        offline: false,
        open: (host) => connectHost({...connectionSettings(flags), askHostKey, askPassphrase, askSudoPassword, env: process.env, homelab, host}),
        path: process.env.PATH,
        to: pre.commit,
      })
      out(diffUi.renderFullReport(diff, c))
      out(`diff only: nothing was pushed, no host was changed (homelab deploy without --diff-only activates ${pre.commit.slice(0, 12)})`)
      if (!diff.ok) process.exitCode = diff.hosts.some((h) => h.exitCode === 2) ? 2 : 1
      return {...base, diff, hosts: [], pushed: false}
    }

    // The cluster half of the report, for the person who is asked to activate (not with --yes):
    // what Flux tracks against the commit, offline (a failure is a warning).
    let cluster: DiffReport | undefined
    if (!flags.yes) {
      try {
        const {diffCluster} = await import('../lib/diff/index.js')
        const {remote, branch} = homelab.config.git
        const {execa} = await import('execa')
        const tracking = await execa('git', ['rev-parse', '--verify', '--quiet', `refs/remotes/${remote}/${branch}^{commit}`], {cwd: homelab.root, reject: false})
        const from = tracking.exitCode === 0 ? `${remote}/${branch}` : pre.commit
        cluster = await diffCluster({buildCache: await buildCache(), clusterPath: homelab.config.cluster.path, from, identities: await loadIdentities(), path: process.env.PATH, root: homelab.root, to: pre.commit})
        out(diffUi.renderDiffReport(cluster, c))
      } catch (error) {
        out(`${c.yellow('warning:')} the cluster part of the diff could not be built: ${(error as Error).message}`)
      }
    }

    let interrupted: NodeJS.Signals | undefined
    const results = await deploy.deployHosts({
      ...callbacks,
      ...connectionSettings(flags),
      action,
      commit: pre.commit,
      confirmTimeoutSeconds: flags['confirm-timeout'],
      env: process.env,
      holder,
      homelab,
      hosts,
      rollout: {drain: flags.drain, gate: flags.gate ?? hosts.length > 1, gateTimeoutSeconds, maxUnavailable: flags['max-unavailable']},
      onEvent: (e) => {
        const line = ui.renderEvent(e, c, width)
        if (line !== undefined) out(line)
      },
      onInterrupted: (info) => {
        if (!info.final) {
          interrupted = info.signal
          process.stderr.write(`${ui.interruptedRolloutMessage(info)}\n`)
          return
        }

        this.exitNow(new HomelabError(ui.interruptedRolloutMessage(info), {exitCode: signalExitCode(info.signal)}))
      },
      async publish() {
        const pushStarted = performance.now()
        await deploy.publish({env: process.env, homelab, pre, push: flags.push})
        out(ui.renderPush(pre, homelab.config.git.remote, c, Math.round(performance.now() - pushStarted)))
      },
    })
    for (const r of results) out(ui.renderHostReport(r, c))
    if (results.length > 1) out(`\n${ui.renderSummary(results, c)}`)
    const result = {...base, cluster, hosts: results, pushed: pre.pushed}
    if (interrupted) throw Object.assign(new HomelabError(ui.interruptedOutcome(interrupted, results), {exitCode: signalExitCode(interrupted)}), {result})
    ui.failIfAny(results, result)
    if (flags.wait) {
      const {renderFluxWait, waitForFlux} = await import('../ui/flux-wait.js')
      const flux = await waitForFlux({callbacks, commit: pre.commit, connectTimeoutSeconds: flags['connect-timeout'], env: process.env, homelab, host: hosts[0], live: !this.jsonEnabled() && Boolean(process.stderr.isTTY), timeoutMs: waitMs})
      out(renderFluxWait(flux))
      if (!flux.converged) process.exitCode = 1
      return {...result, flux}
    }

    return result
  }
}
