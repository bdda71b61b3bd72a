import os from 'node:os'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {UsageError} from '../errors.js'
import {serverHost} from '../config/hosts.js'
import {connectHost, type HostConnection} from '../ssh/index.js'
import {type ActivationHooks, HostDeploy} from './deploy-host.js'
import {signalExitCode} from '../signal-exit.js'
import {reconcileNodeLabels} from './node-labels.js'
import {activationWaves, cordonNode, healthGate, type RolloutOptions, uncordonNode} from './rollout.js'
import type {DeployCallbacks, DeployHostResult, RebuildAction} from './types.js'

export {selectHosts} from '../config/hosts.js'

/** `user@machine pid N at <ISO time>`: written on the host while the lock is held. */
export function lockHolder(env: Record<string, string | undefined> = {}): string {
  return `${env.USER ?? os.userInfo().username}@${os.hostname()} pid ${process.pid} since ${new Date().toISOString().slice(0, 19)}Z`
}

/**
 * Deploys (or rolls back) every host in parallel, each on its own connection, and returns the
 * results in homelab.yaml order.
 *
 * With `publish` (deploy): first every host is connected and locked; only when all of them are,
 * `publish` runs (the push), then the remaining steps on every host. When a host cannot be
 * reached or locked, `publish` never runs and the hosts that were locked are released untouched
 * (their result says `notStarted`), so a cluster never gets a commit whose host half cannot
 * start. When `publish` throws, every host is released untouched and its error is rethrown.
 *
 * With `rollout` (deploy), the rest is ordered ({@link runRollout}): every host builds in
 * parallel, then activates server first, agents at most `maxUnavailable` at a time, each behind
 * its health gate; a host failing stops the hosts not yet activated (their flake.lock is put back).
 *
 * Without `publish` (rollback), hosts are independent: one failing does not stop the others.
 * Prompts (host key, passphrase, sudo password, approval) are asked one at a time.
 */
export async function deployHosts(
  options: DeployCallbacks & {
    homelab: Homelab
    hosts: HostConfig[]
    commit: string
    action: RebuildAction | 'rollback'
    confirmTimeoutSeconds: number
    acceptNewHostKey?: boolean
    connectTimeoutSeconds?: number
    env?: Record<string, string | undefined>
    homeDir?: string
    holder: string
    /** Rollback only: the generation to switch to (`homelab rollback --to N`). */
    rollbackTo?: number
    /** Runs once every host is connected and locked, before any host step (deploy's push). */
    publish?: () => Promise<void>
    /** Order the activations (deploy); absent = every host activates as soon as it is built. */
    rollout?: RolloutOptions & {gate: boolean}
  },
): Promise<DeployHostResult[]> {
  // One approval prompt at a time, whatever the number of hosts.
  let queue = Promise.resolve()
  const serial = <A extends unknown[], T>(fn?: (...args: A) => Promise<T>) =>
    fn &&
    ((...args: A): Promise<T> => {
      const next = queue.then(() => fn(...args))
      queue = next.then(
        () => {},
        () => {},
      )
      return next
    })
  const callbacks = {
    approve: serial(options.approve),
    askHostKey: serial(options.askHostKey),
    askPassphrase: serial(options.askPassphrase),
    askSudoPassword: serial(options.askSudoPassword),
  }
  const runs = options.hosts.map((host) => new HostDeploy({...options, ...callbacks, host}))
  if (!options.publish) {
    await Promise.all(runs.map(async (run) => (await run.open()) && run.run()))
    return runs.map((run) => run.result)
  }

  const opened = await Promise.all(runs.map((run) => run.open()))
  const failed = runs.filter((_, i) => !opened[i]).map((run) => `${run.result.host} (${run.result.error?.step})`)
  if (failed.length > 0) {
    await Promise.all(runs.filter((_, i) => opened[i]).map((run) => run.abandon(`stopped before the push because ${failed.join(', ')} failed: nothing was pushed and this host was not changed`)))
    return runs.map((run) => run.result)
  }

  try {
    await options.publish()
  } catch (error) {
    await Promise.all(runs.map((run) => run.abandon(`the push failed: ${(error as Error).message}`)))
    throw error
  }

  if (options.rollout) await runRollout({...options, ...callbacks, rollout: options.rollout}, runs)
  else await Promise.all(runs.map((run) => run.run()))
  return runs.map((run) => run.result)
}

/** What the rollout needs of one host's deploy ({@link HostDeploy}). */
export type RolloutRun = Pick<HostDeploy, 'abandonPrepared' | 'activate' | 'prepare' | 'result'>

/**
 * Phase 2 of every host in parallel (build, closure diff, approval), then phase 3 in waves
 * ({@link activationWaves}). An agent whose node restarts k3s is cordoned (or drained) on the
 * server first and uncordoned once its gate passed. The first host that fails (a server that
 * cannot build, any host whose activation or gate fails) stops the rollout: hosts not yet
 * activated are released with their previous flake.lock put back (`rollout: 'not-started'`).
 */
