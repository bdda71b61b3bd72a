import {goRegExp} from './go-regexp.js'

/**
 * Which values a SOPS file encrypts: at most one of the key selectors plus an optional comment
 * selector (sops `sops.go` Tree.Encrypt; fields as in `.sops.yaml` rules and the `sops` block).
 * Regexes are Go RE2 strings.
 */
export interface EncryptionSelector {
  encryptedRegex?: string
  unencryptedRegex?: string
  encryptedSuffix?: string
  unencryptedSuffix?: string
  encryptedCommentRegex?: string
  unencryptedCommentRegex?: string
}

/**
 * The selector fields, each with its name in `.sops.yaml` rules and in the `sops` block (`key`),
 * its {@link EncryptionSelector} property (`prop`) and whether it selects comments (`comment`; the
 * other four select keys, and a rule or file uses at most one of those). In the order sops writes
 * them (sops `stores/stores.go` Metadata). The one list every reader and writer of these fields uses.
 */
export const SELECTOR_FIELDS: ReadonlyArray<{key: string; prop: keyof EncryptionSelector; comment: boolean}> = [
  {comment: false, key: 'unencrypted_suffix', prop: 'unencryptedSuffix'},
  {comment: false, key: 'encrypted_suffix', prop: 'encryptedSuffix'},
  {comment: false, key: 'unencrypted_regex', prop: 'unencryptedRegex'},
  {comment: false, key: 'encrypted_regex', prop: 'encryptedRegex'},
  {comment: true, key: 'unencrypted_comment_regex', prop: 'unencryptedCommentRegex'},
  {comment: true, key: 'encrypted_comment_regex', prop: 'encryptedCommentRegex'},
]

/** The selector fields of a rule or metadata object that are set (non-empty), nothing else. */
export function pickSelector(source: EncryptionSelector): EncryptionSelector {
  const out: EncryptionSelector = {}
  for (const {prop} of SELECTOR_FIELDS) if (source[prop]) out[prop] = source[prop]
  return out
}

/** The sops default when a rule names no selector: keys ending in `_unencrypted` stay in the clear. */
export const DEFAULT_UNENCRYPTED_SUFFIX = '_unencrypted'

/** A compiled selector: decides per key path (map keys from the root; list indices left out). */
export interface CompiledSelector {
  /** True when a value at `path` is encrypted. */
  value(path: readonly string[]): boolean
  /** True when a comment line (text after `#`) held at `path` is encrypted. */
  comment(path: readonly string[], text: string): boolean
}

/** Compiles a selector (unanchored regex search on each key of the path; any match decides). */
export function compileSelector(selector: EncryptionSelector, where: string): CompiledSelector {
  const re = (s: string | undefined, name: string) => (s ? goRegExp(s, `${where}: ${name}`) : undefined)
  const encRe = re(selector.encryptedRegex, 'encrypted_regex')
  const unencRe = re(selector.unencryptedRegex, 'unencrypted_regex')
  const encCommentRe = re(selector.encryptedCommentRegex, 'encrypted_comment_regex')
  const unencCommentRe = re(selector.unencryptedCommentRegex, 'unencrypted_comment_regex')
  const value = (path: readonly string[]): boolean => {
    let encrypted = true
    if (selector.unencryptedSuffix) encrypted = !path.some((k) => k.endsWith(selector.unencryptedSuffix!))
    if (selector.encryptedSuffix) encrypted = path.some((k) => k.endsWith(selector.encryptedSuffix!))
    if (unencRe) encrypted = !path.some((k) => unencRe.test(k))
    if (encRe) encrypted = path.some((k) => encRe.test(k))
    return encrypted
  }

  return {
    comment(path, text) {
      if (unencCommentRe && unencCommentRe.test(text)) return false
      if (encCommentRe) return encCommentRe.test(text)
      return value(path)
    },
    value,
  }
}
