import path from 'node:path'
import {isMap, isSeq, isScalar} from 'yaml'

import {isKustomizationFile} from './repo-files.js'
import type {YamlFile} from './context.js'

/**
 * True when a kustomization entry (or any string in a kustomization) names a remote base rather
 * than a local path: a URL (`https://…`, `ssh://…`), `github.com/…`-style, `git@…`, `git::…`, a
 * `?ref=`, or scp-style `user@host:path` (kustomize api/internal/git/repospec.go accepts these).
 */
export function isRemoteEntry(value: string): boolean {
  return /:\/\/|(github|gitlab)\.com\/|bitbucket\.org\/|git@|^git::|\?ref=|^[\w.-]+@[^/:]+:/.test(value)
}

/** One path entry of a kustomization (`resources`, `components`, `patches[].path`, `patchesStrategicMerge`). */
export interface KustomizationEntry {
  /** The kustomization file. */
  file: YamlFile
  /** The field it came from, e.g. `resources`. */
  field: string
  /** The entry as written. */
  entry: string
  /** 1-based line of the entry. */
  line: number
  /** Repository-relative POSIX path the entry points at (undefined for remote URLs). */
  target?: string
}

/**
 * Every local path a kustomization file refers to (kustomize api/types/kustomization.go:
 * resources, components, patches[].path, patchesStrategicMerge). Remote entries (URLs,
 * `github.com/...`) are listed without a target.
 */
export function kustomizationEntries(yaml: YamlFile[]): KustomizationEntry[] {
  const out: KustomizationEntry[] = []
  for (const file of yaml) {
    if (!isKustomizationFile(file.rel) || file.syntaxErrors.length > 0) continue
    const doc = file.docs[0]
    if (!doc || !isMap(doc.contents)) continue
    const dir = path.posix.dirname(file.rel)
    const add = (field: string, node: unknown) => {
      if (!isScalar(node) || typeof node.value !== 'string') return
      const entry = node.value
      const line = node.range ? file.lineCounter.linePos(node.range[0]).line : 1
      out.push({entry, field, file, line, target: isRemoteEntry(entry) ? undefined : path.posix.normalize(path.posix.join(dir, entry))})
    }

    for (const field of ['resources', 'components', 'patchesStrategicMerge']) {
      const seq = doc.get(field, true)
      if (isSeq(seq)) for (const item of seq.items) add(field, item)
    }

    const patches = doc.get('patches', true)
    if (isSeq(patches)) for (const item of patches.items) if (isMap(item)) add('patches', item.get('path', true))
  }

  return out
}
