import {randomBytes} from 'node:crypto'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {HomelabError} from '../errors.js'
import {connectHost, type ExecResult, type HostConnection, parseSshSpec, pinnedKeyMessage, type RemoteProcess} from '../ssh/index.js'
import {loadGitAccess} from '../config/git-access.js'
import {RemoteTimeoutError} from '../ssh/errors.js'
import {DEPLOY_KEY_PUBLIC_COMMAND, fetchCheckCommand, fetchFailureMessage, type FetchCheckOutcome, headMismatchMessage, type InputSource, methodForSource, parseFetchCheck, readInputSource} from './fetch-check.js'
import {currentGeneration, flakeUpdateCommand, type Generation, parseDiffClosures, parseGenerations, parseNixVersion, readFlakePin} from './nix.js'
import {
  buildCommand,
  cancelDetached,
  CURRENT_SYSTEM,
  DETECT_SYSTEMD,
  type DetachMode,
  dropLockBackup,
  EXIT_MARKER,
  flakeUpdateAsRoot,
  followCommand,
  LOCK_BUSY_EXIT,
  lockCommand,
  lockHolderCommand,
  lockPath,
  type EarlierRollback,
  parsePendingRollbacks,
  PENDING_ROLLBACKS,
  rebuildCommand,
  readFlakeLockCommand,
  restoreFlakeLock,
  RESULT_MARKER,
  rollbackScript,
  startDetached,
  switchGenerationCommand,
  STATE_DIR,
} from './remote.js'
import {compareSystems, type SystemChange} from '../diff/host.js'
import type {DeployCallbacks, DeployFailure, DeployHostResult, DeployStepName, RebuildAction, StepTiming} from './types.js'

