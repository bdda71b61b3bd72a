import {type Document, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node, type Scalar, type ScalarTag, stringify, type ToStringOptions, visit} from 'yaml'

import {resolveGoPlain} from './go-values.js'

import type {AgeStanza, SopsFormat} from './metadata.js'
import {type EncryptionSelector, SELECTOR_FIELDS} from './selector.js'
import {keyText} from './tree.js'

/** Indentation of a SOPS YAML file: sops writes 4 spaces with indented lists; Flux's files use 2. */
export interface YamlStyle {
  indent: number
  indentSeq: boolean
}

/** The style sops 3.10 writes new YAML files in. */
export const SOPS_DEFAULT_STYLE: YamlStyle = {indent: 4, indentSeq: true}

/** The `sops` block to write (sops `stores/stores.go` Metadata, 3.10 shape unless `legacyEmptyLists`). */
export interface WriteMetadata extends EncryptionSelector {
  /** Age stanzas per key group; one group is written as the flat `age` list. */
  keyGroups: AgeStanza[][]
  shamirThreshold?: number
  /** RFC3339 UTC whole seconds, e.g. `2024-11-12T13:33:42Z`. */
  lastmodified: string
  /** `ENC[AES256_GCM,…,type:str]` */
  mac: string
  version: string
  macOnlyEncrypted?: boolean
  /** Also write the empty `kms`/`gcp_kms`/`azure_kv`/`hc_vault`/`pgp` lists of sops <= 3.9. */
  legacyEmptyLists?: boolean
}

/** Thrown by {@link parseDocuments} for text that is not valid YAML/JSON; the message has the line. */
export class ParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message)
  }
}

/**
 * Parses YAML (every document) or JSON text into yaml Documents (JSON is read as YAML flow).
 * @throws ParseError for a syntax error (first one, with its line)
 */
export function parseDocuments(text: string, format: SopsFormat): Document[] {
  const docs = parseAllDocuments(text, {keepSourceTokens: false}) as Document[] | {errors?: unknown}
  if (!Array.isArray(docs)) throw new ParseError('cannot parse the text', 1)
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      const err = doc.errors[0]
      throw new ParseError(err.message.split('\n')[0], err.linePos?.[0]?.line ?? 1)
    }
  }

  if (format === 'json' && docs.length > 1) throw new ParseError('a JSON file holds one value', 1)
  for (const doc of docs) recordPlainSources(doc)
  return docs
}

const PARSED = Symbol('homelab.sops.parsedPlain')
type Recorded = Scalar & {[PARSED]?: {value: unknown}}

/** Marks every plain, untagged scalar (keys too) with the value the `yaml` library read from its source. */
function recordPlainSources(doc: Document): void {
  visit(doc, {
    Scalar(_key, node) {
      if (node.type === 'PLAIN' && !node.tag && typeof node.source === 'string') (node as Recorded)[PARSED] = {value: node.value}
    },
  })
}

/**
 * The source text of a plain, untagged scalar read by {@link parseDocuments} whose value has not
 * been changed since (`Object.is`, so a decrypted or re-set value no longer counts). That text is
 * what go-yaml v3 resolves (`resolve.go`), so it is what sops hashes for the MAC, and what a write
 * must put back: the `yaml` library's YAML 1.2 core reading differs (`0755` is 755 for it, 493
 * for Go) and its stringify respells numbers (`0x1F` → `0x1f`, `.5` → `0.5`, `1e3` → `1e+3`).
 * @returns the source text, or undefined for a scalar that is quoted, tagged, block, new or changed
 */
export function untouchedPlainSource(node: Scalar): string | undefined {
  const parsed = (node as Recorded)[PARSED]
  if (!parsed || node.type !== 'PLAIN' || node.tag || typeof node.source !== 'string') return undefined
  return Object.is(parsed.value, node.value) ? node.source : undefined
}

/**
 * A plain (or unstyled) string go-yaml v3 would read as another type must be quoted; a PLAIN
 * RFC3339 text is left plain: that is how the engine writes a decrypted `type:time` value.
 */
function needsQuotes(value: string, type: Scalar['type']): boolean {
  if (type !== 'PLAIN' && type !== undefined) return false
  const go = resolveGoPlain(value)
  return go === null || (go.type !== 'str' && !(type === 'PLAIN' && go.type === 'time'))
}

/** A scalar value written back as its exact plain source text (only inside {@link yamlText}). */
class RawPlain {
  constructor(readonly source: string) {}
}

/** Emits a {@link RawPlain} as its text, no tag shown (`default`); never used for parsing. */
const RAW_PLAIN_TAG: ScalarTag = {
  default: true,
  identify: (value) => value instanceof RawPlain,
  resolve: (text) => text,
  stringify: (item) => (item as Scalar<RawPlain>).value.source,
  tag: 'tag:homelab.invalid,2026:raw-plain',
}

