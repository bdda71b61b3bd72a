import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'

/** The value types sops writes into `ENC[…,type:<t>]` (sops `aes/cipher.go`). */
export type SopsValueType = 'bool' | 'comment' | 'float' | 'int' | 'str' | 'time'

/** The parts of one `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` string (base64 decoded). */
export interface EncParts {
  data: Buffer
  iv: Buffer
  tag: Buffer
  type: string
}

const ENC_RE = /^ENC\[AES256_GCM,data:(.*),iv:(.+),tag:(.+),type:(.+)\]$/
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/

/** True when the string has the shape of a sops encrypted value (`ENC[AES256_GCM,…]`). */
export function looksEncrypted(value: string): boolean {
  return value.startsWith('ENC[')
}

/**
 * Parses an `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]` string (sops `aes/cipher.go`
 * encryptedValueRegex). @returns undefined when the string is malformed.
 */
export function parseEnc(value: string): EncParts | undefined {
  const m = ENC_RE.exec(value)
  if (!m || ![m[1], m[2], m[3]].every((s) => B64_RE.test(s))) return undefined
  const iv = Buffer.from(m[2], 'base64')
  const tag = Buffer.from(m[3], 'base64')
  if (iv.length === 0 || tag.length !== 16) return undefined
  return {data: Buffer.from(m[1], 'base64'), iv, tag, type: m[4]}
}

/**
 * Encrypts one value as sops does: AES-256-GCM with the 32-byte data key, a 32-byte IV (random
 * unless given, for IV reuse of unchanged values), `aad` as additional data, 16-byte tag.
 *
 * @param plaintext the value's bytes in sops' typed form (see go-values.ts)
 * @param aad the key path joined with `:` plus a trailing `:` (or `lastmodified` for the MAC)
 * @returns `ENC[AES256_GCM,data:…,iv:…,tag:…,type:<type>]`
 */
export function encryptValue(dataKey: Uint8Array, plaintext: Buffer, aad: string, type: SopsValueType, iv: Buffer = randomBytes(32)): string {
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const tag = cipher.getAuthTag()
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${tag.toString('base64')},type:${type}]`
}

/**
 * Decrypts parsed `ENC[…]` parts. @returns the plaintext bytes, or undefined when the tag does
 * not verify (wrong data key, wrong additional data, or tampered data).
 */
export function decryptParts(dataKey: Uint8Array, parts: EncParts, aad: string): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, parts.iv)
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(parts.tag)
    return Buffer.concat([decipher.update(parts.data), decipher.final()])
  } catch {
    return undefined
  }
}
