import {createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject} from 'node:crypto'

/**
 * The age X25519 recipient stanza (age spec, https://age-encryption.org/v1, "X25519 recipient
 * type"; Go `x25519.go`) on Node's native crypto, plugged into typage (`age-encryption`) through
 * its documented `Identity` / `Recipient` interfaces. typage still reads and writes the age file
 * (header, HMAC, payload, armor); only the per-stanza X25519 + HKDF-SHA-256 + ChaCha20-Poly1305
 * runs natively (typage's own X25519Identity recomputes the public key with pure-JS X25519 on
 * every use, which costs milliseconds per file).
 */

const LABEL = 'age-encryption.org/v1/X25519'
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const ZERO_NONCE = Buffer.alloc(12)

function polymod(values: number[]): number {
  const gen = [0x3b_6a_57_b2, 0x26_50_8e_6d, 0x1e_a1_19_fa, 0x3d_42_33_dd, 0x2a_14_62_b3]
  let chk = 1
  for (const v of values) {
    const top = chk >>> 25
    chk = ((chk & 0x1_ff_ff_ff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i]
  }

  return chk >>> 0
}

/**
 * Decodes a Bech32 string (BIP 173; age uses it without the 90-character limit).
 * @throws Error on a bad character, checksum or padding
 */
export function bech32Decode(s: string): {hrp: string; bytes: Buffer} {
  const lower = s.toLowerCase()
  const at = lower.lastIndexOf('1')
  if (at < 1 || at + 7 > lower.length) throw new Error('invalid bech32 string')
  const hrp = lower.slice(0, at)
  const data = [...lower.slice(at + 1)].map((c) => {
    const v = CHARSET.indexOf(c)
    if (v < 0) throw new Error('invalid bech32 character')
    return v
  })
  const expanded = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)]
  if (polymod([...expanded, ...data]) !== 1) throw new Error('invalid bech32 checksum')
  const words = data.slice(0, -6)
  let acc = 0
  let bits = 0
  const out: number[] = []
  for (const w of words) {
    acc = (acc << 5) | w
    bits += 5
    while (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }

  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) throw new Error('invalid bech32 padding')
  return {bytes: Buffer.from(out), hrp}
}

/** Encodes bytes as Bech32 (BIP 173) with the human-readable part `hrp` (lower case). */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const words: number[] = []
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xff_ff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      words.push((acc >> bits) & 31)
    }
  }

  if (bits > 0) words.push((acc << (5 - bits)) & 31)
  const expanded = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)]
  const mod = polymod([...expanded, ...words, 0, 0, 0, 0, 0, 0]) ^ 1
  const checksum = Array.from({length: 6}, (_v, i) => (mod >> (5 * (5 - i))) & 31)
  return `${hrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join('')}`
}

/** The recipient (`age1…`) of an X25519 identity (`AGE-SECRET-KEY-1…`), natively. @throws Error for a malformed identity */
export function recipientOf(identity: string): string {
  return new NativeX25519Identity(identity).recipient
}

/** A new X25519 identity and its recipient, natively (same encoding as age-keygen). */
export function generateX25519(): {identity: string; recipient: string} {
  const {privateKey} = generateKeyPairSync('x25519')
  const scalar = privateKey.export({format: 'der', type: 'pkcs8'}).subarray(PKCS8_PREFIX.length)
  const identity = bech32Encode('age-secret-key-', scalar).toUpperCase()
  return {identity, recipient: recipientOf(identity)}
}

/** typage's Stanza shape (args on the first line, binary body). */
export interface StanzaLike {
  args: string[]
  body: Uint8Array
}

function stanzaKey(shared: Buffer, share: Buffer, recipient: Buffer): Buffer {
  if (shared.every((b) => b === 0)) throw new Error('X25519 shared secret is all zero')
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([share, recipient]), LABEL, 32))
}

const b64nopad = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '')

/** An age X25519 identity (`AGE-SECRET-KEY-1…`) as a typage `Identity`. */
export class NativeX25519Identity {
  private readonly privateKey: KeyObject
  private readonly publicRaw: Buffer
  /** The matching recipient, `age1…`. */
  readonly recipient: string

  /** @throws Error when `identity` is not an X25519 age identity */
  constructor(identity: string) {
    if (!identity.startsWith('AGE-SECRET-KEY-1')) throw new Error('invalid age identity')
    const {bytes, hrp} = bech32Decode(identity)
    if (hrp !== 'age-secret-key-' || bytes.length !== 32) throw new Error('invalid age identity')
    this.privateKey = createPrivateKey({format: 'der', key: Buffer.concat([PKCS8_PREFIX, bytes]), type: 'pkcs8'})
    this.publicRaw = createPublicKey(this.privateKey).export({format: 'der', type: 'spki'}).subarray(SPKI_PREFIX.length)
    this.recipient = bech32Encode('age', this.publicRaw)
  }

  /** The 32-byte file key from the first X25519 stanza this identity opens, else null (typage Identity). */
  unwrapFileKey(stanzas: StanzaLike[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'X25519') continue
      if (s.args.length !== 2) throw new Error('invalid X25519 stanza')
      const share = Buffer.from(s.args[1], 'base64')
      if (share.length !== 32 || b64nopad(share) !== s.args[1]) throw new Error('invalid X25519 stanza')
      if (s.body.length !== 32) throw new Error('invalid X25519 stanza')
      const publicKey = createPublicKey({format: 'der', key: Buffer.concat([SPKI_PREFIX, share]), type: 'spki'})
      const key = stanzaKey(diffieHellman({privateKey: this.privateKey, publicKey}), share, this.publicRaw)
      const decipher = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, {authTagLength: 16})
      decipher.setAuthTag(Buffer.from(s.body.subarray(16)))
      try {
        return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(s.body.subarray(0, 16))), decipher.final()]))
      } catch {
        // not for this identity
      }
    }

    return null
  }
}

/** An age X25519 recipient (`age1…`) as a typage `Recipient`. */
export class NativeX25519Recipient {
  private readonly publicKey: KeyObject
  private readonly publicRaw: Buffer

  /** @throws Error when `recipient` is not an X25519 age recipient */
  constructor(recipient: string) {
    const {bytes, hrp} = bech32Decode(recipient)
    if (hrp !== 'age' || bytes.length !== 32) throw new Error(`invalid age recipient ${recipient}`)
    this.publicRaw = bytes
    this.publicKey = createPublicKey({format: 'der', key: Buffer.concat([SPKI_PREFIX, bytes]), type: 'spki'})
  }

  /** One X25519 stanza wrapping `fileKey` for this recipient (typage Recipient); `make` builds typage's Stanza. */
  wrapWith<S>(fileKey: Uint8Array, make: (args: string[], body: Uint8Array) => S): S[] {
    const eph = generateKeyPairSync('x25519')
    const share = eph.publicKey.export({format: 'der', type: 'spki'}).subarray(SPKI_PREFIX.length)
    const key = stanzaKey(diffieHellman({privateKey: eph.privateKey, publicKey: this.publicKey}), share, this.publicRaw)
    const cipher = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, {authTagLength: 16})
    const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()])
    return [make(['X25519', b64nopad(share)], new Uint8Array(body))]
  }
}