/** A deploy step failed; carries where and the last remote lines. */
export class DeployStepError extends HomelabError {
  constructor(
    readonly step: DeployStepName,
    message: string,
    readonly lastLines: string[] = [],
    options: {exitCode?: number; suggestions?: string[]; cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

/**
 * Hooks of an ordered rollout into one host's activation (src/lib/deploy/rollout.ts).
 * `beforeActivate` runs before the switch (cordon or drain the node; throws to stop);
 * `gate` runs on the confirmation connection before the rollback timer is cancelled and returns
 * a one-line detail, or throws with the reason the host is not healthy.
 */
export interface ActivationHooks {
  beforeActivate?(conn: HostConnection): Promise<void>
  gate?(conn: HostConnection): Promise<string>
  /**
   * Seconds the gate may take at most: once the confirmation matched, the magic rollback is
   * re-armed with this delay (`homelab-rollback-<run>-gate`), so its timer never fires mid-gate.
   */
  gateSeconds?: number
}

/** Another deploy holds the host lock. */
export class DeployLockedError extends DeployStepError {}

const STEP_TITLES: Record<DeployStepName, string> = {
  activate: 'activate (detached on the host)',
  approve: 'approve the change',
  'arm-rollback': 'arm magic rollback',
  build: 'nixos-rebuild build',
  'closure-diff': 'closure change (nix store diff-closures)',
  'fetch-check': 'host can fetch the flake input (as root)',
  confirm: 'confirm on a new connection',
  cordon: 'cordon the node on the server',
  gate: 'health gate (k3s active, node Ready, Lease renewed, API answers)',
  connect: 'connect',
  'flake-update': 'update flake input',
  inspect: 'inspect host',
  lock: 'take host lock',
  rollback: 'switch to the previous generation',
}

/** Options of {@link deployHost}. */
export interface DeployHostOptions extends DeployCallbacks {
  homelab: Homelab
  host: HostConfig
  /** The pushed commit the host must pin (ignored for rollback). */
  commit: string
  action: RebuildAction | 'rollback'
  confirmTimeoutSeconds: number
  acceptNewHostKey?: boolean
  /** Seconds each connection may take to answer (see connectHost); default ConnectTimeout, else 20. */
  connectTimeoutSeconds?: number
  env?: Record<string, string | undefined>
  homeDir?: string
  holder: string
  /** Rollback only: switch to this generation (`homelab rollback --to N`) instead of the previous one. */
  rollbackTo?: number
}

/** Runs remote commands for one step: times it, streams lines as events, keeps the last lines. */
class StepContext {
  readonly timings: StepTiming[] = []
  lastLines: string[] = []
  current: DeployStepName = 'connect'
  private started = 0

  constructor(private readonly options: DeployHostOptions) {}

  begin(step: DeployStepName): void {
    this.current = step
    this.lastLines = []
    this.started = performance.now()
    const title = step === 'rollback' && this.options.rollbackTo !== undefined ? `switch to generation ${this.options.rollbackTo}` : STEP_TITLES[step]
    this.options.onEvent?.({host: this.options.host.name, step, title, type: 'step'})
  }

  end(detail?: string): void {
    const ms = Math.round(performance.now() - this.started)
    this.timings.push({ms, ok: true, step: this.current})
    this.options.onEvent?.({detail, host: this.options.host.name, ms, step: this.current, type: 'step-done'})
  }

  fail(): void {
    this.timings.push({ms: Math.round(performance.now() - this.started), ok: false, step: this.current})
  }

  line(stream: 'stdout' | 'stderr', text: string, show = true): void {
    // eslint-disable-next-line no-control-regex
    this.lastLines.push(text.replaceAll(/\u001B\[[0-9;]*[A-Za-z]/g, ''))
    if (this.lastLines.length > 15) this.lastLines.shift()
    if (show) this.options.onEvent?.({host: this.options.host.name, step: this.current, stream, text, type: 'line'})
  }

  info(text: string): void {
    this.options.onEvent?.({host: this.options.host.name, text, type: 'info'})
  }

  /** exec options that stream both outputs live. */
  streaming(filter?: (line: string) => boolean) {
    return {
      onStderr: (l: string) => this.line('stderr', l),
      onStdout: (l: string) => this.line('stdout', l, filter ? filter(l) : true),
    }
  }

  check(result: ExecResult, what: string): ExecResult {
    if (result.exitCode !== 0) {
      const tail = [...result.stdout.split('\n'), ...result.stderr.split('\n')].filter((l) => l.trim() !== '')
      if (this.lastLines.length === 0) this.lastLines = tail.slice(-15)
      throw new DeployStepError(this.current, `${what} exited with status ${result.exitCode}`, this.lastLines)
    }

    return result
  }
}

function memoize<A extends unknown[], T>(fn: ((...args: A) => Promise<T>) | undefined): ((...args: A) => Promise<T>) | undefined {
  if (!fn) return undefined
  let cached: Promise<T> | undefined
  return (...args: A) => (cached ??= fn(...args))
}

/**
 * Deploys (or rolls back) ONE host over ONE SSH connection, plus one new connection to confirm.
 * See {@link HostDeploy} for the steps; this runs both of its phases back to back. Never throws:
 * failures are in `result.error`.
 */
export async function deployHost(options: DeployHostOptions): Promise<DeployHostResult> {
  const run = new HostDeploy(options)
  if (await run.open()) await run.run()
  return run.result
}

/**
 * One host's deploy (or rollback), in two phases so that a caller can stop between them (deploy
 * pushes only once every host is connected and locked):
 *
 * 1. {@link HostDeploy.open}: connect (host key checked, maybe pinned), take the host lock (flock
 *    under /run/lock, non-blocking), list the pending magic rollbacks of earlier runs (refused
 *    while one is switching the host back right now), then (deploy only) the fetch check: root
 *    on the host asks the flake input's remote for its branch the way Nix's fetcher will
 *    (fetch-check.ts), so a host that cannot fetch fails in one line before anything is pushed.
 * 2. {@link HostDeploy.run}: inspect (Nix version, flake.lock, generations, running system,
 *    systemd, and the input's branch head as root, which must be the pushed commit; in
 *    parallel), flake input update as root by Nix version, check the pin equals
 *    `commit`, `nixos-rebuild build`, `nix store diff-closures` (approve callback), magic rollback
 *    armed before a switch (`--confirm-timeout`), activation detached from the session
 *    (systemd-run, else setsid+nohup) with its log followed live, confirmation on a new connection
 *    (configuration revision = commit), report. Any failure after the flake update puts the
 *    previous flake.lock back.
 *
 * Or, after a successful open, {@link HostDeploy.abandon} releases the host untouched. No method
 * throws: failures land in `result.error` (step, message without the host name, last lines,
 * whether the host still runs its previous generation when that could be checked).
 */
export class HostDeploy {
  /** The outcome so far; complete once `open` failed, `run` or `abandon` returned. */
  readonly result: DeployHostResult
  private readonly ctx: StepContext
  private readonly connectOptions: Parameters<typeof connectHost>[0]
  private readonly runId = `${new Date().toISOString().replaceAll(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`
  private conn?: HostConnection
  private lock?: RemoteProcess
  private lockUpdated = false
  private previousSystem?: string
  private detach: DetachMode = 'setsid'
  private earlierRollbacks: EarlierRollback[] = []
  /** What `activate` runs, decided by `prepare` (a switch with nothing new becomes dry-activate). */
  private plannedAction?: RebuildAction | 'rollback'
  private previous?: Generation
  /** Where the input fetches from, once the fetch check read it (undefined: nothing to fetch). */
  private source?: InputSource

  constructor(private readonly options: DeployHostOptions) {
    this.ctx = new StepContext(options)
    this.result = {
      action: options.action,
      activation: 'none',
      closureChanges: [],
      connections: 0,
      host: options.host.name,
      magicRollback: 'not-armed',
      ok: false,
      steps: this.ctx.timings,
    }
    this.connectOptions = {
      acceptNewHostKey: options.acceptNewHostKey,
      askHostKey: options.askHostKey,
      askPassphrase: options.askPassphrase,
      askSudoPassword: memoize(options.askSudoPassword),
      connectTimeoutSeconds: options.connectTimeoutSeconds,
      env: options.env,
      homeDir: options.homeDir,
      homelab: options.homelab,
      host: options.host,
    }
  }

  /**
   * Phase 1: connect, lock, list earlier runs' pending rollbacks, fetch check. Returns true with the
   * connection and the lock held; false when a step failed (then `result.error` says which, and
   * the connection is closed).
   */
  async open(): Promise<boolean> {
    const {ctx, options, result} = this
    const {host} = options
    try {
      ctx.begin('connect')
      const conn = await connectHost(this.connectOptions)
      this.conn = conn
      result.connections++
      if (conn.pinnedHostKey) ctx.info(pinnedKeyMessage(options.homelab.root, host.name, conn.hostKeyFingerprint, conn.pinnedHostKey.file))
      ctx.end(`${conn.target.user}@${conn.target.hostName}:${conn.target.port} ${conn.hostKeyFingerprint}`)

      ctx.begin('lock')
      const lockFile = lockPath(host.flakeDir)
      this.lock = await takeLock(conn, lockFile, options.holder, ctx)
      // Only listed here: they are cancelled in run(), after the push, so a host abandoned
      // because another failed keeps its safety net.
      this.earlierRollbacks = await listEarlierRollbacks(conn, ctx)
      const pending = this.earlierRollbacks.length
      ctx.end(pending > 0 ? `${lockFile}; ${pending} pending magic rollback(s) of earlier runs, cancelled once the deploy goes ahead` : lockFile)
      if (options.action !== 'rollback') await this.fetchCheck(conn)
      return true
    } catch (error) {
      await this.fail(error)
      await this.release()
      return false
    }
  }

  /**
   * Ends an opened deploy without changing the host (another host failed before the push):
   * releases the lock, closes the connection, and records `reason` as a not-started failure.
   */
  async abandon(reason: string): Promise<DeployHostResult> {
    this.result.error = {exitCode: 1, lastLines: [], message: reason, notStarted: true, step: this.ctx.current, suggestions: []}
    await this.release()
    return this.result
  }

  /** Phase 2 and 3 back to back: every step after the lock (see the class); call only after `open` returned true. */
  async run(): Promise<DeployHostResult> {
    if (await this.prepare()) await this.activate()
    return this.result
  }

  /**
   * Phase 2 (deploy): inspect, flake input update, build, closure diff, approval; the host keeps
   * running its system and the lock stays held. Returns false when a step failed (the previous
   * flake.lock is put back, the lock released, `result.error` says where). A rollback only inspects.
   */
  async prepare(): Promise<boolean> {
    const {ctx, options, result} = this
    const {host} = options
    const conn = this.conn!
    const isRollback = options.action === 'rollback'
    try {
      // 3. inspect, in parallel: nix version, flake.lock, generations, running system, systemd, sudo
      ctx.begin('inspect')
      result.cancelledRollbacks = await cancelEarlierRollbacks(conn, ctx, this.earlierRollbacks)
      const source = isRollback ? undefined : this.source
      const [nixVersionOut, lockText, generationsOut, currentOut, systemdOut, headOutcome] = await Promise.all([
        conn.exec('nix --version'),
        conn.exec(readFlakeLockCommand(host.flakeDir)),
        conn.exec('nixos-rebuild list-generations --json'),
        conn.exec(CURRENT_SYSTEM),
        conn.exec(DETECT_SYSTEMD),
        // The pushed commit must now be the head of the input's branch, as the host sees it.
        source ? this.runFetchCheck(conn, source) : undefined,
        conn.sudoNeedsPassword(),
      ])
      if (source && headOutcome) {
        if (!headOutcome.ok) throw await this.fetchFailure(conn, source, headOutcome)
        if (headOutcome.head !== options.commit)
          throw new DeployStepError('inspect', headMismatchMessage(source, headOutcome.head, options.commit, `git remote ${options.homelab.config.git.remote}, branch ${options.homelab.config.git.branch}`))
      }

      ctx.check(generationsOut, 'nixos-rebuild list-generations --json')
      ctx.check(currentOut, 'reading /run/current-system')
      const generations = parseGenerations(generationsOut.stdout)
      const previous = currentGeneration(generations)
      result.previousGeneration = previous?.generation
      const previousSystem = currentOut.stdout.trim()
      this.previousSystem = previousSystem
      result.previousSystem = previousSystem
      const detach: DetachMode = systemdOut.stdout.trim() === 'systemd' ? 'systemd-run' : 'setsid'
      this.detach = detach
      let updateCommand = ''
      if (!isRollback) {
        ctx.check(nixVersionOut, 'nix --version')
        ctx.check(lockText, `reading ${host.flakeDir}/flake.lock`)
        const version = parseNixVersion(nixVersionOut.stdout)
        if (!version) throw new DeployStepError('inspect', `cannot read the Nix version from "${nixVersionOut.stdout.trim()}"`)
        result.nixVersion = version.text
        updateCommand = flakeUpdateCommand(version, host.flakeDir, host.flakeInput)
        result.flakeUpdateCommand = updateCommand
        if (!readFlakePin(lockText.stdout, host.flakeInput))
          throw new DeployStepError('inspect', `${host.flakeDir}/flake.lock has no input "${host.flakeInput}"`, [], {
            suggestions: [`check flakeInput of ${host.name} in homelab.yaml against the inputs of ${host.flakeDir}/flake.nix`],
          })
      } else if (options.rollbackTo !== undefined) {
        const to = options.rollbackTo
        if (!generations.some((g) => g.generation === to))
          throw new DeployStepError('inspect', `the host has no generation ${to} (generations: ${generations.map((g) => g.generation).sort((a, b) => a - b).join(', ') || 'none'})`, [], {exitCode: 1, suggestions: ['list them with homelab generations']})
        if (previous?.generation === to) throw new DeployStepError('inspect', `the host already runs generation ${to}`, [], {exitCode: 1})
      } else if (!generations.some((g) => previous && g.generation < previous.generation)) {
        throw new DeployStepError('inspect', `no generation before ${previous?.generation ?? 'the current one'} to roll back to`)
      }

      ctx.end(`generation ${previous?.generation ?? '?'}${result.nixVersion ? `, nix ${result.nixVersion}` : ''}, activation via ${detach}`)

      let action: RebuildAction | 'rollback' = options.action
      if (!isRollback) {
        // 4. flake update as root, then check the pin
        ctx.begin('flake-update')
        this.lockUpdated = true
        ctx.check(await conn.sudo(flakeUpdateAsRoot(host.flakeDir, updateCommand), ctx.streaming()), updateCommand)
        const after = ctx.check(await conn.exec(readFlakeLockCommand(host.flakeDir)), 'reading flake.lock')
        const pin = readFlakePin(after.stdout, host.flakeInput)
        result.pinnedRev = pin?.rev
        if (pin?.rev !== options.commit)
          throw new DeployStepError('flake-update', `flake.lock pins ${host.flakeInput} at ${pin?.rev ?? 'no commit'}, not the pushed ${options.commit}`, ctx.lastLines, {
            suggestions: [`check that the input's URL in ${host.flakeDir}/flake.nix points at the remote you push to, and its branch`],
          })
        ctx.end(`${host.flakeInput} → ${pin.rev.slice(0, 12)}`)

        // 5. build, closure diff, approval
        ctx.begin('build')
        const build = ctx.check(await conn.sudo(buildCommand(host.flakeDir, host.name), ctx.streaming((l) => !l.startsWith(RESULT_MARKER))), 'nixos-rebuild build')
        const newSystem = build.stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER))?.slice(RESULT_MARKER.length + 1).trim()
        if (!newSystem) throw new DeployStepError('build', 'nixos-rebuild build printed no result', ctx.lastLines)
        result.newSystem = newSystem
        ctx.end(newSystem)

        ctx.begin('closure-diff')
        // Shared with homelab diff: diff-closures, closure sizes and the unit files of both systems.
        let change: SystemChange
        try {
          change = await compareSystems(conn, previousSystem, newSystem, ctx.streaming())
        } catch (error) {
          throw new DeployStepError('closure-diff', (error as Error).message, ctx.lastLines)
        }

        result.closureChanges = parseDiffClosures(change.diffText)
        result.sizeDeltaBytes = change.sizeDeltaBytes
        result.units = change.units
        result.changed = newSystem !== previousSystem
        ctx.end(result.changed ? `${result.closureChanges.length} change(s)` : 'no change: the host already runs this system')
        options.onEvent?.({change, commit: options.commit, host: host.name, newSystem, previousSystem, type: 'change'})

        if (options.approve && result.changed) {
          ctx.begin('approve')
          const ok = await options.approve({change, changes: result.closureChanges, diffText: change.diffText, host: host.name, newSystem, previousSystem})
          if (!ok) throw new DeployStepError('approve', 'not approved; nothing was activated', [], {exitCode: 1})
          ctx.end()
        }

        if (!result.changed && (action === 'switch' || action === 'test')) action = 'dry-activate'
        // switch-to-configuration restarts a unit whose file or drop-ins changed (the units of
        // homelab diff): for k3s.service the node leaves the cluster briefly.
        result.k3sRestarts = result.changed && [...change.units.added, ...change.units.changed, ...change.units.removed].includes('k3s.service')
      }

      this.plannedAction = action
      this.previous = previous
      return true
    } catch (error) {
      await this.fail(error)
      await this.release()
      return false
    }
  }

  /**
   * Ends a prepared deploy without activating it (an earlier host of an ordered rollout failed):
   * puts the previous flake.lock back, releases the lock, and records `reason` as not started
   * with `exitCode` (1, or 128 + n when signal n stopped the rollout).
   */
  async abandonPrepared(reason: string, exitCode = 1): Promise<DeployHostResult> {
    // No step failed here (no failed timing): the host waited its turn and is released.
    this.result.error = await describeFailure(new DeployStepError('activate', reason, [], {exitCode}), this.ctx, {conn: this.conn, flakeDir: this.options.host.flakeDir, host: this.options.host, lockUpdated: this.lockUpdated, previousSystem: this.previousSystem})
    this.result.error.notStarted = true
    await this.release()
    return this.result
  }

  /**
   * Phase 3: arm magic rollback (switch), activate detached and follow it, confirm on a new
   * connection, then the health `gate` (ordered rollout) before the rollback timer is cancelled:
   * a gate that fails switches the host back at once. Call only after `prepare` returned true.
   * Releases the lock and the connection whatever happens.
   */
  async activate(hooks: ActivationHooks = {}): Promise<DeployHostResult> {
    const {ctx, options, result} = this
    const {host} = options
    const conn = this.conn!
    const isRollback = options.action === 'rollback'
    const rollbackName = `homelab-rollback-${this.runId}`
    let action = this.plannedAction!
    const previous = this.previous
    const detach = this.detach
    // The confirmation re-arms the timer for the gate's own time (confirmHost), so this one
    // covers the activation and the confirmation only, as without a gate.
    const armSeconds = options.confirmTimeoutSeconds
    try {
      if (hooks.beforeActivate && action !== 'dry-activate') {
        ctx.begin('cordon')
        await hooks.beforeActivate(conn)
        ctx.end()
      }

      // 6. arm magic rollback (switch), activate detached, follow
      if (action === 'switch' && result.changed) {
        ctx.begin('arm-rollback')
        ctx.check(await conn.sudo(startDetached(rollbackName, rollbackScript(result.newSystem!, this.previousRollbackTarget()), detach, armSeconds)), 'arming the rollback timer')
        result.magicRollback = 'armed-not-confirmed'
        ctx.end(`rolls back in ${armSeconds} s unless confirmed`)
      }

      if (action !== 'dry-activate' || options.action === 'dry-activate') {
        ctx.begin(isRollback ? 'rollback' : 'activate')
        const name = `homelab-deploy-${this.runId}`
        const rebuild = isRollback && options.rollbackTo !== undefined ? switchGenerationCommand(options.rollbackTo) : rebuildCommand(action, host.flakeDir, host.name)
        ctx.check(await conn.sudo(startDetached(name, rebuild, detach)), `starting ${rebuild}`)
        result.activation = detach
        let exitLine = ''
        const follow = await conn.exec(followCommand(name), {
          onStderr: (l) => ctx.line('stderr', l),
          onStdout: (l) => (l.startsWith(EXIT_MARKER) ? (exitLine = l) : ctx.line('stdout', l)),
        })
        ctx.check(follow, `following ${rebuild}`)
        const code = Number(exitLine.slice(EXIT_MARKER.length + 1))
        if (code !== 0) throw new DeployStepError(ctx.current, `${rebuild} exited with status ${code}`, ctx.lastLines)
        ctx.end(rebuild)
      } else {
        ctx.info('nothing to activate: the built system is the running one')
      }

      // 7. confirm on a NEW connection: the system answers and runs what we deployed
      if (action !== 'dry-activate') {
        ctx.begin('confirm')
        const confirm = await confirmHost({
          ...this.connectOptions,
          commit: action === 'switch' || action === 'test' ? options.commit : undefined,
          ctx,
          detach,
          gate: hooks.gate,
          gateSeconds: hooks.gateSeconds,
          newSystem: result.newSystem,
          previousSystem: this.previousSystem,
          result,
          rollbackName: result.magicRollback === 'armed-not-confirmed' ? rollbackName : undefined,
          runId: this.runId,
        })
        result.connections++
        result.generation = confirm.generation?.generation
        result.configurationRevision = confirm.revision
        if (result.magicRollback === 'armed-not-confirmed') result.magicRollback = 'armed-and-confirmed'
        ctx.end(confirm.gateDetail ?? `generation ${result.generation ?? '?'} answers, configuration revision ${confirm.revision || '(empty)'}`)
      } else {
        result.generation = result.previousGeneration
        result.configurationRevision = previous?.configurationRevision
      }

      if (this.lockUpdated) await conn.sudo(dropLockBackup(host.flakeDir))
      result.ok = true
    } catch (error) {
      await this.fail(error)
      if (result.error!.step === 'confirm' && result.magicRollback === 'armed-not-confirmed')
        result.error!.message += `; the host switches back to generation ${result.previousGeneration ?? 'previous'} within ${armSeconds} s of the switch (magic rollback)`
    } finally {
      await this.release()
    }

    return result
  }

  /**
   * Step fetch-check (phase 1, before the push and before anything changes on the host): reads
   * where the host flake's input fetches from (flake.lock `original`) and, as root, asks that
   * remote for the input's branch the way Nix's fetcher will (see fetch-check.ts). Keeps the
   * source for the head check of {@link run}.
   * @throws DeployStepError (exit 1) with one line: the remote, the reason, what to set up.
   */
  private async fetchCheck(conn: HostConnection): Promise<void> {
    const {ctx, options} = this
    const {host} = options
    ctx.begin('fetch-check')
    const lockText = ctx.check(await conn.exec(readFlakeLockCommand(host.flakeDir)), `reading ${host.flakeDir}/flake.lock`)
    let source: InputSource | undefined
    try {
      source = readInputSource(lockText.stdout, host.flakeInput)
    } catch {
      throw new DeployStepError('fetch-check', `${host.flakeDir}/flake.lock is not JSON`, [], {suggestions: [`run nix flake lock ${host.flakeDir} on the host`]})
    }

    if (!source)
      throw new DeployStepError('fetch-check', `${host.flakeDir}/flake.lock has no input "${host.flakeInput}"`, [], {
        suggestions: [`check flakeInput of ${host.name} in homelab.yaml against the inputs of ${host.flakeDir}/flake.nix`],
      })
    this.result.fetchCheck = {source: source.display}
    if (source.kind === 'other') {
      ctx.end(`${source.display}: not fetched from a remote, nothing to check`)
      return
    }

    if (source.rev)
      throw new DeployStepError('fetch-check', `the flake input ${source.input} is pinned to commit ${source.rev} in ${host.flakeDir}/flake.nix (${source.display}), so no update can move it; remove the rev from its URL`)
    const outcome = await this.runFetchCheck(conn, source)
    if (!outcome.ok) throw await this.fetchFailure(conn, source, outcome)
    this.source = source
    this.result.fetchCheck.head = outcome.head
    ctx.end(`${source.display}: ${source.ref ?? 'HEAD'} at ${outcome.head.slice(0, 12)}`)
  }

  /** Runs {@link fetchCheckCommand} as root (2 min at most) and parses it. */
  private async runFetchCheck(conn: HostConnection, source: InputSource): Promise<FetchCheckOutcome> {
    try {
      const r = await conn.sudo(fetchCheckCommand(source), {timeoutMs: FETCH_CHECK_TIMEOUT_MS})
      if (r.exitCode !== 0) this.ctx.lastLines = r.stderr.split('\n').filter((l) => l.trim() !== '').slice(-15)
      return parseFetchCheck(source, r)
    } catch (error) {
      if (error instanceof RemoteTimeoutError) return {ok: false, reason: `no answer within ${FETCH_CHECK_TIMEOUT_MS / 1000} s`}
      throw error
    }
  }

  /** The one-line error of a failed fetch check, with what to set up for the configured method. */
  private async fetchFailure(conn: HostConnection, source: InputSource, outcome: Extract<FetchCheckOutcome, {ok: false}>): Promise<DeployStepError> {
    let method = methodForSource(source)
    let accessFile: string | undefined
    try {
      const access = await loadGitAccess(this.options.homelab)
      method = access.method
      accessFile = access.file
    } catch {} // no or a broken git access file: advise by the URL's scheme
    let publicKey: string | undefined
    if (method === 'deploy-key' && !outcome.noGit) {
      const r = await conn.sudo(DEPLOY_KEY_PUBLIC_COMMAND).catch(() => undefined)
      publicKey = r?.stdout.trim().split('\n')[0]?.split(/\s+/).slice(0, 2).join(' ') || undefined
    }

    return new DeployStepError(this.ctx.current, fetchFailureMessage({accessFile, method, outcome, publicKey, source}), this.ctx.lastLines, {exitCode: 1})
  }

  /** The generation this run switches back to: the one the host ran before it, when known. */
  private previousRollbackTarget(): {generation: number; system: string} | undefined {
    const {previousGeneration} = this.result
    return previousGeneration === undefined || !this.previousSystem ? undefined : {generation: previousGeneration, system: this.previousSystem}
  }

  private async fail(error: unknown): Promise<void> {
    this.ctx.fail()
    this.result.error = await describeFailure(error, this.ctx, {conn: this.conn, flakeDir: this.options.host.flakeDir, host: this.options.host, lockUpdated: this.lockUpdated, previousSystem: this.previousSystem})
  }

  private async release(): Promise<void> {
    this.lock?.end()
    await this.lock?.exited.catch(() => {})
    this.lock = undefined
    await this.conn?.close()
    this.conn = undefined
  }
}

async function takeLock(conn: HostConnection, lockFile: string, holder: string, ctx: StepContext): Promise<RemoteProcess> {
  let resolveLocked: () => void
  const locked = new Promise<void>((resolve) => {
    resolveLocked = resolve
  })
  const proc = await conn.spawn(lockCommand(lockFile, holder), {onStdout: (l) => l === 'locked' && resolveLocked()})
  const outcome = await Promise.race([locked.then(() => undefined), proc.exited])
  if (outcome === undefined) return proc
  if (outcome.exitCode === LOCK_BUSY_EXIT) {
    const who = (await conn.exec(lockHolderCommand(lockFile))).stdout.trim()
    throw new DeployLockedError('lock', `another deploy is running (${lockFile} held by ${who || 'an unknown holder'})`, [], {
      suggestions: ['wait for it to finish, then run again'],
    })
  }

  return ctx.check(outcome, `flock ${lockFile}`) as never
}

/**
 * Cancels the magic rollbacks that earlier runs armed and never confirmed (their timers would
 * otherwise fire during or after this run), saying so as an info line each. Called with the host
 * lock held, so no other run is between arming and confirming. Returns the cancelled names.
 * @throws DeployStepError (step lock) when one cannot be cancelled, e.g. it is rolling back now.
 */
/**
 * The magic rollbacks of earlier runs still pending on the host (to cancel once the deploy goes
 * ahead). @throws DeployStepError (step lock) when one is running right now: a deploy must not
 * activate while it switches the host back.
 */
async function listEarlierRollbacks(conn: HostConnection, ctx: StepContext): Promise<EarlierRollback[]> {
  const listed = parsePendingRollbacks(ctx.check(await conn.exec(PENDING_ROLLBACKS), 'listing pending magic rollbacks').stdout)
  const running = listed.find((r) => r.state === 'running')
  if (running)
    throw new DeployStepError('lock', `the magic rollback ${running.name} of an earlier run is switching the host back right now`, [], {
      suggestions: [`wait until it has finished (${STATE_DIR}/${running.name}.exit appears on the host; its log is ${STATE_DIR}/${running.name}.log), then run again`],
    })
  return listed
}

/** Cancels the `pending` earlier rollbacks (see {@link listEarlierRollbacks}); returns their names. */
async function cancelEarlierRollbacks(conn: HostConnection, ctx: StepContext, pending: EarlierRollback[]): Promise<string[]> {
  const cancelled: string[] = []
  for (const {mode, name} of pending) {
    const r = await conn.sudo(cancelDetached(name, mode))
    if (r.exitCode !== 0)
      throw new DeployStepError('inspect', `the magic rollback ${name} of an earlier run cannot be cancelled: ${r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`}`, r.stderr.trim().split('\n'), {
        suggestions: [`wait until it has finished (${STATE_DIR}/${name}.exit appears on the host), then run again`],
      })
    cancelled.push(name)
    ctx.info(`cancelled the pending magic rollback ${name} of an earlier run that was never confirmed (it would have switched the host back)`)
  }

  return cancelled
}

/**
 * Confirms on a new connection; runs the health `gate` (ordered rollout) on it; cancels the
 * rollback timer when everything matches. A gate that fails switches the host back at once
 * ({@link rollBackNow}) when a rollback was armed, then rethrows as a `gate` step error.
 */
async function confirmHost(
  options: Parameters<typeof connectHost>[0] & {
    commit?: string
    ctx: StepContext
    detach: DetachMode
    gate?: ActivationHooks['gate']
    gateSeconds?: number
    newSystem?: string
    previousSystem?: string
    result: DeployHostResult
    rollbackName?: string
    runId: string
  },
): Promise<{generation?: Generation; revision: string; gateDetail?: string}> {
  let conn: HostConnection
  try {
    conn = await connectHost({...options, acceptNewHostKey: false})
  } catch (error) {
    const host = typeof options.host === 'string' ? options.host : options.host.name
    throw new DeployStepError('confirm', `the confirmation connection failed: ${withoutHostPrefix((error as Error).message, typeof options.host === 'string' ? {name: host, ssh: host} : options.host)}`, [], {exitCode: 2})
  }

  try {
    const [rev, gens] = await Promise.all([conn.exec('nixos-version --configuration-revision'), conn.exec('nixos-rebuild list-generations --json')])
    options.ctx.check(rev, 'nixos-version --configuration-revision')
    options.ctx.check(gens, 'nixos-rebuild list-generations --json')
    const revision = rev.stdout.trim()
    if (options.commit && revision !== options.commit)
      throw new DeployStepError('confirm', `the running system reports configuration revision ${revision || '(empty)'}, not ${options.commit}`, [], {
        suggestions: ['set system.configurationRevision to the homelab flake\'s rev in the host module'],
      })
    const generation = currentGeneration(parseGenerations(gens.stdout))
    let gateDetail: string | undefined
    let rollbackName = options.rollbackName
    if (options.gate && rollbackName && options.newSystem) {
      // The revision matches: swap the armed timer for one that gives the gate its whole time
      // (a timer that fired mid-gate would switch back under a passing gate). Cancelling
      // fails when it already fired: then the host is switching back, which the error says.
      options.ctx.check(await conn.sudo(cancelDetached(rollbackName, options.detach)), 'cancelling the rollback timer to re-arm it for the health gate')
      rollbackName = `${rollbackName}-gate`
      const target = options.result.previousGeneration === undefined || !options.previousSystem ? undefined : {generation: options.result.previousGeneration, system: options.previousSystem}
      options.ctx.check(await conn.sudo(startDetached(rollbackName, rollbackScript(options.newSystem, target), options.detach, options.gateSeconds ?? 300)), 'arming the rollback timer for the health gate')
    }

    if (options.gate) {
      options.ctx.end(`generation ${generation?.generation ?? '?'} answers, configuration revision ${revision || '(empty)'}`)
      options.ctx.begin('gate')
      try {
        gateDetail = await options.gate(conn)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        if (rollbackName && options.newSystem && options.previousSystem) {
          options.result.rolledBack = await rollBackNow(conn, {...options, newSystem: options.newSystem, previousGeneration: options.result.previousGeneration, previousSystem: options.previousSystem, rollbackName})
          options.result.magicRollback = 'armed-and-confirmed'
          throw new DeployStepError('gate', `health gate failed: ${reason}; ${options.result.rolledBack ? 'switched back to the previous generation (magic rollback)' : 'the switch back did not reach the previous system: check the host'}`, options.ctx.lastLines)
        }

        throw new DeployStepError('gate', `health gate failed: ${reason}; not rolled back (only a switch arms magic rollback)`, options.ctx.lastLines)
      }
    }

    if (rollbackName) options.ctx.check(await conn.sudo(cancelDetached(rollbackName, options.detach)), 'cancelling the rollback timer')
    return {gateDetail, generation, revision}
  } finally {
    await conn.close()
  }
}

/**
 * Switches the host back now, instead of waiting for the armed timer: cancels the timer (when
 * it already fired, it is doing this very thing), runs the same rollback script detached and
 * follows it. True when the host then runs `previousSystem`.
 */
async function rollBackNow(conn: HostConnection, options: {ctx: StepContext; detach: DetachMode; newSystem: string; previousGeneration?: number; previousSystem: string; rollbackName: string; runId: string}): Promise<boolean> {
  const {ctx} = options
  ctx.info('health gate failed: switching back to the previous generation now (magic rollback)')
  const cancelled = await conn.sudo(cancelDetached(options.rollbackName, options.detach))
  if (cancelled.exitCode === 0) {
    const name = `homelab-gate-rollback-${options.runId}`
    const started = await conn.sudo(startDetached(name, rollbackScript(options.newSystem, options.previousGeneration === undefined ? undefined : {generation: options.previousGeneration, system: options.previousSystem}), options.detach))
    if (started.exitCode !== 0) return false
    await conn.exec(followCommand(name), {onStderr: (l) => ctx.line('stderr', l), onStdout: (l) => !l.startsWith(EXIT_MARKER) && ctx.line('stdout', l)})
  } else {
    // The armed timer fired already: wait for its script to end.
    await conn.exec(followCommand(options.rollbackName), {onStderr: (l) => ctx.line('stderr', l), onStdout: (l) => !l.startsWith(EXIT_MARKER) && ctx.line('stdout', l)})
  }

  const current = await conn.exec(CURRENT_SYSTEM, {timeoutMs: 10_000})
  return current.exitCode === 0 && current.stdout.trim() === options.previousSystem
}


/**
 * A message without a leading `<host>: ` (its homelab.yaml name, its ssh spec or alias): the host
 * report and the error line name the host themselves, once.
 */
function withoutHostPrefix(message: string, host: Pick<HostConfig, 'name' | 'ssh'>): string {
  let alias = host.ssh
  try {
    alias = parseSshSpec(host.ssh).host
  } catch {}

  for (const prefix of [host.name, host.ssh, alias]) if (message.startsWith(`${prefix}: `)) return message.slice(prefix.length + 2)
  return message
}

/** Steps before which a failed run has changed nothing on the host. */
const BEFORE_ANY_CHANGE: ReadonlySet<DeployStepName> = new Set(['connect', 'lock', 'fetch-check', 'inspect'])

/** How long the fetch check may take on the host (ssh/https to the forge), in milliseconds. */
const FETCH_CHECK_TIMEOUT_MS = 120_000

async function describeFailure(
  error: unknown,
  ctx: StepContext,
  state: {conn?: HostConnection; flakeDir: string; host: HostConfig; lockUpdated: boolean; previousSystem?: string},
): Promise<DeployFailure> {
  const err = error instanceof HomelabError ? error : new HomelabError(String((error as Error)?.message ?? error))
  const step = error instanceof DeployStepError ? error.step : ctx.current
  const failure: DeployFailure = {
    exitCode: err.exitCode,
    lastLines: error instanceof DeployStepError ? error.lastLines : ctx.lastLines,
    message: withoutHostPrefix(err.message, state.host),
    step,
    suggestions: err.suggestions,
  }
  if (BEFORE_ANY_CHANGE.has(step) && !state.lockUpdated) failure.changedNothing = true
  if (state.conn && state.lockUpdated) {
    try {
      const r = await state.conn.sudo(restoreFlakeLock(state.flakeDir), {timeoutMs: 30_000})
      failure.flakeLockRestored = r.exitCode === 0
    } catch {
      failure.flakeLockRestored = false
    }
  }

  // Which system the host runs is only claimed when it was read before and can be read again.
  if (state.conn && state.previousSystem) {
    try {
      const r = await state.conn.exec(CURRENT_SYSTEM, {timeoutMs: 10_000})
      if (r.exitCode === 0) failure.stillOnPreviousGeneration = r.stdout.trim() === state.previousSystem
    } catch {}
  }

  return failure
}
