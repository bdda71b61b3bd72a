import type {DeployCallbacks} from '../lib/deploy/types.js'
import {UsageError} from '../lib/errors.js'

/**
 * The person's side of a deploy or rollback: prompts when a person is there, else the flags.
 * The sudo password comes from `stdinPassword` (--sudo-password-stdin), HOMELAB_SUDO_PASSWORD,
 * or a hidden prompt; without any of them and without a TTY it is an error naming the options.
 */
export function deployCallbacks(options: {canPrompt: boolean; yes: boolean; env: NodeJS.ProcessEnv; stdinPassword?: string}): Omit<DeployCallbacks, 'onEvent'> {
  const prompts = async () => import('@inquirer/prompts')
  return {
    approve: options.yes
      ? undefined
      : async (info) => (await prompts()).confirm({default: false, message: `Activate the new system on ${info.host}?`}),
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
      if (!options.canPrompt)
        throw new UsageError(`sudo on ${info.host} needs ${info.user}'s password: pass it with --sudo-password-stdin (or HOMELAB_SUDO_PASSWORD) when not running in a terminal`)
      return (await prompts()).password({mask: true, message: `sudo password for ${info.user}@${info.host}:`})
    },
  }
}

/** Reads the first line of stdin (for --sudo-password-stdin). */
export async function readStdinLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8').split('\n')[0].replace(/\r$/, '')
}