/**
 * `doc.toString()` that writes scalars so go-yaml v3 (sops) reads back the values the MAC counted:
 * an untouched plain non-string scalar (key or value) is written as its source text (see
 * {@link untouchedPlainSource}); any other plain string that go-yaml v3 would read as another
 * type (`0755`, `1_000`, `2024-01-02`, `~`) is double-quoted. The document is left as it was.
 */
function yamlText(doc: Document, options: ToStringOptions): string {
  const restore: Array<() => void> = []
  visit(doc, {
    Scalar(_key, node) {
      const source = untouchedPlainSource(node)
      const {type, value} = node
      if (source !== undefined && source !== '' && typeof value !== 'string' && !source.includes('\n')) {
        node.value = new RawPlain(source)
        restore.push(() => {
          node.value = value
        })
      } else if (source === undefined && typeof value === 'string' && !node.tag && !value.includes('\n') && needsQuotes(value, type)) {
        node.type = 'QUOTE_DOUBLE'
        restore.push(() => {
          node.type = type
        })
      }
    },
  })
  const tags = doc.schema.tags
  doc.schema.tags = [RAW_PLAIN_TAG, ...tags]
  try {
    return doc.toString(options)
  } finally {
    doc.schema.tags = tags
    for (const undo of restore) undo()
  }
}

/** Reads the indentation of an existing SOPS YAML text from its `sops:` block; default {@link SOPS_DEFAULT_STYLE}. */
export function detectStyle(text: string): YamlStyle {
  const lines = text.split('\n')
  const at = lines.indexOf('sops:')
  if (at < 0) return detectDataStyle(lines)
  const first = /^( +)\S/.exec(lines[at + 1] ?? '')
  if (!first) return SOPS_DEFAULT_STYLE
  const indent = first[1].length
  for (let i = at + 1; i < lines.length; i++) {
    const m = /^( *)- /.exec(lines[i])
    if (!m) continue
    const parent = /^( *)\S/.exec(lines[i - 1] ?? '')
    return {indent, indentSeq: parent ? m[1].length > parent[1].length : true}
  }

  return {indent, indentSeq: true}
}

function detectDataStyle(lines: string[]): YamlStyle {
  for (let i = 1; i < lines.length; i++) {
    const prev = lines[i - 1]
    if (!/^\S.*:\s*$/.test(prev)) continue
    const m = /^( *)(- )?\S/.exec(lines[i])
    if (!m) continue
    if (m[1].length > 0) return {indent: m[2] ? SOPS_DEFAULT_STYLE.indent : m[1].length, indentSeq: true}
    if (m[2]) return {indent: SOPS_DEFAULT_STYLE.indent, indentSeq: false}
  }

  return SOPS_DEFAULT_STYLE
}

const PLACEHOLDER = 'homelab-sops-metadata-placeholder-7f3a'

/**
 * Writes encrypted documents with their `sops` block as sops does: the block is the last key of
 * every YAML document (`mac` a plain scalar, `lastmodified` double-quoted), JSON with tab
 * indentation and `": "` separators. The documents get a placeholder `sops` entry (mutated).
 * YAML scalars are written so go-yaml v3 reads back what the MAC counted: an untouched plain
 * scalar keeps its source text (`0755` stays `0755`, not the `yaml` library's `755`), a plain
 * string go-yaml v3 would read as another type is double-quoted.
 */
export function serializeSops(docs: Document[], format: SopsFormat, style: YamlStyle, meta: WriteMetadata): string {
  if (format === 'json') return `${jsonOf(docs[0].contents as Node, '', meta)}\n`
  const block = renderYamlMetadata(meta, style)
  return docs
    .map((doc) => {
      if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as never
      ;(doc.contents as {delete(k: string): boolean}).delete('sops')
      doc.set('sops', PLACEHOLDER)
      const text = yamlText(doc, {indent: style.indent, indentSeq: style.indentSeq, lineWidth: 0})
      return text.replace(`sops: ${PLACEHOLDER}\n`, block)
    })
    .join('')
}

/**
 * Serializes plaintext documents (after decryption) in the file's own style; untouched plain
 * scalars keep their source text and decrypted values are spelled so go-yaml v3 reads their sops
 * type back (see {@link serializeSops}).
 */
export function serializePlain(docs: Document[], format: SopsFormat, style: YamlStyle): string {
  if (format === 'json') return `${jsonOf(docs[0].contents as Node, '')}\n`
  return docs.map((doc) => yamlText(doc, {indent: style.indent, indentSeq: style.indentSeq, lineWidth: 0})).join('')
}

function yamlScalar(value: string): string {
  return stringify(value, {lineWidth: 0}).trimEnd()
}

