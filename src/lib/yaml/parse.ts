import {type Document, isAlias, isNode, isScalar, LineCounter, type Node, parseAllDocuments, visit, YAMLParseError} from 'yaml'

import {ConfigError} from '../errors.js'

/** A parsed YAML text: its documents and the line index of the whole text (shared by every document). */
export interface ParsedYaml {
  /** Every document of the text, in order; a document with syntax errors has `errors` set. */
  docs: Document.Parsed[]
  /** Offsets → 1-based line and column, by binary search over the line starts (built while parsing, once). */
  lineCounter: LineCounter
}

/**
 * Parses every document of a YAML text, in time linear in its length.
 *
 * yaml's own duplicate-key check compares each new map key with every earlier key of its map
 * (quadratic: a ConfigMap of 30 000 keys costs seconds, 10 MB minutes), so it is turned off
 * (`uniqueKeys: false`) and done here with one hash set per map instead. Duplicate keys still
 * end up in the document's `errors` as yaml reports them: code `DUPLICATE_KEY`, message
 * `Map keys must be unique`, at the second key, with `linePos` set.
 * @param text the YAML text
 * @returns the documents and the line counter (never throws; syntax errors are on each document)
 */
export function parseYamlDocuments(text: string): ParsedYaml {
  const lineCounter = new LineCounter()
  const parsed = parseAllDocuments(text, {lineCounter, prettyErrors: true, uniqueKeys: false})
  const docs = Array.isArray(parsed) ? parsed : []
  for (const doc of docs) addDuplicateKeyErrors(doc, lineCounter)
  return {docs, lineCounter}
}

/**
 * Adds a `DUPLICATE_KEY` error to `doc.errors` for every map key equal to an earlier key of the
 * same map (scalar keys, compared by value with `===`, as yaml does; other keys never repeat),
 * then orders the errors by position. One pass over the document.
 */
function addDuplicateKeyErrors(doc: Document.Parsed, lineCounter: LineCounter): void {
  let added = false
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>()
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue
        const {value} = pair.key
        if (typeof value === 'number' && Number.isNaN(value)) continue // NaN !== NaN: never a duplicate
        if (!seen.has(value)) {
          seen.add(value)
          continue
        }

        const at = pair.key.range?.[0] ?? 0
        const error = new YAMLParseError([at, at + 1], 'DUPLICATE_KEY', 'Map keys must be unique')
        error.linePos = [lineCounter.linePos(at)]
        doc.errors.push(error)
        added = true
      }
    },
  })
  if (added) doc.errors.sort((a, b) => a.pos[0] - b.pos[0])
}

/** yaml's message when a document expands its aliases past `maxAliasCount` (a "billion laughs" document). */
const ALIAS_BOMB = /Excessive alias count/

/**
 * A document as plain data (`doc.toJS()`), with an alias bomb — aliases that would expand past
 * yaml's `maxAliasCount` (100) — reported as one line naming the file and the line of its first
 * alias, instead of yaml's bare `ReferenceError`.
 * @param file the name to show (repository-relative path)
 * @throws ConfigError `<file>:<line>: too many YAML aliases …` for an alias bomb; other errors of
 *   `toJS` are rethrown as they are
 */
export function yamlToJS(doc: Document, lineCounter: LineCounter, file: string): unknown {
  try {
    return doc.toJS()
  } catch (error) {
    if (!(error instanceof Error) || !ALIAS_BOMB.test(error.message)) throw error
    throw new ConfigError(`${file}:${firstAliasLine(doc, lineCounter)}: ${ALIAS_BOMB_REASON}`, {
      suggestions: [`replace the aliases (*name) in ${file} with the values themselves, or use fewer of them`],
    })
  }
}

/** What {@link yamlToJS} says of an alias bomb (after `<file>:<line>: `). */
export const ALIAS_BOMB_REASON = 'too many YAML aliases: expanding them would exceed 100 times the document (an alias bomb); homelab does not read it'

/** True when `error` is the alias-bomb error thrown by {@link yamlToJS}. */
export function isAliasBombError(error: unknown): error is ConfigError {
  return error instanceof ConfigError && error.message.includes(ALIAS_BOMB_REASON)
}

/** 1-based line of the first alias (`*name`) of a document, else 1. */
export function firstAliasLine(doc: Document, lineCounter: LineCounter): number {
  let line = 1
  visit(doc, {
    Alias(_, node) {
      const start = (node as Node).range?.[0]
      if (isAlias(node) && isNode(node) && start !== undefined) {
        line = lineCounter.linePos(start).line
        return visit.BREAK
      }
    },
  })
  return line
}

