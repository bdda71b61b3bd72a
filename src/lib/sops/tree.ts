import {type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node, type Scalar} from 'yaml'

/** A leaf scalar of a SOPS document with its key path (map keys from the root; list indices left out). */
export interface LeafVisit {
  node: Scalar
  path: string[]
}

/** A node or document that carries comments (`commentBefore` / `comment`, text after `#`, lines joined by `\n`). */
export interface CommentHolder {
  commentBefore?: string | null
  comment?: string | null
}

/** A comment slot: where it hangs and the key path sops uses as its additional data. */
export interface CommentVisit {
  holder: CommentHolder
  field: 'comment' | 'commentBefore'
  path: string[]
}

/** Raised for YAML that SOPS files cannot hold (aliases, non-mapping top level). */
export class TreeShapeError extends Error {}

/** The text of a map key as sops sees it (go-yaml node value): the source text for scalars. */
export function keyText(key: unknown): string {
  if (isScalar(key)) return typeof key.source === 'string' && key.type === 'PLAIN' ? key.source : String(key.value)
  return String(key)
}

/**
 * Walks one document in document order (map entries in file order, list items in order), skipping
 * the top-level `sops` entry. Leaves are every scalar value; comments are reported per slot with
 * the path of the map or list holding them (a collection's own comments use its path).
 * @throws TreeShapeError for an alias, or a top level that is not a mapping (and not empty)
 */
export function walkDocument(doc: Document, onLeaf: (leaf: LeafVisit) => void, onComment?: (slot: CommentVisit) => void): void {
  const root = doc.contents
  if (root !== null && root !== undefined && !isMap(root)) throw new TreeShapeError('the top level must be a mapping')
  const comments = (holder: CommentHolder | null | undefined, path: string[]) => {
    if (!onComment || !holder) return
    if (holder.commentBefore) onComment({field: 'commentBefore', holder, path})
    if (holder.comment) onComment({field: 'comment', holder, path})
  }

  comments(doc as unknown as CommentHolder, [])
  const visit = (node: Node | null | undefined, path: string[], containerPath: string[]): void => {
    if (node === null || node === undefined) return
    if (isAlias(node)) throw new TreeShapeError(`YAML aliases are not supported (at ${path.join('.') || 'top level'})`)
    if (isMap(node)) {
      comments(node, path)
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const key = keyText(pair.key)
        if (path.length === 0 && key === 'sops') continue
        comments(pair.key as CommentHolder, path)
        const childPath = [...path, key]
        if (pair.value === null || pair.value === undefined) continue
        visit(pair.value as Node, childPath, path)
      }

      return
    }

    if (isSeq(node)) {
      comments(node, path)
      for (const item of node.items) visit(item as Node, path, path)
      return
    }

    if (isScalar(node)) {
      comments(node, containerPath)
      onLeaf({node, path})
    }
  }

  visit(root as Node, [], [])
}
