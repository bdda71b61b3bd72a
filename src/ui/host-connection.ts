import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {UsageError} from '../lib/errors.js'
import type {HostConnection} from '../lib/ssh/index.js'

/**
 * Opens the SSH connection for a read-mostly command (status, reconcile) with the person's
 * answers wired in: the sudo password from HOMELAB_SUDO_PASSWORD or a prompt (asked only when
 * sudo needs one), identity passphrases and unknown host keys by prompt when a person is there.
 * Without a TTY a missing sudo password is an error naming HOMELAB_SUDO_PASSWORD, and an
 * unknown host key is refused (exit 2).
 *
 * @throws HostUnreachableError (exit 2) when the host cannot be reached or its key is not pinned
 */
export async function openHostConnection(options: {homelab: Homelab; host: HostConfig; canPrompt: boolean; env?: NodeJS.ProcessEnv}): Promise<HostConnection> {
  const env = options.env ?? process.env
  const {connectHost} = await import('../lib/ssh/index.js')
  const ask = async () => (await import('@inquirer/prompts')).password
  return connectHost({
    askHostKey: options.canPrompt
      ? async (q) => (await import('@inquirer/prompts')).confirm({default: false, message: `Pin ${q.keyType} host key ${q.fingerprint} of ${q.host} into ${q.knownHostsFile}?`})
      : undefined,
    askPassphrase: options.canPrompt ? async (file) => (await ask())({message: `Passphrase for ${file}:`}) : undefined,
    async askSudoPassword(info) {
      if (env.HOMELAB_SUDO_PASSWORD) return env.HOMELAB_SUDO_PASSWORD
      if (!options.canPrompt)
        throw new UsageError(`sudo on ${info.host} needs ${info.user}'s password: set HOMELAB_SUDO_PASSWORD when not running in a terminal`)
      return (await ask())({mask: true, message: `sudo password for ${info.user}@${info.host}:`})
    },
    env,
    homelab: options.homelab,
    host: options.host,
  })
}
