import {randomBytes} from 'node:crypto'
import {type Document, isMap, isScalar, type Scalar} from 'yaml'

import {unwrapDataKey, wrapDataKey} from '../age/data-key.js'
import type {AgeIdentity} from '../age/identities.js'
import {decryptParts, encryptValue, parseEnc, type SopsValueType} from './cipher.js'
import {SopsError} from './errors.js'
import {formatGoFloat, type GoValue, goReadsAsNonString, goValueOfJs, parseTypedPlaintext, resolveGoPlain} from './go-values.js'
import {computeMac, decryptMac, encryptMac, type MacInput} from './mac.js'
import {type AgeStanza, metadataOfDocument, type SopsFormat, type SopsMetadata} from './metadata.js'
import {compileSelector, type EncryptionSelector, pickSelector} from './selector.js'
import {detectStyle, parseDocuments, ParseError, serializeSops, untouchedPlainSource, type WriteMetadata, type YamlStyle} from './serialize.js'
import {shamirCombine, shamirSplit} from './shamir.js'
import {type CommentVisit, TreeShapeError, walkDocument} from './tree.js'

/** The sops version this engine writes into `sops.version` (the 3.10 metadata shape). */
export const SOPS_VERSION = '3.10.2'

const GO = Symbol('homelab.sops.goValue')
type Tagged = Scalar & {[GO]?: {value: unknown; go: GoValue}}

/**
 * A decrypted SOPS file: plaintext documents (the `sops` block removed) plus what is needed to
 * write it back unchanged where nothing changed (data key, IVs of unchanged values, style).
 */
export interface DecryptedSops {
  /** The file name used in messages (and to pick the format). */
  file: string
  format: SopsFormat
  /** Plaintext yaml Documents, comments and key order kept; edit them and pass to {@link encryptDecrypted}. */
  documents: Document[]
  metadata: SopsMetadata
  /** The 32-byte data key. Never log it. */
  dataKey: Uint8Array
  style: YamlStyle
  /** IV per (key path, type, plaintext) of every value read, for byte-identical re-encryption. */
  ivs: Map<string, Buffer>
  /** The verified MAC (upper-case hex). */
  mac: string
  /** The file has the empty `kms: []` … `pgp: []` lists of sops <= 3.9 (kept on writes that keep the shape). */
  legacyEmptyLists: boolean
}

const aadOf = (path: readonly string[]) => `${path.join(':')}:`
const ivKey = (aad: string, type: string, text: string) => `${aad}\u0000${type}\u0000${text}`

/**
 * sops' typed bytes of a plaintext scalar node; null when not hashed/encrypted. An untouched plain
 * scalar from {@link parseDocuments} is resolved from its source text as go-yaml v3 does
 * (`resolve.go`, see resolveGoPlain), which the serializer writes back as it was; a changed or
 * new one from its JS value (the serializer quotes strings go-yaml v3 would read otherwise).
 */
export function goValueOfNode(node: Scalar): GoValue | null {
  // Object.is: a decrypted NaN float is not === itself, and the node still holds the ENC[...] source.
  const tagged = (node as Tagged)[GO]
  if (tagged && Object.is(tagged.value, node.value)) return tagged.go
  const tag = node.tag
  if (tag === 'tag:yaml.org,2002:str' || tag === '!!str') return node.value === null || node.value === undefined || node.value === '' ? null : {text: String(node.value), type: 'str'}
  const source = untouchedPlainSource(node)
  if (source !== undefined) return resolveGoPlain(source)
  if (typeof node.value === 'string') return node.value === '' ? null : {text: node.value, type: 'str'}
  return goValueOfJs(node.value)
}

