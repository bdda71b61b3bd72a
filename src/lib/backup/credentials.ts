import path from 'node:path'

import type {Homelab} from '../config/load.js'
import {ConfigError} from '../errors.js'
import type {OffsiteCredentials} from './offsite.js'

/** The R2 credentials decrypted from the repository's SOPS file, with the account they belong to. */
export interface R2Credentials extends OffsiteCredentials {
  /** `r2.account_id` when the file has it (the host's sync builds `<account>.r2.cloudflarestorage.com` from it). */
  accountId: string | undefined
  /** The SOPS file they came from, relative to the repository root. */
  file: string
}

/**
 * Decrypts `r2.access_key_id`, `r2.secret_access_key` (and `r2.account_id`) from the SOPS file
 * homelab.yaml names in `backup.offsite.credentialsFile`, with the operator's age identities
 * (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt), through the SOPS engine
 * (src/lib/sops, loaded lazily). The plaintext stays in memory.
 *
 * @throws ConfigError when the file lacks a key; the engine's errors (no identity that opens the
 *   file, MAC mismatch, missing file) as they are
 */
export async function loadR2Credentials(options: {homelab: Homelab; env: Record<string, string | undefined>; homeDir: string}): Promise<R2Credentials> {
  const {decryptSopsFile, loadIdentities} = await import('../sops/index.js')
  const rel = options.homelab.config.backup.offsite.credentialsFile
  const identities = await loadIdentities({env: options.env, homeDir: options.homeDir})
  const decrypted = await decryptSopsFile({displayName: rel, file: path.join(options.homelab.root, rel), identities})
  const r2 = (decrypted.values[0] as {r2?: Record<string, unknown>} | undefined)?.r2 ?? {}
  const value = (key: string, required: boolean): string | undefined => {
    const v = r2[key]
    if (typeof v === 'string' && v !== '') return v
    if (typeof v === 'number') return String(v)
    if (required)
      throw new ConfigError(`${rel}: r2.${key} is missing or empty`, {suggestions: [`set it with \`homelab secrets set ${rel} r2.${key}\``]})
    return undefined
  }

  return {
    accessKeyId: value('access_key_id', true)!,
    accountId: value('account_id', false),
    file: rel,
    secretAccessKey: value('secret_access_key', true)!,
  }
}
