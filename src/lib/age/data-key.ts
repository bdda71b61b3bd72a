import type {Decrypter, Encrypter} from 'age-encryption'

import {HomelabError} from '../errors.js'
import type {AgeIdentity} from './identities.js'
import {loadTypage} from './typage.js'

/**
 * The data-key layer of SOPS files on typage (`age-encryption`): its Encrypter, Decrypter and
 * armor, nothing hand-written. One Encrypter per recipient and one Decrypter per identity are
 * kept for the life of the process (both are reusable for many files; the Decrypter's X25519
 * identity derives its public key once instead of once per file).
 */
const encrypters = new Map<string, Encrypter>()
const decrypters = new Map<string, Decrypter>()

/**
 * Encrypts a SOPS data key (or a Shamir share of it) to one age recipient, as sops
 * `age/keysource.go` Encrypt does: one age file per recipient (typage `Encrypter`), ASCII-armored
 * by typage `armor.encode` (64-character base64 lines, `-----END AGE ENCRYPTED FILE-----` and a
 * newline). The age CLI and sops read it (tested).
 *
 * @param dataKey the raw bytes (32 for a data key)
 * @param recipient `age1…` (X25519; typage's other recipient types work too)
 * @returns the armored age file
 * @throws Error when the recipient is malformed (typage's message)
 */
export async function wrapDataKey(dataKey: Uint8Array, recipient: string): Promise<string> {
  const {armor, Encrypter} = await loadTypage()
  let encrypter = encrypters.get(recipient)
  if (!encrypter) {
    encrypter = new Encrypter()
    encrypter.addRecipient(recipient)
    encrypters.set(recipient, encrypter)
  }

  return armor.encode(await encrypter.encrypt(dataKey))
}

/** Thrown when an age file is malformed or damaged (not when it is simply for someone else). */
export class AgeDecryptError extends HomelabError {}

/**
 * Decrypts an armored age file (the `enc` of a SOPS age stanza) with one identity: typage
 * `armor.decode` (strict, as Go's armor reader) and its `Decrypter`.
 * @returns the plaintext bytes, or undefined when this identity is not a recipient of the file
 * @throws AgeDecryptError when the armor, the age header, its MAC or the payload is malformed
 */
export async function unwrapDataKey(armored: string, identity: AgeIdentity): Promise<Uint8Array | undefined> {
  const {armor, Decrypter} = await loadTypage()
  let raw: Uint8Array
  try {
    raw = armor.decode(armored)
  } catch (error) {
    throw new AgeDecryptError(`malformed age armor: ${(error as Error).message}`, {cause: error})
  }

  let decrypter = decrypters.get(identity.identity)
  if (!decrypter) {
    decrypter = new Decrypter()
    decrypter.addIdentity(identity.identity)
    decrypters.set(identity.identity, decrypter)
  }

  try {
    return await decrypter.decrypt(raw, 'uint8array')
  } catch (error) {
    const message = (error as Error).message
    if (/no identity matched/i.test(message)) return undefined
    throw new AgeDecryptError(`cannot decrypt age file: ${message}`, {cause: error})
  }
}
