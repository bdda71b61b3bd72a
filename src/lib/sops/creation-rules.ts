import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {isMap, isSeq, LineCounter, parseDocument, type YAMLMap} from 'yaml'

import {SopsConfigError} from './errors.js'
import {goRegExp} from './go-regexp.js'
import {type EncryptionSelector, SELECTOR_FIELDS} from './selector.js'

/** Names sops looks for, in order, in each folder while walking up (`config/config.go` lookupConfigFile). */
export const SOPS_CONFIG_NAMES = ['.sops.yaml', '.sops.yml'] as const

/**
 * One `creation_rules` entry of `.sops.yaml` (sops `config/config.go` creationRule), age only.
 * Regexes (`path_regex` and the selector fields of {@link EncryptionSelector}) are Go RE2 strings
 * as written; `pathRe` is the translated JS RegExp.
 */
export interface CreationRule extends EncryptionSelector {
  /** 0-based position in `creation_rules`. */
  index: number
  /** 1-based line of the rule in `.sops.yaml`. */
  line: number
  /** `path_regex` as written; undefined matches every path. */
  pathRegex?: string
  /** `path_regex` translated to JS (unanchored search); undefined matches every path. */
  pathRe?: RegExp
  /** Every age recipient (`age1…`) of the rule: the flat `age:` list, or all key groups' age keys. */
  recipients: string[]
  /** Age recipients per key group (one group for a flat rule). */
  keyGroups: string[][]
  /** `shamir_threshold` when given. */
  shamirThreshold?: number
  /** `mac_only_encrypted: true` (sops 3.9+). */
  macOnlyEncrypted?: boolean
}

/** A loaded `.sops.yaml`. */
export interface SopsConfig {
  /** Absolute path of the `.sops.yaml` file. */
  file: string
  /** Absolute path of its folder: creation rule paths are relative to it. */
  dir: string
  rules: CreationRule[]
}

/**
 * Finds the `.sops.yaml` in `dir` or the nearest folder above it (as sops does from the working
 * directory) and loads its creation rules. `file` overrides the search (sops `--config`).
 *
 * @throws SopsConfigError when there is no `.sops.yaml` up to `/`, or it is malformed (YAML
 *   syntax, `creation_rules` not a list, a bad regex, `age` neither string nor list, more than
 *   one of the encrypted/unencrypted selectors in a rule); the message names file and line.
 */
export async function loadSopsConfig(options: {dir: string; file?: string}): Promise<SopsConfig> {
  const file = options.file ? path.resolve(options.dir, options.file) : findSopsConfig(options.dir)
  if (!file)
    throw new SopsConfigError(`no .sops.yaml in ${options.dir} or any folder above it`, {
      suggestions: ['create a .sops.yaml with creation_rules, or run the command inside the homelab repository'],
    })
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    throw new SopsConfigError(`cannot read ${file}: ${(error as Error).message}`, {cause: error})
  }

  return parseSopsConfig(text, file)
}

/** Returns the absolute path of the nearest `.sops.yaml` (or `.sops.yml`) at or above `dir`, or undefined. */
export function findSopsConfig(dir: string): string | undefined {
  let current = path.resolve(dir)
  for (;;) {
    for (const name of SOPS_CONFIG_NAMES) {
      const candidate = path.join(current, name)
      if (existsSync(candidate)) return candidate
    }

    const parent = path.dirname(current)
    if (parent === current) return undefined
    current = parent
  }
}

/**
 * Parses the text of a `.sops.yaml` (see {@link loadSopsConfig}); `file` is its absolute path.
 * Unknown keys are ignored, as sops does.
 * @throws SopsConfigError for malformed content, naming `file:line`.
 */
