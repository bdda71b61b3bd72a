import {promises as fs} from 'node:fs'
import path from 'node:path'

import {UsageError} from '../errors.js'
import {checkInitValue} from './values.js'

/** Public key files looked for in `~/.ssh`, in order (OpenSSH's default identity names). */
export const DEFAULT_PUBLIC_KEYS = ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub']

/**
 * The SSH public key for `homelab.adminSshKeys`: `given` as a key line or as the path of a
 * `.pub` file; else the first of ~/.ssh/{id_ed25519,id_ecdsa,id_rsa}.pub; else undefined.
 * @throws UsageError when `given` is neither a readable file nor an OpenSSH public key line
 */
export async function resolveSshPublicKey(options: {given?: string; homeDir: string; cwd: string}): Promise<string | undefined> {
  if (options.given !== undefined) {
    const given = options.given.trim()
    if (checkInitValue('sshPubKey', given) === undefined) return given
    const text = await fs.readFile(path.resolve(options.cwd, given), 'utf8').catch(() => undefined)
    const line = text?.split('\n').find((l) => l.trim())?.trim()
    if (line && checkInitValue('sshPubKey', line) === undefined) return line
    throw new UsageError(`--ssh-key ${given}: neither an OpenSSH public key line nor a readable .pub file`)
  }

  for (const name of DEFAULT_PUBLIC_KEYS) {
    const text = await fs.readFile(path.join(options.homeDir, '.ssh', name), 'utf8').catch(() => undefined)
    const line = text?.split('\n').find((l) => l.trim())?.trim()
    if (line && checkInitValue('sshPubKey', line) === undefined) return line
  }

  return undefined
}
