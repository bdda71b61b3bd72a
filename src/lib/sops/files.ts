import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {Document} from 'yaml'

import type {AgeIdentity} from '../age/identities.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {type CreationRule, loadSopsConfig, requireCreationRule, type SopsConfig} from './creation-rules.js'
import {type DecryptedSops, decryptSopsText, encryptDecrypted, encryptDocuments, lastModifiedOf, SOPS_VERSION, setNodeValue, wrapForGroups, goValueOfNode} from './engine.js'
import {SopsConfigError, SopsError} from './errors.js'
import {ensureScalarAt, parseKeyPath} from './key-path.js'
import {formatOfFile, metadataOfDocument, readSopsMetadata} from './metadata.js'
import {DEFAULT_UNENCRYPTED_SUFFIX, pickSelector} from './selector.js'
import {parseDocuments, ParseError, serializeSops, SOPS_DEFAULT_STYLE, detectStyle} from './serialize.js'

/** A decrypted file with its plaintext values as plain JS (one entry per YAML document). */
export interface DecryptedSopsFile extends DecryptedSops {
  /** `documents[i].toJS()`: plaintext values. Never log them. */
  values: unknown[]
}

/**
 * Reads and decrypts a SOPS file, MAC verified (see {@link decryptSopsText}).
 * @throws SopsError as decryptSopsText does, or when the file cannot be read
 */
export async function decryptSopsFile(options: {file: string; identities: readonly AgeIdentity[]; displayName?: string}): Promise<DecryptedSopsFile> {
  const shown = options.displayName ?? options.file
  const text = await readText(options.file, shown)
  const decrypted = await decryptSopsText({file: nameForFormat(options.file, shown), identities: options.identities, text})
  decrypted.file = shown
  return {...decrypted, values: decrypted.documents.map((d) => d.toJS())}
}

function nameForFormat(file: string, shown: string): string {
  return formatOfFile(file) === formatOfFile(shown) ? shown : file
}

async function readText(file: string, shown: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new SopsError(code === 'ENOENT' ? `${shown} does not exist` : `cannot read ${shown}: ${code ?? (error as Error).message}`, {cause: error})
  }
}

/** Where the creation rule of a new file comes from: a loaded config, a folder to search from, or the rule itself. */
export interface RuleSource {
  /** A loaded `.sops.yaml`. */
  config?: SopsConfig
  /** Folder to start the `.sops.yaml` search from (default: the file's folder). */
  configDir?: string
  /** Use this rule instead of matching one. */
  rule?: CreationRule
}

/**
 * Resolves the creation rule for `file` (absolute path): `rule`, else the first match in
 * `config` or in the `.sops.yaml` found from `configDir`/the file's folder.
 * @throws SopsConfigError no `.sops.yaml`, malformed, no rule matches, or the rule has no age recipient
 */
export async function creationRuleFor(file: string, source: RuleSource = {}): Promise<CreationRule> {
  const rule = source.rule ?? requireCreationRule(source.config ?? (await loadSopsConfig({dir: source.configDir ?? path.dirname(path.resolve(file))})), path.resolve(file))
  if (rule.recipients.length === 0)
    throw new SopsConfigError(`creation rule ${rule.index + 1} (line ${rule.line}) for ${file} has no age recipient`, {
      suggestions: ['add `age: age1…` to the rule; homelab encrypts to age recipients only'],
    })
  return rule
}

/** Options for {@link encryptDocumentText}. */
export interface EncryptTextOptions extends RuleSource {
  /** Target path (absolute or relative to the cwd): picks the creation rule and the format. */
  file: string
  /** Plaintext YAML (several documents allowed) or JSON for `.json` files. Never logged. */
  plaintext: string
  /** Clock for `lastmodified` (default now). */
  now?: Date
}

/**
 * Encrypts plaintext into the text of a new SOPS file with the creation rule matching `file`
 * (a fresh 32-byte data key, the rule's recipients and selector; sops' default
 * `unencrypted_suffix: _unencrypted` when the rule has none). In memory: nothing is written.
 *
 * @returns the SOPS file text (sops 3.10 shape, 4-space indent)
 * @throws SopsConfigError (see {@link creationRuleFor}); SopsError when the plaintext is not valid
 *   YAML/JSON (line only, no content), already a SOPS file, or not a mapping at the top level
 */
