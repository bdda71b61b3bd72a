import {createHash} from 'node:crypto'

import {decryptParts, encryptValue, parseEnc} from './cipher.js'

/** One value fed into the MAC: its sops bytes and whether it is stored encrypted. */
export interface MacInput {
  text: string
  encrypted: boolean
}

/**
 * Computes the sops MAC (sops `sops.go` Tree.Encrypt/Decrypt): SHA-512 over the bytes of every
 * non-null, non-empty leaf in document order (encrypted or not); with `mac_only_encrypted` the
 * hash is first fed SHA-256("sops") and only encrypted values. @returns upper-case hex (128 chars).
 */
export function computeMac(values: Iterable<MacInput>, macOnlyEncrypted: boolean): string {
  const hash = createHash('sha512')
  if (macOnlyEncrypted) hash.update(createHash('sha256').update('sops').digest())
  for (const value of values) {
    if (value.text === '') continue
    if (macOnlyEncrypted && !value.encrypted) continue
    hash.update(value.text, 'utf8')
  }

  return hash.digest('hex').toUpperCase()
}

/** Encrypts the MAC hex like a `str` value with `lastmodified` as additional data. */
export function encryptMac(dataKey: Uint8Array, mac: string, lastmodified: string): string {
  return encryptValue(dataKey, Buffer.from(mac, 'utf8'), lastmodified, 'str')
}

/** Decrypts the stored `sops.mac`; undefined when it is malformed or does not open with this key and `lastmodified`. */
export function decryptMac(dataKey: Uint8Array, stored: string, lastmodified: string): string | undefined {
  const parts = parseEnc(stored)
  if (!parts) return undefined
  return decryptParts(dataKey, parts, lastmodified)?.toString('utf8')
}
