import {createHash} from 'node:crypto'
import {isMap, isScalar, isSeq, parseAllDocuments, parseDocument, type Scalar, type YAMLMap, type YAMLSeq} from 'yaml'

import {ConfigError} from '../errors.js'
import {deleteLines, indentAt, insertLinesBefore, lineNumberAt, lineStart, offsetOfLine} from './text-edit.js'

/**
 * Edits of the Cloudflare Tunnel's configuration in the cluster: the ConfigMap whose data key
 * `config.yaml` holds cloudflared's `ingress:` rules (cloudflared `ingress/config.go`: rules are
 * matched top to bottom, the last one must be a catch-all without `hostname`), and the checksum
 * annotation on the cloudflared Deployment's pod template that makes it roll when the rules change.
 */

/** The pod template annotation that carries the checksum of `config.yaml`. */
export const CHECKSUM_ANNOTATION = 'checksum/config'

/** One ingress rule: `hostname` (absent on the catch-all) and `service` (a URL or `http_status:NNN`). */
export interface IngressRule {
  hostname?: string
  service: string
}

/** SHA-256 (hex) of the `config.yaml` text: the value of {@link CHECKSUM_ANNOTATION}. */
export function configChecksum(configText: string): string {
  return createHash('sha256').update(configText, 'utf8').digest('hex')
}

/** Where `config.yaml` lives in a file: the ConfigMap document and the scalar node. */
interface ConfigLocation {
  node: Scalar
  value: string
}

