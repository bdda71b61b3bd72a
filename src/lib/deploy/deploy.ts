import os from 'node:os'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {UsageError} from '../errors.js'
import {HostDeploy} from './deploy-host.js'
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

  await Promise.all(runs.map((run) => run.run()))
  return runs.map((run) => run.result)
}