export async function encryptDocumentText(options: EncryptTextOptions): Promise<string> {
  const rule = await creationRuleFor(options.file, options)
  const format = formatOfFile(options.file)
  let documents: Document[]
  try {
    documents = parseDocuments(options.plaintext, format)
  } catch (error) {
    throw new SopsError(`${options.file}: the plaintext is not valid ${format === 'json' ? 'JSON' : 'YAML'} (line ${error instanceof ParseError ? error.line : 1})`)
  }

  if (documents.length === 0) documents = [new Document({})]
  if (documents[0] && metadataOfDocument(documents[0], format)) throw new SopsError(`${options.file}: the plaintext is already a SOPS file`)
  const dataKey = randomBytes(32)
  const selector = pickSelector(rule)
  if (Object.keys(selector).filter((k) => !k.includes('Comment')).length === 0) selector.unencryptedSuffix = DEFAULT_UNENCRYPTED_SUFFIX
  return encryptDocuments({
    dataKey,
    documents,
    file: options.file,
    format,
    keyGroups: await wrapForGroups(dataKey, rule.keyGroups.filter((g) => g.length > 0), rule.shamirThreshold),
    lastmodified: lastModifiedOf(options.now ?? new Date()),
    macOnlyEncrypted: rule.macOnlyEncrypted,
    selector,
    shamirThreshold: rule.keyGroups.length > 1 ? rule.shamirThreshold : undefined,
    style: SOPS_DEFAULT_STYLE,
    version: SOPS_VERSION,
  })
}

/** Options for {@link createSopsFile}. */
export interface CreateSopsFileOptions extends EncryptTextOptions {
  /** Mode of the new file (default 0o644: the file is encrypted and tracked in git). */
  mode?: number
}

/**
 * Encrypts plaintext with the matching creation rule and writes it atomically to `file`
 * (see {@link encryptDocumentText}). Overwrites an existing file.
 * @returns the recipients the file is encrypted to
 */
export async function createSopsFile(options: CreateSopsFileOptions): Promise<{recipients: string[]}> {
  const text = await encryptDocumentText(options)
  await fs.mkdir(path.dirname(path.resolve(options.file)), {recursive: true})
  await writeFileAtomic(options.file, text, {mode: options.mode ?? 0o644})
  return {recipients: readSopsMetadata(text, options.file)?.recipients ?? []}
}

/** Refuses writes that would drop master keys this engine cannot re-wrap (pgp, kms, …). */
function assertAgeOnly(decrypted: DecryptedSops): void {
  if (decrypted.metadata.otherKeyCount > 0)
    throw new SopsError(`${decrypted.file} also has pgp/kms keys: homelab writes age-only files and would drop them`, {
      suggestions: ['change this file with the sops CLI'],
    })
}

/** Options for {@link setSopsValues}. */
export interface SetSopsValuesOptions extends RuleSource {
  file: string
  identities: readonly AgeIdentity[]
  /** KEY_PATH (dotted, see parseKeyPath) → new string value. Never logged. */
  values: Record<string, string>
  now?: Date
  /** Shown in messages instead of `file`. */
  displayName?: string
}

/** What {@link setSopsValues} did. */
export interface SetSopsValuesResult {
  /** True when the file did not exist and was created with the matching creation rule. */
  created: boolean
  /** Key paths whose value changed (or were added). */
  changed: string[]
}

/**
 * Sets string values in a SOPS file, keeping its data key, recipients and the IV of every other
 * value (so every other line stays byte-identical); creates the file with the matching creation
 * rule when it does not exist. Writes atomically (mode kept) only when something changed.
 *
 * @throws SopsError (decrypt errors, MAC mismatch, a key path that names a map/list), SopsConfigError for a new file without a matching rule
 */
export async function setSopsValues(options: SetSopsValuesOptions): Promise<SetSopsValuesResult> {
  const shown = options.displayName ?? options.file
  const exists = await fs
    .stat(options.file)
    .then(() => true)
    .catch(() => false)
  if (!exists) {
    const doc = new Document({})
    for (const [keyPath, value] of Object.entries(options.values)) setNodeValue(ensureScalarAt(doc, parseKeyPath(keyPath), shown).node, {text: value, type: 'str'})
    const plaintext = doc.toString({indent: 4, lineWidth: 0})
    await createSopsFile({...options, plaintext})
    return {changed: Object.keys(options.values), created: true}
  }

  const decrypted = await decryptSopsFile({displayName: shown, file: options.file, identities: options.identities})
  assertAgeOnly(decrypted)
  const changed: string[] = []
  for (const [keyPath, value] of Object.entries(options.values)) {
    const {existed, node} = ensureScalarAt(decrypted.documents[0], parseKeyPath(keyPath), shown)
    const before = existed ? goValueOfNode(node) : null
    if (before && before.type === 'str' && before.text === value) continue
    setNodeValue(node, {text: value, type: 'str'})
    changed.push(keyPath)
  }

  if (changed.length > 0) await writeFileAtomic(options.file, encryptDecrypted(decrypted, {inPlace: true, now: options.now}))
  return {changed, created: false}
}

/** What {@link updateSopsKeys} did to one file. */
export interface UpdateKeysResult {
  file: string
  added: string[]
  removed: string[]
  /** False when the recipients already equal the rule's (nothing written). */
  changed: boolean
}