/** Puts a decrypted typed value into a scalar node so YAML/JSON output and a later re-encryption keep its type. */
export function setNodeValue(node: Scalar, go: GoValue): void {
  let value: unknown
  delete (node as {minFractionDigits?: number}).minFractionDigits
  node.tag = undefined
  switch (go.type) {
    case 'bool': {
      value = go.text === 'True'
      node.type = 'PLAIN'
      break
    }

    case 'int': {
      const big = BigInt(go.text)
      value = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(go.text) : big
      node.type = 'PLAIN'
      break
    }

    case 'float': {
      value = go.text === '+Inf' ? Infinity : go.text === '-Inf' ? -Infinity : Number(go.text)
      if (Number.isInteger(value)) (node as {minFractionDigits?: number}).minFractionDigits = 1
      node.type = 'PLAIN'
      break
    }

    case 'time': {
      value = go.text
      node.type = 'PLAIN'
      break
    }

    default: {
      value = go.text
      node.type = go.text.includes('\n') ? undefined : goReadsAsNonString(go.text) ? 'QUOTE_DOUBLE' : undefined
    }
  }

  node.value = value
  ;(node as Tagged)[GO] = {go, value}
}

/** Options for {@link decryptSopsText}. */
export interface DecryptTextOptions {
  text: string
  /** File name for messages and the format (`.json` → JSON). */
  file: string
  identities: readonly AgeIdentity[]
}

/**
 * Decrypts a SOPS YAML/JSON text (sops 3.7+, flat `age` or `key_groups`, comments, several
 * documents) and verifies its MAC (sops `sops.go` Tree.Decrypt + `cmd/sops/common` MAC check).
 *
 * @throws SopsError (one line naming the file) when: the text is not a SOPS file; no identity
 *   matches its recipients (lists them); a data key stanza does not open; a value is malformed
 *   `ENC[...]` or does not decrypt (changed outside sops); a plaintext does not parse as its
 *   `type:` (see parseTypedPlaintext; names the key path, never the value); the MAC does not
 *   verify (MAC mismatch).
 */
export async function decryptSopsText(options: DecryptTextOptions): Promise<DecryptedSops> {
  const {file, identities, text} = options
  const format: SopsFormat = file.toLowerCase().endsWith('.json') ? 'json' : 'yaml'
  let docs: Document[]
  try {
    docs = parseDocuments(text, format)
  } catch (error) {
    const line = error instanceof ParseError ? `:${error.line}` : ''
    throw new SopsError(`${file}${line}: not a SOPS file: ${(error as Error).message}`)
  }

  const metadata = docs.length > 0 ? metadataOfDocument(docs[0], format) : undefined
  if (!metadata)
    throw new SopsError(`${file} is not a SOPS file (no sops metadata with a mac)`, {
      suggestions: [`create it with \`homelab secrets set ${file} KEY_PATH\`, or check the file name`],
    })
  const dataKey = await openDataKey(metadata, identities, file)
  const selector = compileSelector(metadata, file)
  const macInputs: MacInput[] = []
  const ivs = new Map<string, Buffer>()
  const show = (path: readonly string[]) => path.join('.') || '(top level)'
  for (const doc of docs) {
    try {
      walkDocument(
        doc,
        ({node, path}) => {
          const encrypted = selector.value(path)
          if (!encrypted) {
            const go = goValueOfNode(node)
            if (go) macInputs.push({encrypted: false, text: go.text})
            return
          }

          if (node.value === null || node.value === undefined || node.value === '') return
          if (typeof node.value !== 'string' || !node.value.startsWith('ENC['))
            throw new SopsError(`${file}: the value at ${show(path)} should be encrypted but is not (the file was changed outside sops)`, {
              suggestions: ['restore the file from git, or set the value again with `homelab secrets set`'],
            })
          const parts = parseEnc(node.value)
          if (!parts || !['str', 'int', 'float', 'bool', 'time'].includes(parts.type))
            throw new SopsError(`${file}: malformed ENC[...] value at ${show(path)}`, {suggestions: ['restore the file from git']})
          const aad = aadOf(path)
          const plain = decryptParts(dataKey, parts, aad)
          if (!plain)
            throw new SopsError(`${file}: the value at ${show(path)} does not decrypt: it was changed outside sops or the file is damaged`, {
              suggestions: ['restore the file from git'],
            })
          const typed = parseTypedPlaintext(parts.type, plain.toString('utf8'))
          if (typed === undefined)
            throw new SopsError(`${file}: the value at ${show(path)} is not a valid ${parts.type}: its type: field was changed outside sops`, {
              suggestions: ['restore the file from git; nothing was written'],
            })
          const go: GoValue = {text: typed, type: parts.type as GoValue['type']}
          ivs.set(ivKey(aad, go.type, go.text), parts.iv)
          macInputs.push({encrypted: true, text: go.text})
          setNodeValue(node, go)
        },
        (slot) => decryptComment(slot, dataKey, ivs),
      )
    } catch (error) {
      if (error instanceof TreeShapeError) throw new SopsError(`${file}: ${error.message}`)
      throw error
    }
  }

  const mac = computeMac(macInputs, metadata.macOnlyEncrypted)
  const stored = decryptMac(dataKey, metadata.mac, metadata.lastmodified)
  if (stored === undefined)
    throw new SopsError(`${file}: MAC mismatch: the stored MAC does not decrypt (mac or lastmodified changed outside sops)`, {
      suggestions: ['restore the file from git'],
    })
  if (stored.toUpperCase() !== mac)
    throw new SopsError(`${file}: MAC mismatch: the values were changed outside sops`, {suggestions: ['restore the file from git']})
  for (const doc of docs) if (isMap(doc.contents)) doc.contents.delete('sops')
  const legacyEmptyLists = metadata.otherKeyCount === 0 && /^\s+kms: \[\]$/m.test(text) && /^\s+pgp: \[\]$/m.test(text)
  return {dataKey, documents: docs, file, format, ivs, legacyEmptyLists, mac, metadata, style: detectStyle(text)}
}

