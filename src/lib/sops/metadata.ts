import path from 'node:path'
import {isMap, isScalar, parseAllDocuments, type Document, type YAMLMap} from 'yaml'

import {type EncryptionSelector, SELECTOR_FIELDS} from './selector.js'

/** The file formats the engine reads and writes (sops picks them by extension: `.json`, else YAML). */
export type SopsFormat = 'json' | 'yaml'

/** One age stanza of `sops.age` or of a key group: the recipient and the armored age file holding the data key. */
export interface AgeStanza {
  /** `age1…` */
  recipient: string
  /** ASCII-armored age file (`-----BEGIN AGE ENCRYPTED FILE-----`…), final newline included. */
  enc: string
}

/**
 * The `sops:` block of a SOPS file (sops `stores/stores.go` Metadata), as far as the CLI needs it.
 * The selector fields ({@link EncryptionSelector}) are Go RE2 strings as stored.
 */
export interface SopsMetadata extends EncryptionSelector {
  format: SopsFormat
  /** Every age recipient of the file, flat list and key groups together, in file order, unique. */
  recipients: string[]
  /** Age stanzas per key group (the flat `sops.age` list is one group). */
  keyGroups: AgeStanza[][]
  /** True when the file uses `key_groups` rather than the flat `age` list. */
  usesKeyGroups: boolean
  shamirThreshold?: number
  /** Number of non-age master keys (pgp, kms, gcp_kms, azure_kv, hc_vault) the file also names. */
  otherKeyCount: number
  /** `lastmodified` as stored (RFC3339, e.g. `2024-11-12T13:33:42Z`): the MAC's additional data. */
  lastmodified: string
  /** `mac` as stored: `ENC[AES256_GCM,…,type:str]`. */
  mac: string
  /** `version` as stored; '' when missing (files edited by other tools). */
  version: string
  macOnlyEncrypted: boolean
}

/** Format of a file by its name, as sops chooses its store: `.json` is JSON, everything else YAML here. */
export function formatOfFile(file: string): SopsFormat {
  return path.extname(file).toLowerCase() === '.json' ? 'json' : 'yaml'
}

/**
 * Cheap test Flux also uses (kustomize-controller decryptor): true when the text holds an encrypted
 * `mac` in a `sops` block (`mac: ENC[` in YAML, `"mac": "ENC[` in JSON) and parses as a SOPS file.
 */
export function isSopsFile(text: string): boolean {
  if (!text.includes('mac: ENC[') && !text.includes('"mac": "ENC[')) return false
  const format: SopsFormat = /^\s*\{/.test(text) ? 'json' : 'yaml'
  return readSopsMetadata(text, format === 'json' ? 'file.json' : 'file.yaml') !== undefined
}

/**
 * Reads the `sops:` metadata of a SOPS YAML/JSON text without any key (first document's block).
 * `file` picks the format (`.json` → JSON) and is only used for that.
 *
 * @returns the metadata, or undefined when the text does not parse or has no `sops` mapping
 *   with a `mac` (not a SOPS file).
 */
export function readSopsMetadata(text: string, file: string): SopsMetadata | undefined {
  let docs: Document[]
  try {
    docs = parseAllDocuments(text) as Document[]
  } catch {
    return undefined
  }

  if (!Array.isArray(docs) || docs.length === 0 || docs.some((d) => d.errors.length > 0)) return undefined
  return metadataOfDocument(docs[0], formatOfFile(file))
}

/** Reads the metadata from an already parsed document; undefined when it has no `sops` block with a `mac`. */
export function metadataOfDocument(doc: Document, format: SopsFormat): SopsMetadata | undefined {
  const root = doc.contents
  if (!isMap(root)) return undefined
  const node = root.get('sops', true)
  if (!isMap(node)) return undefined
  const raw = node.toJSON() as Record<string, unknown>
  const str = (key: string) => {
    const value = raw[key]
    if (value === undefined || value === null) return undefined
    return value instanceof Date ? value.toISOString().replace('.000Z', 'Z') : String(value)
  }

  const mac = str('mac')
  if (mac === undefined) return undefined
  const lastmodifiedNode = (node as YAMLMap).get('lastmodified', true)
  const lastmodified = isScalar(lastmodifiedNode) && typeof lastmodifiedNode.source === 'string' ? lastmodifiedNode.source : (str('lastmodified') ?? '')
  const stanzas = (list: unknown): AgeStanza[] =>
    Array.isArray(list)
      ? list
          .filter((s): s is Record<string, unknown> => Boolean(s) && typeof s === 'object')
          .map((s) => ({enc: String(s.enc ?? ''), recipient: String(s.recipient ?? '')}))
      : []
  let keyGroups: AgeStanza[][]
  let otherKeyCount = 0
  const countOthers = (group: Record<string, unknown>) => {
    for (const key of ['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault']) if (Array.isArray(group[key])) otherKeyCount += (group[key] as unknown[]).length
  }

  const usesKeyGroups = Array.isArray(raw.key_groups) && raw.key_groups.length > 0
  if (usesKeyGroups) {
    keyGroups = (raw.key_groups as Array<Record<string, unknown>>).map((group) => {
      countOthers(group ?? {})
      return stanzas(group?.age)
    })
  } else {
    countOthers(raw)
    keyGroups = [stanzas(raw.age)]
  }

  const recipients = [...new Set(keyGroups.flat().map((s) => s.recipient))]
  const meta: SopsMetadata = {
    format,
    keyGroups,
    lastmodified,
    mac,
    macOnlyEncrypted: raw.mac_only_encrypted === true,
    otherKeyCount,
    recipients,
    usesKeyGroups,
    version: str('version') ?? '',
  }
  if (typeof raw.shamir_threshold === 'number') meta.shamirThreshold = raw.shamir_threshold
  for (const {key, prop} of SELECTOR_FIELDS) {
    const value = str(key)
    if (value) meta[prop] = value
  }

  return meta
}