export function parseSopsConfig(text: string, file: string): SopsConfig {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter})
  const bad = (line: number, message: string) =>
    new SopsConfigError(`${file}:${line}: ${message}`, {suggestions: [`fix ${path.basename(file)} (see https://getsops.io/docs/#using-sops-yaml-conf-to-select-kms-pgp-and-age-for-new-files)`]})
  if (doc.errors.length > 0) {
    const err = doc.errors[0]
    throw bad(err.linePos?.[0]?.line ?? 1, `invalid YAML: ${err.message.split('\n')[0]}`)
  }

  const lineOf = (node: unknown) => {
    const range = (node as {range?: [number, number, number]} | undefined)?.range
    return range ? lineCounter.linePos(range[0]).line : 1
  }

  const rules: CreationRule[] = []
  const root = doc.contents
  if (root !== null && root !== undefined && !isMap(root)) throw bad(lineOf(root), 'the top level must be a mapping with creation_rules')
  const list = root ? (root as YAMLMap).get('creation_rules', true) : undefined
  if (list !== undefined && list !== null && !isSeq(list)) throw bad(lineOf(list), 'creation_rules must be a list')
  const items = list && isSeq(list) ? list.items : []
  for (const [index, item] of items.entries()) {
    const line = lineOf(item)
    if (!isMap(item)) throw bad(line, `creation_rules[${index}] must be a mapping`)
    const raw = (item.toJSON() ?? {}) as Record<string, unknown>
    const str = (key: string): string | undefined => {
      const value = raw[key]
      if (value === undefined || value === null) return undefined
      if (typeof value !== 'string') throw bad(line, `creation_rules[${index}].${key} must be a string`)
      return value
    }

    const rule: CreationRule = {index, keyGroups: [], line, recipients: []}
    const pathRegex = str('path_regex')
    if (pathRegex !== undefined && pathRegex !== '') {
      rule.pathRegex = pathRegex
      rule.pathRe = goRegExp(pathRegex, `${file}:${line}: creation_rules[${index}].path_regex`)
    }

    const groups = raw.key_groups
    if (Array.isArray(groups) && groups.length > 0) {
      for (const [g, group] of groups.entries()) {
        if (!group || typeof group !== 'object') throw bad(line, `creation_rules[${index}].key_groups[${g}] must be a mapping`)
        rule.keyGroups.push(ageList((group as Record<string, unknown>).age, () => bad(line, `creation_rules[${index}].key_groups[${g}].age must be a list of age recipients`)))
      }
    } else if (groups !== undefined && groups !== null && !Array.isArray(groups)) {
      throw bad(line, `creation_rules[${index}].key_groups must be a list`)
    } else {
      rule.keyGroups.push(ageList(raw.age, () => bad(line, `creation_rules[${index}].age must be a comma-separated string or a list of age recipients`)))
    }

    rule.recipients = [...new Set(rule.keyGroups.flat())]
    for (const recipient of rule.recipients)
      if (!/^age1[0-9a-z]+$/.test(recipient)) throw bad(line, `creation_rules[${index}]: ${JSON.stringify(recipient)} is not an age recipient (age1…)`)
    if (typeof raw.shamir_threshold === 'number') rule.shamirThreshold = raw.shamir_threshold

    const used: string[] = []
    for (const {comment, key, prop} of SELECTOR_FIELDS) {
      const value = str(key)
      if (value === undefined || value === '') continue
      if (key.endsWith('regex')) goRegExp(value, `${file}:${line}: creation_rules[${index}].${key}`)
      rule[prop] = value
      if (!comment) used.push(key)
    }

    if (used.length > 1) throw bad(line, `creation_rules[${index}] uses ${used.join(' and ')}: use at most one of them`)
    if (rule.encryptedCommentRegex && rule.unencryptedCommentRegex)
      throw bad(line, `creation_rules[${index}] uses encrypted_comment_regex and unencrypted_comment_regex: use at most one of them`)
    if (raw.mac_only_encrypted === true) rule.macOnlyEncrypted = true
    rules.push(rule)
  }

  // sops fails every file with "no matching creation rules found"; say so up front, naming the file.
  if (rules.length === 0)
    throw new SopsConfigError(`${file}:1: ${list === undefined || list === null ? 'no creation_rules' : 'creation_rules is empty'}: no file can be encrypted`, {
      suggestions: [`add creation_rules to ${path.basename(file)}, each with a path_regex and the age recipients (homelab init writes one)`],
    })

  return {dir: path.dirname(file), file, rules}
}

function ageList(value: unknown, error: () => Error): string[] {
  if (value === undefined || value === null) return []
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.map((s: string) => s.trim()).filter(Boolean)
  throw error()
}

/**
 * Returns the first creation rule whose `path_regex` finds a match in the file's path relative
 * to the `.sops.yaml` folder (POSIX separators; a file outside that folder is matched by its
 * absolute path, as sops does), or undefined. A rule without `path_regex` matches everything.
 * A relative `file` is taken as relative to `config.dir`.
 */
export function matchCreationRule(config: SopsConfig, file: string): CreationRule | undefined {
  const rel = creationRulePath(config, file)
  return config.rules.find((rule) => !rule.pathRe || rule.pathRe.test(rel))
}

/** The path sops matches creation rules against: relative to the `.sops.yaml` folder, POSIX. */
export function creationRulePath(config: SopsConfig, file: string): string {
  const abs = path.resolve(config.dir, file)
  const rel = path.relative(config.dir, abs)
  const out = rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel
  return out.split(path.sep).join('/')
}

/**
 * Like {@link matchCreationRule} but fails when no rule matches.
 * @throws SopsConfigError "no creation rule in .sops.yaml matches <file>".
 */
export function requireCreationRule(config: SopsConfig, file: string): CreationRule {
  const rule = matchCreationRule(config, file)
  if (!rule)
    throw new SopsConfigError(`no creation rule in ${config.file} matches ${creationRulePath(config, file)}`, {
      suggestions: ['add a creation rule whose path_regex matches the file, or put the file where a rule expects it'],
    })
  return rule
}

/** Short name of a rule for messages: `creation rule 2 (path_regex ^flux/…)`, 1-based. */
export function describeCreationRule(rule: CreationRule): string {
  return `creation rule ${rule.index + 1} (${rule.pathRegex === undefined ? 'no path_regex' : `path_regex ${rule.pathRegex}`})`
}

/**
 * True for a path named like a SOPS file: `*.sops.yaml`, `*.sops.yml` or `*.sops.json` (any
 * case), but not the `.sops.yaml` / `.sops.yml` config file itself.
 */
export function hasSopsFileName(file: string): boolean {
  const base = path.basename(file)
  return !(SOPS_CONFIG_NAMES as readonly string[]).includes(base) && /.\.sops\.(ya?ml|json)$/i.test(base)
}

/**
 * The creation rules that decide no file (are the first match of none of `files`), in rule
 * order: a rule sops would never use, most often a typo in its `path_regex`. sops itself says
 * nothing about them (`config/config.go` only reports a file no rule matches).
 *
 * @param files paths absolute or relative to `config.dir` (the config file itself is skipped)
 */
export function unusedCreationRules(config: SopsConfig, files: readonly string[]): CreationRule[] {
  const used = new Set<number>()
  for (const file of files) {
    const abs = path.resolve(config.dir, file)
    if (abs === config.file) continue
    const rule = matchCreationRule(config, abs)
    if (rule) used.add(rule.index)
    if (used.size === config.rules.length) break
  }

  return config.rules.filter((rule) => !used.has(rule.index))
}