function decryptComment(slot: CommentVisit, dataKey: Uint8Array, ivs: Map<string, Buffer>): void {
  const text = slot.holder[slot.field]
  if (!text) return
  const lines = text.split('\n').map((line) => {
    if (!line.startsWith('ENC[AES256_GCM,')) return line
    const parts = parseEnc(line)
    if (!parts || parts.type !== 'comment') return line
    for (let n = slot.path.length; n >= 0; n--) {
      const aad = aadOf(slot.path.slice(0, n))
      const plain = decryptParts(dataKey, parts, aad)
      if (plain) {
        const value = plain.toString('utf8')
        ivs.set(ivKey(aadOf(slot.path), 'comment', value), parts.iv)
        return value
      }
    }

    return line // as sops: assume a comment it cannot decrypt was never encrypted
  })
  slot.holder[slot.field] = lines.join('\n')
}

/**
 * Opens the data key with the identities (age stanzas whose recipient is one of theirs; with 2+
 * key groups, Shamir shares from `shamir_threshold` groups).
 * @throws SopsError when no identity matches (lists the file's recipients) or no stanza opens
 */
export async function openDataKey(metadata: SopsMetadata, identities: readonly AgeIdentity[], file: string): Promise<Uint8Array> {
  const mine = new Map(identities.map((id) => [id.recipient, id]))
  const noMatch = () =>
    new SopsError(`no age identity matches the recipients of ${file}: ${metadata.recipients.join(', ') || '(none: the file has no age recipient)'}`, {
      suggestions: [
        identities.length === 0
          ? 'no age identity found: set SOPS_AGE_KEY_FILE, or put your key in ~/.config/sops/age/keys.txt'
          : `your identities are for: ${[...mine.keys()].join(', ')}`,
      ],
    })
  const shares: Uint8Array[] = []
  for (const group of metadata.keyGroups) {
    let opened: Uint8Array | undefined
    for (const stanza of group) {
      const id = mine.get(stanza.recipient)
      if (!id) continue
      try {
        opened = await unwrapDataKey(stanza.enc, id)
      } catch (error) {
        throw new SopsError(`${file}: the age stanza for ${stanza.recipient} is malformed: ${(error as Error).message}`)
      }

      if (opened) break
      throw new SopsError(`${file}: the data key for ${stanza.recipient} does not open with the identity from ${id.source}`, {
        suggestions: ['the file may have been changed outside sops; restore it from git'],
      })
    }

    if (opened) shares.push(opened)
  }

  if (shares.length === 0) throw noMatch()
  if (metadata.keyGroups.length <= 1) {
    if (shares[0].length !== 32) throw new SopsError(`${file}: the data key is ${shares[0].length} bytes, not 32`)
    return shares[0]
  }

  const threshold = metadata.shamirThreshold ?? metadata.keyGroups.length
  if (shares.length < threshold)
    throw new SopsError(`${file}: only ${shares.length} of the ${threshold} key groups needed open with your identities (recipients: ${metadata.recipients.join(', ')})`)
  const key = shamirCombine(shares.slice(0, threshold))
  if (key.length !== 32) throw new SopsError(`${file}: the combined data key is ${key.length} bytes, not 32`)
  return key
}

