import {createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual} from 'node:crypto'

import type {NativeX25519Identity, NativeX25519Recipient, StanzaLike} from './x25519-native.js'

/**
 * A small-file fast path for the age v1 format (https://age-encryption.org/v1; Go
 * `filippo.io/age` age.go, format.go, internal/stream) with X25519 stanzas only, on Node's native
 * crypto: header with `-> X25519` stanzas and its HMAC-SHA-256, a 16-byte nonce, and the payload
 * as ChaCha20-Poly1305 STREAM chunks of 64 KiB. SOPS data keys are 32 bytes, so one chunk.
 *
 * typage (`age-encryption`) stays the reference: {@link openAgeFile} returns undefined for any
 * header it does not handle and the caller then decrypts with typage; the tests check that typage
 * and the `age` CLI read what {@link sealAgeFile} writes.
 */

const INTRO = 'age-encryption.org/v1\n'
const CHUNK = 64 * 1024

const b64nopad = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '')

function b64strict(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*$/.test(s)) return undefined
  const out = Buffer.from(s, 'base64')
  return b64nopad(out) === s ? out : undefined
}

function hmacKey(fileKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32))
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeUIntBE(counter, 5, 6)
  nonce[11] = last ? 1 : 0
  return nonce
}

/**
 * Encrypts `plaintext` to the recipients as a binary age file (not armored).
 * @returns the age file bytes
 */
export function sealAgeFile(plaintext: Uint8Array, recipients: readonly NativeX25519Recipient[]): Buffer {
  const fileKey = randomBytes(16)
  let header = INTRO
  for (const r of recipients) {
    for (const s of r.wrapWith(fileKey, (args, body) => ({args, body}))) {
      header += `-> ${s.args.join(' ')}\n`
      const body = b64nopad(s.body)
      for (let i = 0; i <= body.length; i += 64) header += `${body.slice(i, i + 64)}\n`
    }
  }

  header += '---'
  const mac = createHmac('sha256', hmacKey(fileKey)).update(header).digest()
  header += ` ${b64nopad(mac)}\n`
  const nonce = randomBytes(16)
  const streamKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32))
  const chunks: Buffer[] = [Buffer.from(header, 'latin1'), nonce]
  const count = Math.max(1, Math.ceil(plaintext.length / CHUNK))
  for (let i = 0; i < count; i++) {
    const cipher = createCipheriv('chacha20-poly1305', streamKey, chunkNonce(i, i === count - 1), {authTagLength: 16})
    chunks.push(cipher.update(plaintext.subarray(i * CHUNK, (i + 1) * CHUNK)), cipher.final(), cipher.getAuthTag())
  }

  return Buffer.concat(chunks)
}

/**
 * Decrypts a binary age file whose stanzas an identity opens.
 * @returns the plaintext; null when no X25519 stanza opens with the identity; undefined when the
 *   file is not in the shape this fast path reads (the caller falls back to typage)
 * @throws Error when the header MAC or a payload chunk does not verify (a damaged file)
 */
export function openAgeFile(file: Uint8Array, identity: NativeX25519Identity): Uint8Array | null | undefined {
  const buf = Buffer.from(file)
  const end = buf.indexOf('\n---', 0, 'latin1')
  if (end < 0) return undefined
  const eol = buf.indexOf(0x0a, end + 1)
  if (eol < 0) return undefined
  const text = buf.subarray(0, end + 1).toString('latin1')
  if (!text.startsWith(INTRO)) return undefined
  const lines = text.slice(INTRO.length).split('\n').slice(0, -1)
  const stanzas: StanzaLike[] = []
  for (let i = 0; i < lines.length; ) {
    const head = lines[i++]
    if (!head.startsWith('-> ')) return undefined
    const args = head.slice(3).split(' ')
    let body = ''
    for (;;) {
      if (i >= lines.length) return undefined
      const line = lines[i++]
      if (line.length > 64) return undefined
      body += line
      if (line.length < 64) break
    }

    const bytes = b64strict(body)
    if (!bytes) return undefined
    stanzas.push({args, body: new Uint8Array(bytes)})
  }

  const macLine = buf.subarray(end + 1, eol).toString('latin1')
  const macMatch = /^--- ([A-Za-z0-9+/]{43})$/.exec(macLine)
  if (!macMatch) return undefined
  const fileKey = identity.unwrapFileKey(stanzas)
  if (fileKey === null) return null
  const mac = createHmac('sha256', hmacKey(fileKey)).update(buf.subarray(0, end + 4)).digest()
  const stored = b64strict(macMatch[1])
  if (!stored || stored.length !== 32 || !timingSafeEqual(mac, stored)) throw new Error('bad header MAC')
  const payload = buf.subarray(eol + 1)
  if (payload.length < 16 + 16) throw new Error('truncated payload')
  const streamKey = Buffer.from(hkdfSync('sha256', fileKey, payload.subarray(0, 16), 'payload', 32))
  const body = payload.subarray(16)
  const out: Buffer[] = []
  const count = Math.max(1, Math.ceil(body.length / (CHUNK + 16)))
  for (let i = 0; i < count; i++) {
    const chunk = body.subarray(i * (CHUNK + 16), (i + 1) * (CHUNK + 16))
    if (chunk.length < 16) throw new Error('truncated payload')
    const decipher = createDecipheriv('chacha20-poly1305', streamKey, chunkNonce(i, i === count - 1), {authTagLength: 16})
    decipher.setAuthTag(chunk.subarray(chunk.length - 16))
    out.push(decipher.update(chunk.subarray(0, chunk.length - 16)), decipher.final())
  }

  return new Uint8Array(Buffer.concat(out))
}

/** Armors an age file: PEM-like, standard padded base64 in 64-character lines (age `armor/armor.go`). */
export function armorAgeFile(file: Uint8Array): string {
  const b64 = Buffer.from(file).toString('base64')
  const lines: string[] = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return `-----BEGIN AGE ENCRYPTED FILE-----\n${lines.join('\n')}\n-----END AGE ENCRYPTED FILE-----\n`
}

/**
 * Reads an armored age file strictly (as Go's armor reader: 64-character lines, only the last
 * shorter, no blank lines; surrounding whitespace and CRLF tolerated).
 * @returns the bytes, or undefined when the armor is not in that shape
 */
export function dearmorAgeFile(text: string): Buffer | undefined {
  const lines = text.trim().split(/\r?\n/)
  if (lines[0] !== '-----BEGIN AGE ENCRYPTED FILE-----' || lines.at(-1) !== '-----END AGE ENCRYPTED FILE-----') return undefined
  const body = lines.slice(1, -1)
  if (body.length === 0 || body.slice(0, -1).some((l) => l.length !== 64) || body.at(-1)!.length > 64 || body.at(-1)!.length === 0) return undefined
  const joined = body.join('')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(joined) || joined.length % 4 !== 0) return undefined
  return Buffer.from(joined, 'base64')
}
