import {promises as fs} from 'node:fs'
import path from 'node:path'
import {isMap, isScalar} from 'yaml'

import type {AgeIdentity} from '../../age/identities.js'
import {ACCESS_TOKENS_SECRET, ADMIN_PASSWORD_HASH_SECRET, DEPLOY_KEY_SECRET} from '../../config/git-access.js'
import {HomelabError} from '../../errors.js'
import {decryptSopsText, encryptDecrypted, type DecryptedSops, setNodeValue} from '../../sops/engine.js'
import {ensureScalarAt} from '../../sops/key-path.js'

/** The host secrets file (sops-nix `sops.defaultSopsFile` of nixos/homelab-module.nix). */
export const HOST_SECRETS_FILE = 'nixos/secrets/host-secrets.sops.yaml'

/** The identity given cannot decrypt the host secrets file. */
export class HostIdentityError extends HomelabError {}

/** The host secrets file decrypted with the one identity the host will get. */
export interface HostSecrets {
  /** Repository-relative path. */
  file: string
  /** Absolute path. */
  abs: string
  /** The file's text as read (the `before` of the change). */
  text: string
  decrypted: DecryptedSops
  /** The identity that decrypted it (the one copied to the host). */
  identity: AgeIdentity
}

/** The YAML key path of a sops-nix secret name: `admin/password_hash` → `admin`, `password_hash`. */
export function secretSegments(name: string): string[] {
  return name.split('/')
}

/**
 * Decrypts the host secrets file with each candidate identity alone and returns the first that
 * opens it (MAC verified): that identity is what sops-nix on the host needs in
 * /var/lib/sops-nix/key.txt.
 *
 * @param identities the candidates (from --age-key-file, or the operator's sops identities)
 * @param from what the candidates came from, for the message (e.g. `--age-key-file ~/k.txt`)
 * @throws HostIdentityError (exit 1) naming the file and the source when none decrypts it
 */
export async function openHostSecrets(root: string, identities: readonly AgeIdentity[], from: string, file = HOST_SECRETS_FILE): Promise<HostSecrets> {
  const abs = path.join(root, file)
  let text: string
  try {
    text = await fs.readFile(abs, 'utf8')
  } catch {
    throw new HostIdentityError(`${file}: missing; the host's sops-nix secrets live there (create them with homelab secrets set ${file} KEY)`)
  }

  for (const identity of identities) {
    try {
      // eslint-disable-next-line no-await-in-loop
      const decrypted = await decryptSopsText({file, identities: [identity], text})
      return {abs, decrypted, file, identity, text}
    } catch {}
  }

  throw new HostIdentityError(
    identities.length === 0
      ? `no age identity found (${from}) to give the host: its sops-nix needs one that decrypts ${file}; pass --age-key-file PATH`
      : `no identity from ${from} decrypts ${file}: the host's sops-nix could not read its secrets; pass --age-key-file with the homelab's identity`,
  )
}

/** The string value of a host secret, or undefined when absent or empty. */
export function secretValue(secrets: HostSecrets, name: string): string | undefined {
  let node: unknown = secrets.decrypted.documents[0]?.contents
  for (const segment of secretSegments(name)) {
    if (!isMap(node)) return undefined
    node = node.get(segment, true)
  }

  if (!isScalar(node) || node.value === null || node.value === undefined) return undefined
  const value = String(node.value)
  return value === '' ? undefined : value
}

/** The host secrets install sets: a new password hash and/or a new deploy key. */
export interface HostSecretValues {
  [ADMIN_PASSWORD_HASH_SECRET]?: string
  [DEPLOY_KEY_SECRET]?: string
}

/**
 * The host secrets file's new text with `values` set (same data key and recipients; untouched
 * values keep their ciphertext), or null when nothing changes.
 * @throws SopsError when a key path runs into a non-map value
 */
export function withHostSecrets(secrets: HostSecrets, values: HostSecretValues, now?: Date): string | null {
  const entries = Object.entries(values).filter((e): e is [string, string] => typeof e[1] === 'string')
  if (entries.length === 0) return null
  for (const [name, value] of entries) setNodeValue(ensureScalarAt(secrets.decrypted.documents[0], secretSegments(name), secrets.file).node, {text: value, type: 'str'})
  return encryptDecrypted(secrets.decrypted, {inPlace: true, now})
}

export {ACCESS_TOKENS_SECRET, ADMIN_PASSWORD_HASH_SECRET, DEPLOY_KEY_SECRET}