/**
 * Encrypts a data key (or its Shamir shares for 2+ groups) to the age recipients of each key group.
 * @returns the stanzas per group, in the given order
 */
export async function wrapForGroups(dataKey: Uint8Array, groups: readonly (readonly string[])[], shamirThreshold?: number, keep?: readonly AgeStanza[]): Promise<AgeStanza[][]> {
  const reuse = new Map((keep ?? []).map((s) => [s.recipient, s]))
  const parts = groups.length > 1 ? shamirSplit(dataKey, groups.length, shamirThreshold ?? groups.length) : [dataKey]
  return Promise.all(
    groups.map((group, g) =>
      Promise.all(group.map(async (recipient) => (groups.length === 1 && reuse.has(recipient) ? reuse.get(recipient)! : {enc: await wrapDataKey(parts[g], recipient), recipient}))),
    ),
  )
}

/** What {@link encryptDocuments} needs besides the documents. */
export interface EncryptDocumentsOptions {
  documents: readonly Document[]
  format: SopsFormat
  style: YamlStyle
  dataKey: Uint8Array
  /** IVs of values read from the file (kept for unchanged values). */
  ivs?: Map<string, Buffer>
  selector: EncryptionSelector
  macOnlyEncrypted?: boolean
  keyGroups: AgeStanza[][]
  shamirThreshold?: number
  version: string
  /** When the file was last modified, e.g. `2024-11-12T13:33:42Z` (the MAC's additional data). */
  lastmodified: string
  legacyEmptyLists?: boolean
  /** File name for messages. */
  file: string
  /** Encrypt the given documents in place instead of copies (faster; they hold ciphertext afterwards). */
  inPlace?: boolean
}

/**
 * Encrypts plaintext documents into SOPS text (sops `sops.go` Tree.Encrypt, `stores/yaml`):
 * every selected non-empty value as `ENC[AES256_GCM,…]` with its key path as additional data (an
 * empty string stays an unencrypted `""`, as sops writes it), the
 * selected comments, the MAC over every value, and the `sops` block. The input documents are not changed.
 * @throws SopsError for documents SOPS cannot hold (aliases, a top level that is not a mapping)
 */
