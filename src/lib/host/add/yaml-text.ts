import {type Document, isMap, isSeq, type Node, parseDocument, type YAMLMap, type YAMLSeq} from 'yaml'
import {isDeepStrictEqual} from 'node:util'

/**
 * Edits of homelab.yaml `hosts:` made on the TEXT, so every other line — comments aligned in a
 * column, a comment that continues on the next line — stays byte for byte (the yaml library's
 * `toString()` re-renders the whole document: it moves trailing comments and closes up their
 * alignment). Each function checks its result: parsed, it must equal `expected` (the same edit
 * made with the Document API); when it does not (an unusual layout), the Document's own
 * rendering is returned instead.
 */

const lineStart = (text: string, pos: number) => text.lastIndexOf('\n', pos - 1) + 1
const lineEnd = (text: string, pos: number) => {
  const i = text.indexOf('\n', pos)
  return i < 0 ? text.length : i
}

function same(text: string, expected: Document): boolean {
  const doc = parseDocument(text)
  return doc.errors.length === 0 && isDeepStrictEqual(doc.toJS(), expected.toJS())
}

/** YAML text of one value at `indent` spaces, nested collections in flow style (as planHostAdd writes them). */
function blockLines(doc: Document, value: Record<string, unknown>): string[] {
  const node = doc.createNode(value) as YAMLMap
  for (const item of node.items) {
    const v = item.value as {flow?: boolean; items?: unknown}
    if (v && typeof v === 'object' && 'items' in v) v.flow = true
  }

  const single = parseDocument('{}')
  single.contents = node as never
  return single.toString().trimEnd().split('\n')
}

function hostsSeq(doc: Document): YAMLSeq | undefined {
  const hosts = isMap(doc.contents) ? (doc.contents as YAMLMap).get('hosts', true) : undefined
  return isSeq(hosts) && hosts.items.length > 0 && hosts.items.every((i) => isMap(i) && (i as Node).range) ? (hosts as YAMLSeq) : undefined
}

/**
 * `original` with `entry` appended to `hosts:` as a block item in the same column as the others.
 * @param expected the Document of `original` with the same entry pushed (its rendering is the fallback)
 */
export function appendHostText(original: string, entry: Record<string, unknown>, expected: Document): string {
  const doc = parseDocument(original)
  const seq = hostsSeq(doc)
  if (seq) {
    const first = seq.items[0] as YAMLMap
    const last = seq.items.at(-1) as YAMLMap
    const dash = first.range![0] - lineStart(original, first.range![0]) - 2
    if (dash >= 0 && original.slice(lineStart(original, first.range![0]) + dash, first.range![0]) === '- ') {
      const at = lineEnd(original, Math.max(last.range![1] - 1, last.range![0]))
      const lines = blockLines(doc, entry).map((l, i) => `${' '.repeat(dash)}${i === 0 ? '- ' : '  '}${l}`)
      const text = `${original.slice(0, at)}\n${lines.join('\n')}${original.slice(at)}`
      if (same(text, expected)) return text
    }
  }

  return expected.toString()
}

/**
 * `original` with `key: value` (flow style) added as the last key of the host named `name`.
 * @param expected the Document of `original` with the same key set (its rendering is the fallback)
 */
export function addHostKeyText(original: string, name: string, key: string, value: unknown, expected: Document): string {
  const doc = parseDocument(original)
  const host = hostsSeq(doc)?.items.find((i) => (i as YAMLMap).get('name') === name) as YAMLMap | undefined
  if (host && !host.has(key)) {
    const column = host.range![0] - lineStart(original, host.range![0])
    const at = lineEnd(original, Math.max(host.range![1] - 1, host.range![0]))
    const rendered = blockLines(doc, {[key]: value})
    const text = `${original.slice(0, at)}\n${rendered.map((l) => `${' '.repeat(column)}${l}`).join('\n')}${original.slice(at)}`
    if (same(text, expected)) return text
  }

  return expected.toString()
}

/**
 * `original` without the `hosts:` item named `name` (its lines, from its `- ` to its last value).
 * @param expected the Document of `original` with the item removed (its rendering is the fallback)
 */
export function removeHostText(original: string, name: string, expected: Document): string {
  const doc = parseDocument(original)
  const host = hostsSeq(doc)?.items.find((i) => (i as YAMLMap).get('name') === name) as YAMLMap | undefined
  if (host) {
    const from = lineStart(original, host.range![0])
    const to = lineEnd(original, Math.max(host.range![1] - 1, host.range![0]))
    const text = `${original.slice(0, from)}${original.slice(Math.min(to + 1, original.length))}`
    if (same(text, expected)) return text
  }

  return expected.toString()
}
