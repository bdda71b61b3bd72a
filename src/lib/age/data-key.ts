import {HomelabError} from '../errors.js'
import type {AgeIdentity} from './identities.js'
import {armorAgeFile, dearmorAgeFile, openAgeFile, sealAgeFile} from './age-file.js'
import {NativeX25519Identity, NativeX25519Recipient} from './x25519-native.js'

let typage: typeof import('age-encryption') | undefined
/** typage, imported once on first use (keeps start-up light). */
async function loadTypage(): Promise<typeof import('age-encryption')> {
  typage ??= await import('age-encryption')
  return typage
}

const identityCache = new Map<string, NativeX25519Identity>()
const recipientCache = new Map<string, NativeX25519Recipient>()

/**
 * Encrypts a SOPS data key (or a Shamir share of it) to one age recipient, as sops
 * `age/keysource.go` Encrypt does: one age file per recipient, ASCII-armored (64-character base64
 * lines, `-----END AGE ENCRYPTED FILE-----` and a newline). Written by the native fast path
 * (age-file.ts); typage and the age CLI read it (tested).
 *
 * @param dataKey the raw bytes (32 for a data key)
 * @param recipient `age1…` (X25519)
 * @throws Error when the recipient is malformed
 */
export async function wrapDataKey(dataKey: Uint8Array, recipient: string): Promise<string> {
  let native = recipientCache.get(recipient)
  if (!native) recipientCache.set(recipient, (native = new NativeX25519Recipient(recipient)))
  return armorAgeFile(sealAgeFile(dataKey, [native]))
}

/**
 * The same as {@link wrapDataKey} through typage's own Encrypter (the reference implementation;
 * used by tests to compare).
 */
export async function wrapDataKeyWithTypage(dataKey: Uint8Array, recipient: string): Promise<string> {
  const {armor, Encrypter} = await loadTypage()
  const encrypter = new Encrypter()
  encrypter.addRecipient(recipient)
  return armor.encode(await encrypter.encrypt(dataKey))
}

/** Thrown when no identity opens any of the given age files. */
export class AgeDecryptError extends HomelabError {}

/**
 * Decrypts an armored age file (the `enc` of a SOPS age stanza) with one identity: the native
 * fast path for the usual shape, typage's Decrypter for anything else.
 * @returns the plaintext bytes, or undefined when this identity is not a recipient of the file
 * @throws AgeDecryptError when the armor or the age header is malformed
 */
export async function unwrapDataKey(armored: string, identity: AgeIdentity): Promise<Uint8Array | undefined> {
  let native = identityCache.get(identity.identity)
  if (!native) identityCache.set(identity.identity, (native = new NativeX25519Identity(identity.identity)))
  const fast = dearmorAgeFile(armored)
  if (fast) {
    let opened: Uint8Array | null | undefined
    try {
      opened = openAgeFile(fast, native)
    } catch (error) {
      throw new AgeDecryptError(`cannot decrypt age file: ${(error as Error).message}`, {cause: error})
    }

    if (opened !== undefined) return opened ?? undefined
  }

  const {armor, Decrypter} = await loadTypage()
  let raw: Uint8Array
  try {
    raw = armor.decode(armored)
  } catch (error) {
    throw new AgeDecryptError(`malformed age armor: ${(error as Error).message}`, {cause: error})
  }

  const decrypter = new Decrypter()
  decrypter.addIdentity(native as never)
  try {
    return await decrypter.decrypt(raw, 'uint8array')
  } catch (error) {
    const message = (error as Error).message
    if (/no identity matched|incorrect identity|failed to decrypt/i.test(message)) return undefined
    throw new AgeDecryptError(`cannot decrypt age file: ${message}`, {cause: error})
  }
}
