import {promises as fs} from 'node:fs'
import path from 'node:path'

import {HomelabError} from '../errors.js'
import {loadTypage} from './typage.js'

/** An age X25519 identity and where it came from. */
export interface AgeIdentity {
  /** The private key, `AGE-SECRET-KEY-1…`. Never log it. */
  identity: string
  /** Its recipient, `age1…`. */
  recipient: string
  /** Where it was read from, for messages: `SOPS_AGE_KEY`, or a file path with the line number. */
  source: string
}

/** An identity source cannot be read or holds a malformed line. */
export class AgeIdentityError extends HomelabError {}

/** Options for {@link loadIdentities}: the environment and home folder to look in (no process globals). */
export interface LoadIdentitiesOptions {
  env: Record<string, string | undefined>
  /** The operator's home folder (for `~/.config/sops/age/keys.txt`). */
  homeDir: string
}

/**
 * Loads the age identities sops would use (getsops/sops `age/keysource.go` loadIdentities): the
 * contents of `SOPS_AGE_KEY`, the file `SOPS_AGE_KEY_FILE`, and the user key file
 * `$XDG_CONFIG_HOME/sops/age/keys.txt` (else `~/.config/sops/age/keys.txt`); all that exist, in
 * that order, without duplicates. Returns [] when there are none.
 *
 * @throws AgeIdentityError when `SOPS_AGE_KEY_FILE` names an unreadable file, or a source holds a
 *   line that is neither a comment nor an X25519 identity (the message names source and line, never the key).
 */
export async function loadIdentities(options: LoadIdentitiesOptions): Promise<AgeIdentity[]> {
  const out: AgeIdentity[] = []
  const {env} = options
  if (env.SOPS_AGE_KEY) out.push(...(await parseIdentities(env.SOPS_AGE_KEY, 'SOPS_AGE_KEY')))
  if (env.SOPS_AGE_KEY_FILE) {
    let text: string
    try {
      text = await fs.readFile(env.SOPS_AGE_KEY_FILE, 'utf8')
    } catch (error) {
      throw new AgeIdentityError(`cannot read SOPS_AGE_KEY_FILE ${env.SOPS_AGE_KEY_FILE}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        cause: error,
        suggestions: ['point SOPS_AGE_KEY_FILE at your age key file, or unset it'],
      })
    }

    out.push(...(await parseIdentities(text, env.SOPS_AGE_KEY_FILE)))
  }

  const userFile = defaultKeyFile(options)
  try {
    const text = await fs.readFile(userFile, 'utf8')
    out.push(...(await parseIdentities(text, userFile)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof AgeIdentityError)) throw error
    if (error instanceof AgeIdentityError) throw error
  }

  const seen = new Set<string>()
  return out.filter((id) => (seen.has(id.identity) ? false : (seen.add(id.identity), true)))
}

/** The user key file sops reads: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`. */
export function defaultKeyFile(options: LoadIdentitiesOptions): string {
  const configDir = options.env.XDG_CONFIG_HOME || path.join(options.homeDir, '.config')
  return path.join(configDir, 'sops', 'age', 'keys.txt')
}

/** Recipients already derived, by identity (typage `identityToRecipient` costs a scalar multiplication). */
const recipients = new Map<string, string>()

/** The recipient (`age1…`) of an identity, through typage `identityToRecipient`, cached. @throws Error when malformed */
async function recipientOf(identity: string): Promise<string> {
  let recipient = recipients.get(identity)
  if (recipient === undefined) {
    const {identityToRecipient} = await loadTypage()
    recipient = await identityToRecipient(identity)
    recipients.set(identity, recipient)
  }

  return recipient
}

/**
 * Parses an age key file (age-keygen format: `#` comments, one `AGE-SECRET-KEY-1…` per line);
 * each recipient comes from typage `identityToRecipient`.
 * @throws AgeIdentityError naming `source:line` for a malformed line (the line itself is not shown).
 */
export async function parseIdentities(text: string, source: string): Promise<AgeIdentity[]> {
  const out: AgeIdentity[] = []
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(line))
      throw new AgeIdentityError(`${source}:${i + 1}: not an age X25519 identity (AGE-SECRET-KEY-1…)`, {
        suggestions: ['an age key file holds comment lines and AGE-SECRET-KEY-1… lines only (age-keygen writes one)'],
      })
    let recipient: string
    try {
      recipient = await recipientOf(line)
    } catch {
      throw new AgeIdentityError(`${source}:${i + 1}: malformed age identity`)
    }

    out.push({identity: line, recipient, source: `${source}:${i + 1}`})
  }

  return out
}

/**
 * Generates a new age X25519 identity with typage `generateX25519Identity` (the encoding
 * age-keygen writes; tests check the age CLI agrees), readable by age 1.x and sops.
 * @returns the identity and its recipient, source `generated`.
 */
export async function generateIdentity(): Promise<AgeIdentity> {
  const {generateX25519Identity} = await loadTypage()
  const identity = await generateX25519Identity()
  return {identity, recipient: await recipientOf(identity), source: 'generated'}
}

/**
 * Renders an identity as age-keygen writes it: `# created: <RFC3339>`, `# public key: age1…`, the key.
 * `created` is an ISO date; the result ends with a newline.
 */
export function formatIdentity(identity: AgeIdentity, created: Date): string {
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${identity.recipient}\n${identity.identity}\n`
}
