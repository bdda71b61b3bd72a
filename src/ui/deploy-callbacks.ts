import type {DeployCallbacks} from '../lib/deploy/types.js'
import {connectionPrompts} from './host-connection.js'

/**
 * The person's side of a deploy or rollback: prompts when a person is there, else the flags.
 * The sudo password comes from `stdinPassword` (--sudo-password-stdin), HOMELAB_SUDO_PASSWORD,
 * or a hidden prompt; without any of them and without a TTY it is an error naming the options.
 */
export function deployCallbacks(options: {canPrompt: boolean; yes: boolean; env: NodeJS.ProcessEnv; stdinPassword?: string}): Omit<DeployCallbacks, 'onEvent'> {
  return {
    approve: options.yes
      ? undefined
      : async (info) => (await import('@inquirer/prompts')).confirm({default: false, message: `Activate the new system on ${info.host}?`}),
    ...connectionPrompts({...options, stdinFlag: '--sudo-password-stdin'}),
  }
}

/** Reads the first line of stdin (for --sudo-password-stdin). */
export async function readStdinLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8').split('\n')[0].replace(/\r$/, '')
}