/** Renders the `sops:` block (with final newline) in sops 3.10's key order. */
export function renderYamlMetadata(meta: WriteMetadata, style: YamlStyle): string {
  const i1 = ' '.repeat(style.indent)
  const seqIndent = style.indentSeq ? ' '.repeat(style.indent) : ''
  const out: string[] = ['sops:']
  const stanzaLines = (stanzas: AgeStanza[], base: string) => {
    for (const s of stanzas) {
      out.push(`${base}- recipient: ${s.recipient}`, `${base}  enc: |`)
      for (const line of s.enc.replace(/\n$/, '').split('\n')) out.push(`${base}    ${line}`)
    }
  }

  const flat = meta.keyGroups.length <= 1
  if (!flat) {
    if (meta.shamirThreshold !== undefined) out.push(`${i1}shamir_threshold: ${meta.shamirThreshold}`)
    out.push(`${i1}key_groups:`)
    for (const group of meta.keyGroups) {
      out.push(`${i1}${seqIndent}- age:`)
      stanzaLines(group, `${i1}${seqIndent}  ${seqIndent}`)
    }
  }

  if (meta.legacyEmptyLists) out.push(`${i1}kms: []`, `${i1}gcp_kms: []`, `${i1}azure_kv: []`, `${i1}hc_vault: []`)
  if (flat && (meta.keyGroups[0]?.length ?? 0) > 0) {
    out.push(`${i1}age:`)
    stanzaLines(meta.keyGroups[0], `${i1}${seqIndent}`)
  }

  out.push(`${i1}lastmodified: "${meta.lastmodified}"`, `${i1}mac: ${meta.mac}`)
  if (meta.legacyEmptyLists) out.push(`${i1}pgp: []`)
  for (const {key, prop} of SELECTOR_FIELDS) if (meta[prop]) out.push(`${i1}${key}: ${yamlScalar(meta[prop])}`)
  if (meta.macOnlyEncrypted) out.push(`${i1}mac_only_encrypted: true`)
  out.push(`${i1}version: ${meta.version}`)
  return `${out.join('\n')}\n`
}

function metadataJson(meta: WriteMetadata): Record<string, unknown> {
  const stanzas = (g: AgeStanza[]) => g.map((s) => ({enc: s.enc, recipient: s.recipient}))
  const out: Record<string, unknown> = {}
  if (meta.keyGroups.length > 1) {
    if (meta.shamirThreshold !== undefined) out.shamir_threshold = meta.shamirThreshold
    out.key_groups = meta.keyGroups.map((g) => ({age: stanzas(g)}))
  }

  if (meta.legacyEmptyLists) Object.assign(out, {azure_kv: null, gcp_kms: null, hc_vault: null, kms: null})
  if (meta.keyGroups.length <= 1 && (meta.keyGroups[0]?.length ?? 0) > 0) out.age = stanzas(meta.keyGroups[0])
  out.lastmodified = meta.lastmodified
  out.mac = meta.mac
  if (meta.legacyEmptyLists) out.pgp = null
  for (const {key, prop} of SELECTOR_FIELDS) if (meta[prop]) out[key] = meta[prop]
  if (meta.macOnlyEncrypted) out.mac_only_encrypted = true
  out.version = meta.version
  return out
}

function jsonValue(value: unknown, indent: string): string {
  if (value === null || value === undefined) return 'null'
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    const inner = `${indent}\t`
    return `[\n${value.map((v) => inner + jsonValue(v, inner)).join(',\n')}\n${indent}]`
  }

  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    if (entries.length === 0) return '{}'
    const inner = `${indent}\t`
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${jsonValue(v, inner)}`).join(',\n')}\n${indent}}`
  }

  return JSON.stringify(value)
}

/** JSON text of a yaml node tree (tab-indented like sops' JSON store), the metadata appended last when given. */
function jsonOf(node: Node | null | undefined, indent: string, meta?: WriteMetadata): string {
  const inner = `${indent}\t`
  if (node === null || node === undefined) return meta ? jsonValue({sops: metadataJson(meta)}, indent) : 'null'
  if (isMap(node)) {
    const parts: string[] = []
    for (const pair of node.items) {
      if (!isPair(pair)) continue
      const key = keyText(pair.key)
      if (meta && indent === '' && key === 'sops') continue
      parts.push(`${inner}${JSON.stringify(key)}: ${jsonOf(pair.value as Node, inner)}`)
    }

    if (meta && indent === '') parts.push(`${inner}"sops": ${jsonValue(metadataJson(meta), inner)}`)
    return parts.length === 0 ? '{}' : `{\n${parts.join(',\n')}\n${indent}}`
  }

  if (isSeq(node)) {
    if (node.items.length === 0) return '[]'
    return `[\n${node.items.map((item) => inner + jsonOf(item as Node, inner)).join(',\n')}\n${indent}]`
  }

  if (isScalar(node)) {
    const v = node.value
    if (typeof v === 'number') return Number.isFinite(v) ? (Number.isInteger(v) && (node as {minFractionDigits?: number}).minFractionDigits ? v.toFixed(1) : String(v)) : JSON.stringify(String(v))
    if (typeof v === 'bigint') return v.toString()
    return JSON.stringify(v ?? null)
  }

  return 'null'
}
