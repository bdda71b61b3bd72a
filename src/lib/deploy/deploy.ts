import os from 'node:os'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {UsageError} from '../errors.js'
import {deployHost} from './deploy-host.js'
import type {DeployCallbacks, DeployHostResult, RebuildAction} from './types.js'

/**
 * Picks the hosts to act on: the one named (`--host`), or all of homelab.yaml.
 * @throws UsageError (exit 3) for a name homelab.yaml does not have, naming the hosts it has.
 */
export function selectHosts(homelab: Homelab, name?: string): HostConfig[] {
  if (name === undefined) return homelab.config.hosts
  const host = homelab.config.hosts.find((h) => h.name === name)
  if (!host) {
    const names = homelab.config.hosts.map((h) => h.name)
    throw new UsageError(`homelab.yaml has no host "${name}" (hosts: ${names.join(', ') || 'none'})`, {
      suggestions: names.length > 0 ? [`use --host with one of: ${names.join(', ')} (or leave it out for all hosts)`] : ['add the host to hosts: in homelab.yaml'],
    })
  }

  return [host]
}

/** `user@machine pid N at <ISO time>`: written on the host while the lock is held. */
export function lockHolder(env: Record<string, string | undefined> = {}): string {
  return `${env.USER ?? os.userInfo().username}@${os.hostname()} pid ${process.pid} since ${new Date().toISOString().slice(0, 19)}Z`
}

/**
 * Runs {@link deployHost} for every host in parallel (each on its own connection) and returns
 * the results in homelab.yaml order. A host failing does not stop the others.
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
  return Promise.all(options.hosts.map((host) => deployHost({...options, ...callbacks, host})))
}
