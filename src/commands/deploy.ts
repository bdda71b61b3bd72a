import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags, connectionSettings} from '../connection-flags.js'
import type {DeployHostResult, PlannedStep, PreflightResult, RebuildAction} from '../lib/deploy/index.js'
import {UsageError} from '../lib/errors.js'
import {colors} from '../ui/color.js'
import type {FluxWaitResult} from '../ui/flux-wait.js'

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
}

export default class Deploy extends HomelabCommand {
  static override summary = 'Push the branch, update the host flake input and run nixos-rebuild over one SSH connection, with rollback.'

  static override description = `Steps, each timed and shown live:
  1. preflight (here): the repository validates, the tracked tree is clean (--allow-dirty; host keys just pinned into known_hosts do not count), HEAD is on the configured branch
  2. connect to every host (host key pinned in known_hosts) and take its lock (flock under /run/lock; a second deploy fails at once naming the holder), then check as root that the host can fetch its flake input (git ls-remote of the input's URL and branch from its flake.lock, the way Nix's fetcher will; nix flake metadata --refresh for github:/gitlab: inputs): when it cannot, one line names the remote, ssh's or git's reason and what to set up (the deploy key's public half, computed on the host, or the host secret git/access_tokens); only then push the branch (--no-push: verify the remote has it), so an unreachable host, or one that cannot fetch, means nothing was pushed
  3. as root: check the input's branch head is now the pushed commit, update the flake input (only that input) (nix flake update <input> on Nix >= 2.19, nix flake lock --update-input <input> before), check flake.lock pins the pushed commit
  4. nixos-rebuild build, show nix store diff-closures against the running system, ask (--yes skips), then nixos-rebuild <action> detached on the host (systemd-run, or setsid when there is no systemd) while its output is followed; any failure from here puts the previous flake.lock back
  5. switch: a magic rollback is armed first; a NEW connection confirms the host answers and runs the pushed commit, else the host switches back after --confirm-timeout seconds
  6. report the old and new generation, the pinned commit and every step's time
  7. with --wait: on a new connection, request the GitRepository's reconciliation and wait until it serves the pushed commit and every Kustomization's lastAppliedRevision is it (Ready), showing the pending objects live; --wait-timeout bounds it
Several hosts run in parallel, each line prefixed by its host, with a summary table.
The sudo password (asked once, only when \`sudo -n true\` says one is needed) comes from --sudo-password-stdin, HOMELAB_SUDO_PASSWORD or a hidden prompt; it is sent to sudo on stdin only.
Exit status: 0 done, 1 a step failed, 2 host unreachable or host key refused, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Deploy the pushed branch to every host, asking before activating.'},
    {command: '<%= config.bin %> <%= command.id %> --host azalab-0 --yes', description: 'One host, no questions (CI).'},
    {command: '<%= config.bin %> <%= command.id %> --dry-run', description: 'Print every step and remote command; contact nothing.'},
    {command: 'echo "$SUDO_PW" | <%= config.bin %> <%= command.id %> --yes --sudo-password-stdin --json', description: 'Non-interactive, sudo password on stdin, JSON report.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'deploy only this host (name in homelab.yaml; default: all, in parallel)'}),
    action: Flags.string({description: 'what nixos-rebuild does after the build', options: ['switch', 'boot', 'test', 'dry-activate'], default: 'switch'}),
    yes: Flags.boolean({char: 'y', description: 'activate without asking (needed without a terminal)', default: false}),
    'dry-run': Flags.boolean({description: 'print every step and remote command; contact nothing', default: false}),
    'allow-dirty': Flags.boolean({description: 'deploy even with uncommitted changes (the pushed commit is what deploys)', default: false}),
    validate: Flags.boolean({description: 'run the validate checks first (--no-validate: skip them, e.g. right after homelab validate)', default: true, allowNo: true}),
    push: Flags.boolean({description: 'push the branch first (--no-push: only verify the remote has HEAD)', default: true, allowNo: true}),
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
    if (!flags['dry-run'] && !flags.yes && !this.canPrompt())
      throw new UsageError('--yes is required when not running in a terminal (deploy asks before activating)')
    const waitMs = flags.wait ? (await import('../lib/flux/duration.js')).parseDuration(flags['wait-timeout'], '--wait-timeout') : 0
    const homelab = await this.homelab(flags.repo)
    const deploy = await import('../lib/deploy/index.js')
    const ui = await import('../ui/deploy.js')
    const hosts = deploy.selectHosts(homelab, {host: flags.host})
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
      onEvent: (e) => {
        const line = ui.renderEvent(e, c, width)
        if (line !== undefined) out(line)
      },
      async publish() {
        const pushStarted = performance.now()
        await deploy.publish({env: process.env, homelab, pre, push: flags.push})
        out(ui.renderPush(pre, homelab.config.git.remote, c, Math.round(performance.now() - pushStarted)))
      },
    })
    for (const r of results) out(ui.renderHostReport(r, c))
    if (results.length > 1) out(`\n${ui.renderSummary(results, c)}`)
    const result = {...base, hosts: results, pushed: pre.pushed}
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
