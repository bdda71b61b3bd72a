import type {ConnectionSettings} from '../connection-flags.js'
import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {UsageError} from '../lib/errors.js'
import type {ConnectHostOptions, HostConnection} from '../lib/ssh/index.js'
import {colors} from './color.js'

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

/** How a command opens its host connection: from the base command's hostConnectionOptions(). */
export interface HostConnectionOptions {
  /** A person can answer prompts (host key, passphrase, sudo password). */
  canPrompt: boolean
  /** The --accept-new-host-key and --connect-timeout flags. */
  settings?: ConnectionSettings
  /**
   * Where `connecting to HOST…` is shown while the connection opens (the command's stderr, not
   * under --json); shown only when it is a TTY, dim unless NO_COLOR, and erased once done.
   */
  progress?: NodeJS.WriteStream
  env?: NodeJS.ProcessEnv
  /** The sudo password a command read with its --sudo-password-stdin flag (asked for first, before HOMELAB_SUDO_PASSWORD). */
  stdinPassword?: string
  /** The command's flag that reads the sudo password from stdin, named when none can be asked. */
  stdinFlag?: string
}

/**
 * Opens the SSH connection for a command other than deploy/rollback (status, reconcile, backup,
 * rotate-key) with {@link connectionPrompts} and the connection flags wired in, saying
 * `connecting to HOST…` meanwhile (see {@link HostConnectionOptions.progress}). A ProxyCommand's
 * stderr goes to this process's stderr, on a line of its own.
 *
 * @throws HostUnreachableError (exit 2) when the host cannot be reached in time or its key is not pinned
 */
export async function openHostConnection(options: HostConnectionOptions & {homelab: Homelab; host: HostConfig}): Promise<HostConnection> {
  const env = options.env ?? process.env
  const {connectHost} = await import('../lib/ssh/index.js')
  const tty = options.progress?.isTTY ? options.progress : undefined
  let shown = false
  if (tty) {
    tty.write(colors(tty).dim(`connecting to ${options.host.name} (${options.host.ssh})…`))
    shown = true
  }

  /** Erases the `connecting…` line, or (before other output) ends it so that output starts on its own line. */
  const endLine = (erase: boolean) => {
    if (!shown || !tty) return
    shown = false
    tty.write(erase ? '\r\u001B[2K' : '\n')
  }

  const prompts = connectionPrompts({canPrompt: options.canPrompt, env, stdinFlag: options.stdinFlag, stdinPassword: options.stdinPassword})
  const {askHostKey, askPassphrase} = prompts
  try {
    const connection = await connectHost({
      ...prompts,
      ...options.settings,
      askHostKey: askHostKey && (async (q) => (endLine(false), askHostKey(q))),
      askPassphrase: askPassphrase && (async (file) => (endLine(false), askPassphrase(file))),
      env,
      homelab: options.homelab,
      host: options.host,
      onProxyStderr(text) {
        endLine(false)
        process.stderr.write(text)
      },
    })
    if (connection.pinnedHostKey) {
      endLine(false)
      const {pinnedKeyMessage} = await import('../lib/ssh/index.js')
      process.stderr.write(`${colors(process.stderr).yellow('Warning:')} ${pinnedKeyMessage(options.homelab.root, options.host.name, connection.hostKeyFingerprint, connection.pinnedHostKey.file)}\n`)
    }

    return connection
  } finally {
    endLine(true)
  }
}
