import {type Document, isMap, isPair, isScalar, isSeq, type Node, Scalar, YAMLMap} from 'yaml'

import {SopsError} from './errors.js'
import {keyText} from './tree.js'

/**
 * Parses a dotted KEY_PATH as yq and sops-age write it: `stringData.password`, `a.list.0` (a list
 * item), `data."tls.crt"` (a key holding a dot is double-quoted; `\"` and `\\` escape inside).
 * @throws SopsError for an empty path, an empty segment or an unterminated quote
 */
export function parseKeyPath(keyPath: string): string[] {
  const out: string[] = []
  let i = 0
  const bad = (why: string) => new SopsError(`invalid key path ${JSON.stringify(keyPath)}: ${why}`, {suggestions: ['write it dotted, e.g. stringData.password or data."tls.crt"']})
  if (keyPath === '') throw bad('it is empty')
  while (i <= keyPath.length) {
    let segment = ''
    if (keyPath[i] === '"') {
      i++
      let closed = false
      while (i < keyPath.length) {
        const c = keyPath[i]
        if (c === '\\' && i + 1 < keyPath.length) {
          segment += keyPath[i + 1]
          i += 2
          continue
        }

        if (c === '"') {
          closed = true
          i++
          break
        }

        segment += c
        i++
      }

      if (!closed) throw bad('a quote is not closed')
      if (i < keyPath.length && keyPath[i] !== '.') throw bad('a quoted key must be followed by a dot or the end')
    } else {
      while (i < keyPath.length && keyPath[i] !== '.') segment += keyPath[i++]
      if (segment === '') throw bad('it has an empty segment')
    }

    out.push(segment)
    if (i >= keyPath.length) break
    i++ // the dot
    if (i === keyPath.length) throw bad('it ends with a dot')
  }

  return out
}

/** Formats segments as a KEY_PATH (inverse of {@link parseKeyPath}): a segment with a dot, a quote or nothing is quoted. */
export function formatKeyPath(segments: readonly (number | string)[]): string {
  return segments.map((s) => (typeof s === 'number' || /^[^."\\]+$/.test(s) ? String(s) : `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)).join('.')
}

function child(node: Node, segment: string): Node | undefined {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && keyText(p.key) === segment)
    return (pair?.value ?? undefined) as Node | undefined
  }

  if (isSeq(node) && /^\d+$/.test(segment)) return node.items[Number(segment)] as Node | undefined
  return undefined
}

/**
 * The node at a key path in a document (the top-level `sops` block excluded).
 * @throws SopsError "unknown key path <path> in <file>"
 */
export function nodeAt(doc: Document, segments: readonly string[], file: string): Node {
  let node = doc.contents as Node | null
  for (const [i, segment] of segments.entries()) {
    const next = node && !(i === 0 && segment === 'sops') ? child(node, segment) : undefined
    if (next === undefined || next === null) throw unknownKeyPath(segments, file)
    node = next
  }

  if (!node) throw unknownKeyPath(segments, file)
  return node
}

/** The "unknown key path" error. */
export function unknownKeyPath(segments: readonly string[], file: string): SopsError {
  return new SopsError(`unknown key path ${formatKeyPath(segments)} in ${file}`, {
    suggestions: [`list the keys with \`homelab secrets get ${file} --all\``],
  })
}

/**
 * Sets a string at a key path, creating missing maps on the way; an existing scalar node is
 * changed in place (its comments stay); a list index may be an existing item or one past the end.
 * @returns the scalar node that now holds the value, and whether the path existed
 * @throws SopsError when the path crosses a scalar, names a map or list as the value, uses a bad
 *   list index, or is `sops` at the top level
 */
export function ensureScalarAt(doc: Document, segments: readonly string[], file: string): {node: Scalar; existed: boolean} {
  if (segments[0] === 'sops') throw new SopsError(`${file}: the top-level key sops is the file's metadata and cannot be set`)
  if (!isMap(doc.contents)) {
    if (doc.contents === null || doc.contents === undefined || (isScalar(doc.contents) && doc.contents.value === null)) doc.contents = new YAMLMap() as never
    else throw new SopsError(`${file}: the top level must be a mapping`)
  }

  let node = doc.contents as unknown as Node
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1
    const shown = formatKeyPath(segments.slice(0, i + 1))
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === segment)
      if (pair && pair.value !== null && pair.value !== undefined) {
        node = pair.value as Node
      } else {
        const created: Node = last ? new Scalar(null) : new YAMLMap()
        if (pair) pair.value = created
        else node.add(doc.createPair(segment, created))
        node = created
        if (last) return {existed: false, node: node as Scalar}
        continue
      }
    } else if (isSeq(node)) {
      if (!/^\d+$/.test(segment)) throw new SopsError(`${file}: ${shown} indexes a list: use a number`)
      const index = Number(segment)
      if (index < node.items.length) node = node.items[index] as Node
      else if (index === node.items.length) {
        const created: Node = last ? new Scalar(null) : new YAMLMap()
        node.items.push(created)
        node = created
        if (last) return {existed: false, node: node as Scalar}
        continue
      } else throw new SopsError(`${file}: ${shown}: the list has ${node.items.length} items`)
    } else {
      throw new SopsError(`${file}: ${formatKeyPath(segments.slice(0, i))} holds a value, not a map or list`)
    }

    if (last) {
      if (!isScalar(node)) throw new SopsError(`${file}: ${shown} is a ${isSeq(node) ? 'list' : 'map'}, not a single value`)
      return {existed: true, node}
    }
  }

  throw new SopsError(`${file}: empty key path`)
}
