import {type Document, isMap, isNode, isScalar, LineCounter} from 'yaml'

/**
 * Finds the 1-based line of the YAML node at `path` (map keys and list indices) in a parsed
 * document, falling back to the deepest existing parent, then line 1.
 */
export function lineOfPath(doc: Document, lineCounter: LineCounter, path: ReadonlyArray<PropertyKey>): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true)
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line
  }

  return 1
}

/**
 * Like {@link lineOfPath}, but when `path` ends in a map key, the 1-based line of that key
 * itself (not of its value, which for a nested map or list starts on a later line). Used to
 * point at a field by its name, e.g. an unknown `contianerPort:`.
 */
export function lineOfKey(doc: Document, lineCounter: LineCounter, path: ReadonlyArray<PropertyKey>): number {
  const last = path.at(-1)
  if (typeof last === 'string') {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1) as unknown[], true)
    if (isMap(parent)) {
      const pair = parent.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === last)
      if (pair && isNode(pair.key) && pair.key.range) return lineCounter.linePos(pair.key.range[0]).line
    }
  }

  return lineOfPath(doc, lineCounter, path)
}

/** Formats a key path as people write it in YAML: `hosts.0.ssh`. */
export function formatKeyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map(String).join('.') || '(top level)'
}