/**
 * Makes a file's age recipients equal to its creation rule's (sops `updatekeys`): the SAME data
 * key re-wrapped for the new recipients (stanzas of kept recipients unchanged); values, MAC and
 * `lastmodified` untouched. The MAC is verified first. Writes atomically only on change.
 * @throws SopsError / SopsConfigError as decrypt and {@link creationRuleFor}
 */
export async function updateSopsKeys(options: RuleSource & {file: string; identities: readonly AgeIdentity[]; displayName?: string}): Promise<UpdateKeysResult> {
  const {before, after, ...result} = await planUpdateSopsKeys(options)
  if (after !== null && after !== before) await writeFileAtomic(options.file, after)
  return result
}

/**
 * What {@link updateSopsKeys} would write, without writing: the result plus the file's current
 * text (`before`) and its new text (`after`, null when unchanged), for an all-or-nothing batch.
 * @throws as {@link updateSopsKeys}
 */
export async function planUpdateSopsKeys(
  options: RuleSource & {file: string; identities: readonly AgeIdentity[]; displayName?: string},
): Promise<UpdateKeysResult & {before: string; after: string | null}> {
  const shown = options.displayName ?? options.file
  const rule = await creationRuleFor(options.file, options)
  const text = await readText(options.file, shown)
  const decrypted = await decryptSopsText({file: nameForFormat(options.file, shown), identities: options.identities, text})
  decrypted.file = shown
  assertAgeOnly(decrypted)
  const groups = rule.keyGroups.filter((g) => g.length > 0)
  const before = decrypted.metadata.recipients
  const after = [...new Set(groups.flat())]
  const added = after.filter((r) => !before.includes(r))
  const removed = before.filter((r) => !after.includes(r))
  const sameShape = decrypted.metadata.keyGroups.length === groups.length
  if (added.length === 0 && removed.length === 0 && sameShape) return {added, after: null, before: text, changed: false, file: shown, removed}
  const keyGroups = await wrapForGroups(decrypted.dataKey, groups, rule.shamirThreshold, decrypted.metadata.keyGroups.length === 1 ? decrypted.metadata.keyGroups[0] : [])
  if (groups.length > 1 && decrypted.metadata.keyGroups.length <= 1) {
    // Splitting a data key into Shamir shares is a different key layout: re-encrypt everything.
    return {added, after: encryptDecrypted(decrypted, {keyGroups}), before: text, changed: true, file: shown, removed}
  }

  const meta = decrypted.metadata
  const docs = parseDocuments(text, meta.format)
  const out = serializeSops(docs, meta.format, detectStyle(text), {
    ...pickSelector(meta),
    keyGroups,
    lastmodified: meta.lastmodified,
    legacyEmptyLists: decrypted.legacyEmptyLists,
    mac: meta.mac,
    macOnlyEncrypted: meta.macOnlyEncrypted,
    shamirThreshold: groups.length > 1 ? rule.shamirThreshold : undefined,
    version: meta.version || SOPS_VERSION,
  })
  return {added, after: out, before: text, changed: true, file: shown, removed}
}

/**
 * Rotates a file's data key (sops `rotate` / `-r`): decrypts (MAC verified), draws a new data key,
 * re-encrypts every value and the MAC, wraps the new key for the same recipients, new
 * `lastmodified`, 3.10 metadata shape. Writes atomically (mode kept).
 * @throws SopsError as decrypt
 */
export async function rotateSopsFile(options: {file: string; identities: readonly AgeIdentity[]; now?: Date; displayName?: string}): Promise<{file: string; recipients: string[]}> {
  const {after, file, recipients} = await planRotateSopsFile(options)
  await writeFileAtomic(options.file, after)
  return {file, recipients}
}

/**
 * What {@link rotateSopsFile} would write, without writing: the file's current text (`before`)
 * and its text with a new data key (`after`), for an all-or-nothing batch.
 * @throws as {@link rotateSopsFile}
 */
export async function planRotateSopsFile(options: {
  file: string
  identities: readonly AgeIdentity[]
  now?: Date
  displayName?: string
}): Promise<{file: string; recipients: string[]; before: string; after: string}> {
  const shown = options.displayName ?? options.file
  const text = await readText(options.file, shown)
  const decrypted = await decryptSopsText({file: nameForFormat(options.file, shown), identities: options.identities, text})
  decrypted.file = shown
  assertAgeOnly(decrypted)
  const dataKey = randomBytes(32)
  const groups = decrypted.metadata.keyGroups.map((g) => g.map((s) => s.recipient))
  const keyGroups = await wrapForGroups(dataKey, groups, decrypted.metadata.shamirThreshold)
  const after = encryptDecrypted(decrypted, {dataKey, inPlace: true, keyGroups, normalizeMetadata: true, now: options.now})
  return {after, before: text, file: shown, recipients: decrypted.metadata.recipients}
}
