import {HomelabError} from '../errors.js'
import type {AgeIdentity} from './identities.js'

/**
 * Encrypts a SOPS data key (or a Shamir share of it) to one age recipient, as sops
 * `age/keysource.go` Encrypt does: one age file per recipient, ASCII-armored (64-character base64
 * lines, `-----END AGE ENCRYPTED FILE-----` and a newline).
 *
 * @param dataKey the raw bytes (32 for a data key)
 * @param recipient `age1…`
 * @throws Error from typage when the recipient is malformed
 */
export async function wrapDataKey(dataKey: Uint8Array, recipient: string): Promise<string> {
  const {armor, Encrypter} = await import('age-encryption')
  const encrypter = new Encrypter()
  encrypter.addRecipient(recipient)
  return armor.encode(await encrypter.encrypt(dataKey))
}

/** Thrown when no identity opens any of the given age files. */
export class AgeDecryptError extends HomelabError {}

/**
 * Decrypts an armored age file (the `enc` of a SOPS age stanza) with one identity.
 * @returns the plaintext bytes, or undefined when this identity is not a recipient of the file
 * @throws AgeDecryptError when the armor or the age header is malformed
 */
export async function unwrapDataKey(armored: string, identity: AgeIdentity): Promise<Uint8Array | undefined> {
  const {armor, Decrypter} = await import('age-encryption')
  let raw: Uint8Array
  try {
    raw = armor.decode(armored)
  } catch (error) {
    throw new AgeDecryptError(`malformed age armor: ${(error as Error).message}`, {cause: error})
  }

  const decrypter = new Decrypter()
  decrypter.addIdentity(identity.identity)
  try {
    return await decrypter.decrypt(raw, 'uint8array')
  } catch (error) {
    const message = (error as Error).message
    if (/no identity matched|incorrect identity|failed to decrypt/i.test(message)) return undefined
    throw new AgeDecryptError(`cannot decrypt age file: ${message}`, {cause: error})
  }
}