function findConfig(text: string, file: string): ConfigLocation | undefined {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return undefined
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`)
    if (doc.get('kind') !== 'ConfigMap') continue
    const node = doc.getIn(['data', 'config.yaml'], true)
    if (isScalar(node) && typeof node.value === 'string') return {node, value: node.value}
  }

  return undefined
}

/** True when `text` holds a ConfigMap with a `config.yaml` data key. */
export function hasTunnelConfig(text: string, file: string): boolean {
  return findConfig(text, file) !== undefined
}

/**
 * The `config.yaml` text and its ingress rules in a file holding the ConfigMap.
 * @throws ConfigError when there is no such ConfigMap or its config.yaml is not YAML
 */
export function readTunnelConfig(text: string, file: string): {config: string; rules: IngressRule[]} {
  const found = findConfig(text, file)
  if (!found) throw new ConfigError(`${file}: no ConfigMap with a config.yaml data key`)
  const inner = parseDocument(found.value)
  if (inner.errors.length > 0) throw new ConfigError(`${file}: data.config.yaml is not YAML: ${inner.errors[0].message.split('\n')[0]}`)
  const ingress = (inner.toJS() as {ingress?: unknown} | null)?.ingress
  const rules = Array.isArray(ingress) ? (ingress as IngressRule[]) : []
  return {config: found.value, rules}
}

/**
 * Replaces the text of a block scalar (`|` / `|-`) by editing whole lines of its content: `edit`
 * gets the inner text and returns an inner edit as `{line, deleteCount, insert}`; the same lines
 * are spliced in the outer file with the scalar's indentation. Falls back to the Document API
 * (which re-renders the file) when the scalar is not a literal block.
 */
function spliceScalarLines(
  text: string,
  file: string,
  node: Scalar,
  edit: {deleteCount: number; insert: string[]; line: number},
  expected: string,
): string {
  const check = (out: string): string => {
    const again = findConfig(out, file)
    if (again?.value !== expected) throw new ConfigError(`${file}: could not edit data.config.yaml in place`)
    return out
  }

  if (node.type === 'BLOCK_LITERAL') {
    const [start] = node.range!
    const firstContentLine = lineNumberAt(text, start) + 1
    const contentStart = offsetOfLine(text, firstContentLine)
    const indent = indentAt(text, contentStart)
    let out = text
    const at = offsetOfLine(out, firstContentLine + edit.line)
    if (edit.deleteCount > 0) out = deleteLines(out, at, offsetOfLine(out, firstContentLine + edit.line + edit.deleteCount - 1))
    if (edit.insert.length > 0) out = insertLinesBefore(out, offsetOfLine(out, firstContentLine + edit.line), edit.insert.map((l) => (l === '' ? '' : indent + l)))
    try {
      return check(out)
    } catch {
      // fall through to the Document API
    }
  }

  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) throw new ConfigError(`${file}: not YAML`)
  for (const doc of docs) {
    if (doc.get('kind') !== 'ConfigMap' || !isScalar(doc.getIn(['data', 'config.yaml'], true))) continue
    const scalar = doc.getIn(['data', 'config.yaml'], true) as Scalar
    scalar.value = expected
    scalar.type = 'BLOCK_LITERAL'
  }

  return check(docs.map((d) => d.toString()).join(''))
}

/** The ingress list of the inner config.yaml, with line numbers of its items. */
function ingressItems(config: string, file: string): {items: {firstLine: number; lastLine: number; rule: IngressRule; indent: string}[]} {
  const inner = parseDocument(config)
  if (inner.errors.length > 0) throw new ConfigError(`${file}: data.config.yaml is not YAML`)
  const seq = inner.get('ingress', true) as YAMLSeq | undefined
  if (!isSeq(seq) || seq.flow) throw new ConfigError(`${file}: data.config.yaml has no block list ingress:`)
  return {
    items: seq.items.map((item) => {
      const node = item as YAMLMap
      const [start, valueEnd] = node.range!
      const dash = config.lastIndexOf('-', start)
      return {
        firstLine: lineNumberAt(config, dash),
        indent: config.slice(lineStart(config, dash), dash),
        lastLine: lineNumberAt(config, Math.max(start, valueEnd - 1)),
        rule: (isMap(node) ? node.toJSON() : {}) as IngressRule,
      }
    }),
  }
}

/**
 * Inserts `ruleLines` (the rendered rule, `- hostname: …` first, relative indentation) just
 * before the catch-all rule, indented like the other rules.
 * @returns the new file text and the new config.yaml text
 * @throws ConfigError when the ingress list has no catch-all last, or the file is not YAML
 */
export function addIngressRule(text: string, file: string, ruleLines: string[]): {config: string; text: string} {
  const found = findConfig(text, file)
  if (!found) throw new ConfigError(`${file}: no ConfigMap with a config.yaml data key`)
  const {items} = ingressItems(found.value, file)
  const catchAll = items.at(-1)
  if (!catchAll || catchAll.rule.hostname !== undefined)
    throw new ConfigError(`${file}: the last ingress rule must be the catch-all (- service: http_status:404)`)
  const insert = ruleLines.map((l) => catchAll.indent + l)
  const lines = found.value.split('\n')
  lines.splice(catchAll.firstLine, 0, ...insert)
  const config = lines.join('\n')
  return {config, text: spliceScalarLines(text, file, found.node, {deleteCount: 0, insert, line: catchAll.firstLine}, config)}
}

/**
 * Removes every ingress rule for which `match(rule)` is true (whole lines of the rule).
 * @returns the new file text, the new config.yaml, and the hostnames removed
 */
export function removeIngressRules(text: string, file: string, match: (rule: IngressRule) => boolean): {config: string; removed: string[]; text: string} {
  const found = findConfig(text, file)
  if (!found) throw new ConfigError(`${file}: no ConfigMap with a config.yaml data key`)
  let out = text
  let config = found.value
  const removed: string[] = []
  const {items} = ingressItems(found.value, file)
  for (const item of [...items].reverse()) {
    if (item.rule.hostname === undefined || !match(item.rule)) continue
    const count = item.lastLine - item.firstLine + 1
    const lines = config.split('\n')
    lines.splice(item.firstLine, count)
    config = lines.join('\n')
    const node = findConfig(out, file)!.node
    out = spliceScalarLines(out, file, node, {deleteCount: count, insert: [], line: item.firstLine}, config)
    removed.unshift(item.rule.hostname)
  }

  return {config, removed, text: out}
}

/**
 * Sets the checksum annotation on the pod template of the Deployment `name` in `text` (a file that
 * holds it), keeping the rest of the file. An existing value is replaced in place; a missing
 * annotation is added through the Document API.
 * @returns the new text, or `undefined` when the file has no such Deployment
 */
export function setChecksumAnnotation(text: string, file: string, deploymentName: string, checksum: string): string | undefined {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return undefined
  const path = ['spec', 'template', 'metadata', 'annotations', CHECKSUM_ANNOTATION]
  for (const doc of docs) {
    if (doc.get('kind') !== 'Deployment' || doc.getIn(['metadata', 'name']) !== deploymentName) continue
    const node = doc.getIn(path, true)
    if (isScalar(node) && node.range) {
      const [start, valueEnd] = node.range
      const source = text.slice(start, valueEnd)
      const quote = source.startsWith('"') ? '"' : source.startsWith("'") ? "'" : ''
      return text.slice(0, start) + quote + checksum + quote + text.slice(valueEnd)
    }

    for (let depth = 1; depth < path.length; depth++)
      if (!isMap(doc.getIn(path.slice(0, depth), true))) doc.setIn(path.slice(0, depth), doc.createNode({}))
    doc.setIn(path, checksum)
    return docs.map((d) => d.toString()).join('')
  }

  return undefined
}

/**
 * Renames the hostname of every ingress rule whose `hostname` is `from` (a plain rule and its
 * `path` rules alike), editing only those lines of config.yaml; order, comments and the other
 * rules stay as they are.
 * @returns the new file text and the new config.yaml text
 * @throws ConfigError when the file has no config.yaml, or the edit cannot be made in place
 */
export function renameIngressHostname(text: string, file: string, from: string, to: string): {config: string; text: string} {
  const found = findConfig(text, file)
  if (!found) throw new ConfigError(`${file}: no ConfigMap with a config.yaml data key`)
  const {items} = ingressItems(found.value, file)
  const lines = found.value.split('\n')
  const escaped = from.replaceAll('.', '\\.')
  for (const item of items) {
    if (item.rule.hostname !== from) continue
    for (let n = item.firstLine; n <= item.lastLine; n++)
      lines[n] = lines[n].replace(new RegExp(`^(\\s*(?:-\\s+)?hostname:\\s*)(["']?)${escaped}\\2(\\s*(?:#.*)?)$`), `$1$2${to}$2$3`)
  }

  const config = lines.join('\n')
  let out = text
  const [start, end] = found.node.range!
  if (found.node.type === 'BLOCK_LITERAL') {
    const outer = text.slice(start, end).split('\n')
    // Content lines of the literal carry the scalar's indentation before the inner text.
    out = text.slice(0, start) + outer.map((l) => l.replace(new RegExp(`^(\\s*(?:-\\s+)?hostname:\\s*)(["']?)${escaped}\\2(\\s*(?:#.*)?)$`), `$1$2${to}$2$3`)).join('\n') + text.slice(end)
  }

  if (findConfig(out, file)?.value !== config) throw new ConfigError(`${file}: could not rename ${from} in data.config.yaml in place`)
  return {config, text: out}
}