export function encryptDocuments(options: EncryptDocumentsOptions): string {
  const {dataKey, file} = options
  const ivs = options.ivs ?? new Map<string, Buffer>()
  const selector = compileSelector(options.selector, file)
  const macInputs: MacInput[] = []
  const docs = options.inPlace ? [...options.documents] : options.documents.map((d) => d.clone())
  const encrypt = (text: string, aad: string, type: SopsValueType) => encryptValue(dataKey, Buffer.from(text, 'utf8'), aad, type, ivs.get(ivKey(aad, type, text)) ?? randomBytes(32))
  for (const doc of docs) {
    try {
      walkDocument(
        doc,
        ({node, path}) => {
          if (isScalar(node) && path.length === 1 && path[0] === 'sops') return
          const go = goValueOfNode(node)
          // sops leaves an empty string as it is (not encrypted, not hashed): `ENC[…,data:,…]`
          // does not match sops' own ENC pattern, so sops and Flux could not read the file.
          if (!go || (go.type === 'str' && go.text === '')) return
          const encrypted = selector.value(path)
          macInputs.push({encrypted, text: go.text})
          if (!encrypted) return
          const enc = encrypt(go.text, aadOf(path), go.type)
          node.value = enc
          node.type = 'PLAIN'
          node.tag = undefined
          delete (node as {minFractionDigits?: number}).minFractionDigits
          delete (node as Tagged)[GO]
        },
        (slot) => {
          const text = slot.holder[slot.field]
          if (!text) return
          slot.holder[slot.field] = text
            .split('\n')
            .map((line) => (line === '' || line.startsWith('ENC[AES256_GCM,') || !selector.comment(slot.path, line) ? line : encrypt(line, aadOf(slot.path), 'comment')))
            .join('\n')
        },
      )
    } catch (error) {
      if (error instanceof TreeShapeError) throw new SopsError(`${file}: ${error.message}`)
      throw error
    }
  }

  const mac = computeMac(macInputs, Boolean(options.macOnlyEncrypted))
  const meta: WriteMetadata = {
    ...pickSelector(options.selector),
    keyGroups: options.keyGroups,
    lastmodified: options.lastmodified,
    legacyEmptyLists: options.legacyEmptyLists,
    mac: encryptMac(dataKey, mac, options.lastmodified),
    macOnlyEncrypted: options.macOnlyEncrypted,
    shamirThreshold: options.shamirThreshold,
    version: options.version,
  }
  return serializeSops(docs, options.format, options.style, meta)
}

/** `lastmodified` for a write: RFC3339 UTC, whole seconds (`2024-11-12T13:33:42Z`). */
export function lastModifiedOf(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Options for {@link encryptDecrypted}. */
export interface ReencryptOptions {
  /** New data key (rotate); default: the file's own, with IVs of unchanged values kept. */
  dataKey?: Uint8Array
  /** New age recipients per key group; default: the file's own stanzas. */
  keyGroups?: AgeStanza[][]
  now?: Date
  /** Write the 3.10 metadata shape and this engine's version (rotate); default keeps the file's. */
  normalizeMetadata?: boolean
  /** Encrypt `decrypted.documents` in place (they hold ciphertext afterwards): for a last write. */
  inPlace?: boolean
}

/**
 * Encrypts a decrypted file's (possibly edited) documents back into SOPS text with the same data
 * key, recipients and selector; unchanged values keep their IV so their lines stay byte-identical.
 */
export function encryptDecrypted(decrypted: DecryptedSops, options: ReencryptOptions = {}): string {
  const meta = decrypted.metadata
  const rotating = options.dataKey !== undefined
  const legacy = !options.normalizeMetadata && decrypted.legacyEmptyLists
  return encryptDocuments({
    dataKey: options.dataKey ?? decrypted.dataKey,
    documents: decrypted.documents,
    file: decrypted.file,
    format: decrypted.format,
    inPlace: options.inPlace,
    ivs: rotating ? undefined : decrypted.ivs,
    keyGroups: options.keyGroups ?? meta.keyGroups,
    lastmodified: lastModifiedOf(options.now ?? new Date()),
    legacyEmptyLists: legacy,
    macOnlyEncrypted: meta.macOnlyEncrypted,
    selector: pickSelector(meta),
    shamirThreshold: meta.shamirThreshold,
    style: decrypted.style,
    version: options.normalizeMetadata || !meta.version ? SOPS_VERSION : meta.version,
  })
}

/** Re-export for callers formatting float values like sops. */
export {formatGoFloat}
