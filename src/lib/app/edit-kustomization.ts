import {isScalar, isSeq, parseDocument, type Scalar, type YAMLSeq} from 'yaml'

import {ConfigError} from '../errors.js'
import {deleteLines, insertLinesAfter, lineEnd, lineStart} from './text-edit.js'

/**
 * Edits of a kustomize `kustomization.yaml` (kustomize api `types/kustomization.go`: `resources`
 * is a list of file or folder paths) that keep every other byte of the file.
 */

/** The `resources` entries of a kustomization, as written. @throws ConfigError for bad YAML. */
export function kustomizationResources(text: string, file: string): string[] {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`)
  const seq = doc.get('resources', true)
  if (seq === undefined) return []
  if (!isSeq(seq)) throw new ConfigError(`${file}: resources must be a list`)
  return seq.items.map((item) => String(isScalar(item) ? item.value : item))
}

/** True when a resources entry names the folder `name` (`name`, `name/`, `./name`, `./name/`). */
export function isFolderEntry(entry: string, name: string): boolean {
  return entry.replace(/^\.\//, '').replace(/\/$/, '') === name
}

/**
 * Adds `entry` as the last item of `resources`, in the file's own style (the indentation of the
 * items there). A flow or empty list is rewritten through the Document API.
 * @throws ConfigError when the file is not YAML or resources is not a list
 */
export function addResource(text: string, entry: string, file: string): string {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`)
  const seq = doc.get('resources', true) as YAMLSeq | undefined
  if (seq !== undefined && !isSeq(seq)) throw new ConfigError(`${file}: resources must be a list`)
  if (seq === undefined || seq.flow || seq.items.length === 0) {
    doc.addIn(['resources'], entry)
    return doc.toString()
  }

  const last = seq.items.at(-1) as Scalar
  const [start, valueEnd] = last.range!
  const itemLineStart = lineStart(text, start)
  const prefix = text.slice(itemLineStart, start) // e.g. "  - "
  if (!/^\s*-\s+$/.test(prefix)) {
    doc.addIn(['resources'], entry)
    return doc.toString()
  }

  return insertLinesAfter(text, valueEnd, [`${prefix}${entry}`])
}

/**
 * Removes the resources item naming folder `name`; the text is unchanged when there is none.
 * @throws ConfigError when the file is not YAML
 */
export function removeResource(text: string, name: string, file: string): string {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`)
  const seq = doc.get('resources', true)
  if (!isSeq(seq)) return text
  const index = seq.items.findIndex((item) => isScalar(item) && isFolderEntry(String(item.value), name))
  if (index === -1) return text
  const item = seq.items[index] as Scalar
  const [start, valueEnd] = item.range!
  const onItsOwnLine = /^\s*-\s*$/.test(text.slice(lineStart(text, start), start)) && /^\s*(#.*)?$/.test(text.slice(valueEnd, lineEnd(text, valueEnd)))
  if (!seq.flow && onItsOwnLine) return deleteLines(text, start, valueEnd)
  seq.delete(index)
  return doc.toString()
}
