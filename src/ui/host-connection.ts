import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {UsageError} from '../lib/errors.js'
import type {ConnectHostOptions, HostConnection} from '../lib/ssh/index.js'

/** The prompts an SSH connection may need, answered by the person or by flags/environment. */
export type ConnectionPrompts = Pick<ConnectHostOptions, 'askHostKey' | 'askPassphrase' | 'askSudoPassword'>

/**
 * The person's side of an SSH connection, shared by every command that connects: unknown host
 * keys and identity passphrases by prompt when a person is there (else refused); the sudo
 * password from `stdinPassword` (a command's --sudo-password-stdin), HOMELAB_SUDO_PASSWORD, or a
 * hidden prompt — without any of them and without a TTY it is a UsageError naming the options.
 */
export function connectionPrompts(options: {canPrompt: boolean; env: NodeJS.ProcessEnv; stdinPassword?: string; stdinFlag?: string}): ConnectionPrompts {
  const prompts = async () => import('@inquirer/prompts')
  return {
    askHostKey: options.canPrompt
      ? async (q) =>
          (await prompts()).confirm({
            default: false,
            message: `${q.host} is not known. Its ${q.keyType} host key fingerprint is ${q.fingerprint}. Pin it in ${q.knownHostsFile}?`,
          })
      : undefined,
    askPassphrase: options.canPrompt ? async (file) => (await prompts()).password({mask: true, message: `Passphrase for ${file}:`}) : undefined,
    async askSudoPassword(info) {
      if (options.stdinPassword !== undefined) return options.stdinPassword
      if (options.env.HOMELAB_SUDO_PASSWORD) return options.env.HOMELAB_SUDO_PASSWORD
      if (!options.canPrompt) {
        const how = options.stdinFlag ? `pass it with ${options.stdinFlag} (or HOMELAB_SUDO_PASSWORD)` : 'set HOMELAB_SUDO_PASSWORD'
        throw new UsageError(`sudo on ${info.host} needs ${info.user}'s password: ${how} when not running in a terminal`)
      }
      return (await prompts()).password({mask: true, message: `sudo password for ${info.user}@${info.host}:`})
    },
  }
}

/**
 * Opens the SSH connection for a read-mostly command (status, reconcile, backup, rotate-key)
 * with {@link connectionPrompts} wired in.
 *
 * @throws HostUnreachableError (exit 2) when the host cannot be reached or its key is not pinned
 */
export async function openHostConnection(options: {homelab: Homelab; host: HostConfig; canPrompt: boolean; env?: NodeJS.ProcessEnv}): Promise<HostConnection> {
  const env = options.env ?? process.env
  const {connectHost} = await import('../lib/ssh/index.js')
  return connectHost({...connectionPrompts({canPrompt: options.canPrompt, env}), env, homelab: options.homelab, host: options.host})
}