export async function runRollout(
  options: DeployCallbacks & {
    homelab: Homelab
    hosts: HostConfig[]
    action: RebuildAction | 'rollback'
    acceptNewHostKey?: boolean
    connectTimeoutSeconds?: number
    env?: Record<string, string | undefined>
    homeDir?: string
    rollout: RolloutOptions & {gate: boolean}
    /** Opens the server connection the gates and cordons use (default: connectHost; tests pass a fake). */
    connectServer?: (host: HostConfig) => Promise<HostConnection>
  },
  runs: RolloutRun[],
): Promise<void> {
  // A signal (Ctrl-C, SIGTERM, SIGHUP) stops the rollout without leaving a host half done: hosts
  // waiting for their turn are released at once (previous flake.lock back, lock freed), hosts
  // still building finish their build and are then released, and hosts already activating
  // (cordon, switch, confirmation, gate, uncordon) finish. A second signal exits at once
  // (onInterrupted with final: true), leaving an activating host to its magic rollback timer.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  let interrupted: NodeJS.Signals | undefined
  let stop: string | undefined
  let releasing: Promise<unknown> = Promise.resolve()
  const waiting = new Set<string>()
  const activating = new Set<string>()
  let runOf = new Map<string, {ok: boolean; run: RolloutRun}>()
  const release = (run: RolloutRun, reason: string) => {
    run.result.rollout = 'not-started'
    return run.abandonPrepared(reason, interrupted === undefined ? 1 : signalExitCode(interrupted))
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      options.onInterrupted!({activating: [...activating], final: true, released: [], signal})
      return
    }

    interrupted = signal
    stop = `interrupted (${signal})`
    const released = [...waiting]
    waiting.clear()
    releasing = Promise.allSettled(released.map((name) => release(runOf.get(name)!.run, `not activated: ${stop}; this host still runs its previous generation`)))
    options.onInterrupted!({activating: [...activating], final: false, released, signal})
  }

  const handlers = signals.map((signal) => [signal, () => onSignal(signal)] as const)
  if (options.onInterrupted) for (const [signal, handler] of handlers) process.on(signal, handler)
  let serverConn: Promise<HostConnection> | undefined
  try {
    const prepared = await Promise.all(runs.map((run) => run.prepare()))
    runOf = new Map(options.hosts.map((h, i) => [h.name, {ok: prepared[i], run: runs[i]}]))
    for (const h of options.hosts) if (runOf.get(h.name)!.ok) waiting.add(h.name)
    const activates = options.action === 'switch' || options.action === 'test'
    const server = serverHost(options.homelab)
    const getServer = () =>
      (serverConn ??= options.connectServer ? options.connectServer(server) : connectHost({
        acceptNewHostKey: false,
        askHostKey: options.askHostKey,
        askPassphrase: options.askPassphrase,
        askSudoPassword: options.askSudoPassword,
        connectTimeoutSeconds: options.connectTimeoutSeconds,
        env: options.env,
        homeDir: options.homeDir,
        homelab: options.homelab,
        host: server,
      }))
    for (const wave of activationWaves(options.hosts, options.rollout.maxUnavailable)) {
      // eslint-disable-next-line no-await-in-loop -- waves run one after the other, by design
      await Promise.all(
        wave.map(async (host) => {
          const {ok, run} = runOf.get(host.name)!
          const {result} = run
          if (!ok) {
            result.rollout = 'failed'
            if (host.role === 'server') stop ??= `the server ${host.name} failed at ${result.error?.step}`
            return
          }

          // Released by the signal handler already.
          if (!waiting.delete(host.name)) return
          if (stop) {
            await release(run, `not activated: ${stop}; this host still runs its previous generation`)
            return
          }

          activating.add(host.name)
          const hooks: ActivationHooks = {}
          if (activates && options.rollout.gate) {
            hooks.gate = (conn) => healthGate({host, hostConn: conn, rollout: options.rollout, server: getServer})
            // The rollback timer re-armed for the gate: its timeout, plus one last poll (three
            // calls of at most 30 s each), plus a margin for the server connection.
            hooks.gateSeconds = options.rollout.gateTimeoutSeconds + 150
          }

          if (activates && host.role === 'agent' && result.k3sRestarts)
            hooks.beforeActivate = async () => {
              // Said before the call: a drain cordons first, so a failed drain still leaves the node cordoned.
              result.cordon = 'cordoned'
              await cordonNode(await getServer(), host.name, options.rollout.drain)
              if (options.rollout.drain) result.cordon = 'drained'
            }

          await run.activate(hooks).finally(() => activating.delete(host.name))
          if (result.ok && result.cordon) {
            try {
              await uncordonNode(await getServer(), host.name)
              result.cordon = 'uncordoned'
            } catch (error) {
              options.onEvent?.({host: host.name, text: `node ${host.name} stays ${result.cordon}: ${(error as Error).message}; run \`k3s kubectl uncordon ${host.name}\` on the server`, type: 'info'})
            }
          }

          result.rollout = result.ok ? 'activated' : result.rolledBack ? 'rolled-back' : 'failed'
          if (!result.ok) stop ??= `${host.name} failed at ${result.error?.step}`
        }),
      )
    }

    // Labels edited in homelab.yaml after a node registered reach it only this way (node-labels.ts).
    if (activates && !interrupted)
      for (const host of options.hosts) {
        const {result} = runOf.get(host.name)!.run
        if (!result.ok || (options.homelab.config.hosts.length < 2 && Object.keys(host.labels ?? {}).length === 0)) continue
        try {
          // eslint-disable-next-line no-await-in-loop -- a few kubectl calls per host on one connection
          const line = await reconcileNodeLabels(await getServer(), host)
          if (line) {
            result.nodeLabels = line
            options.onEvent?.({host: host.name, text: `node labels: ${line}`, type: 'info'})
          }
        } catch (error) {
          options.onEvent?.({host: host.name, text: `node labels not applied: ${(error as Error).message}; the next deploy tries again`, type: 'info'})
        }
      }
  } finally {
    // Released hosts are put back before anything is reported (a second signal still exits at once).
    await releasing
    for (const [signal, handler] of handlers) process.removeListener(signal, handler)
    if (serverConn) await serverConn.then((c) => c.close()).catch(() => {})
  }
}
