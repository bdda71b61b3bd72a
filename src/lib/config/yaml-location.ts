import {type Document, isNode, LineCounter} from 'yaml'

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

/** Formats a key path as people write it in YAML: `hosts.0.ssh`. */
export function formatKeyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map(String).join('.') || '(top level)'
}
