import path from 'node:path'
import {type Document, isMap, LineCounter} from 'yaml'

import {type Homelab} from '../config/load.js'
import {type StorageFile} from '../config/schema.js'
import type {ConfigError} from '../errors.js'
import {lineOfPath} from '../config/yaml-location.js'
import {NotRegularFileError, readRegularFile} from '../fs/read-regular.js'
import {ALIAS_BOMB_REASON, firstAliasLine, parseYamlDocuments} from '../yaml/parse.js'
import {isKustomizationFile, isYamlFile, listRepoFiles} from './repo-files.js'

/** One YAML file of the repository, parsed with line numbers (every document of a multi-document file). */
export interface YamlFile {
  /** Repository-relative POSIX path. */
  rel: string
  text: string
  /** The documents; a document with syntax errors has `errors` set (see `syntaxErrors`). */
  docs: Document.Parsed[]
  lineCounter: LineCounter
  /** YAML syntax errors: 1-based line and the parser's first message line. */
  syntaxErrors: Array<{line: number; message: string}>
}

/** A YAML document that describes a Kubernetes object (or tries to: the fields may be missing). */
export interface KubeObject {
  file: YamlFile
  /** 0-based index of the document in its file. */
  index: number
  doc: Document.Parsed
  /** The document as plain data. */
  value: Record<string, unknown>
  apiVersion?: string
  kind?: string
  name?: string
  /** metadata.namespace, else the `namespace:` of the nearest enclosing kustomization, else undefined. */
  namespace?: string
}

/** 1-based line of the node at `keyPath` in an object's document (the deepest existing parent otherwise). */
export function lineOf(object: {doc: Document; file: YamlFile}, keyPath: ReadonlyArray<string | number>): number {
  return lineOfPath(object.doc, object.file.lineCounter, keyPath)
}

/**
 * What every check reads, loaded once: the files in scope, the parsed YAML, the Kubernetes
 * objects, the homelab configuration (when it loads), the storage file (when it loads), and
 * where the external tools are.
 */
export interface ValidateContext {
  /** Absolute repository root. */
  root: string
  /** Every homelab file (see listRepoFiles), repository-relative. */
  files: string[]
  /** Every `.yaml`/`.yml` file outside `templates/` (templates hold `{{placeholders}}`). */
  yaml: YamlFile[]
  /** Every document that is a Kubernetes object (see collectObjects). */
  objects: KubeObject[]
  /** homelab.yaml when it loads and passes its schema. */
  homelab?: Homelab
  /** Why homelab.yaml did not load (missing file aside). */
  homelabError?: ConfigError
  /** The storage file when homelab.yaml and it both load. */
  storage?: StorageFile
  /** Why the storage file did not load. */
  storageError?: ConfigError
  /** The storage root: from homelab.yaml, else the schema default `/srv`. */
  storageRoot: string
  /** Absolute path of a tool on PATH, or undefined when it is not installed. */
  tool(name: 'kubectl' | 'nix-instantiate'): Promise<string | undefined>
}

/**
 * Parses one YAML file's text into documents with line numbers, in time linear in its length
 * (see parseYamlDocuments). An alias bomb (aliases that expand past yaml's limit) is recorded as
 * a syntax error at its first alias, so no later step expands it.
 */
export function parseYamlFile(rel: string, text: string): YamlFile {
  const {docs, lineCounter} = parseYamlDocuments(text)
  const syntaxErrors = docs.flatMap((doc) =>
    doc.errors.map((err) => ({
      line: err.linePos?.[0]?.line ?? 1,
      message: err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''),
    })),
  )
  // Only a text with an alias (`*name`) can hold a bomb; expanding is otherwise left to the checks.
  for (const doc of text.includes('*') ? docs : []) {
    if (doc.errors.length > 0) continue
    try {
      doc.toJS()
    } catch (error) {
      if (!(error instanceof Error) || !/Excessive alias count/.test(error.message)) throw error
      syntaxErrors.push({line: firstAliasLine(doc, lineCounter), message: ALIAS_BOMB_REASON})
    }
  }

  return {docs, lineCounter, rel, syntaxErrors, text}
}

/**
 * Reads and parses every YAML file in `files` outside `templates/`. A file that is no longer a
 * regular file when read (swapped for a FIFO or device) is recorded as a syntax error at line 1,
 * never opened (see readRegularFile).
 * @throws NodeJS.ErrnoException when a file cannot be read
 */
export async function loadYamlFiles(root: string, files: string[]): Promise<YamlFile[]> {
  const rels = files.filter((f) => isYamlFile(f) && !f.startsWith('templates/'))
  return Promise.all(
    rels.map(async (rel) => {
      try {
        return parseYamlFile(rel, await readRegularFile(root, rel))
      } catch (error) {
        if (!(error instanceof NotRegularFileError)) throw error
        return {docs: [], lineCounter: new LineCounter(), rel, syntaxErrors: [{line: 1, message: error.message}], text: ''}
      }
    }),
  )
}

/**
 * The Kubernetes objects among the parsed YAML: every document (a mapping) that has an
 * `apiVersion`, `kind` or `metadata` key, and every document of a file that some
 * kustomization lists under `resources`. Kustomize's own kustomization files are not objects.
 * Files that failed to parse contribute no objects.
 */
export function collectObjects(yaml: YamlFile[], listedResources: ReadonlySet<string>): KubeObject[] {
  const namespaces = kustomizationNamespaces(yaml)
  const objects: KubeObject[] = []
  for (const file of yaml) {
    if (file.syntaxErrors.length > 0 || isKustomizationFile(file.rel)) continue
    if (file.rel === '.sops.yaml' || file.rel === 'homelab.yaml') continue
    for (const [index, doc] of file.docs.entries()) {
      if (!isMap(doc.contents)) continue
      const value = doc.toJS() as Record<string, unknown>
      const looksLikeObject = 'apiVersion' in value || 'kind' in value || 'metadata' in value
      if (!looksLikeObject && !listedResources.has(file.rel)) continue
      const metadata = (isRecord(value.metadata) ? value.metadata : {}) as Record<string, unknown>
      objects.push({
        apiVersion: typeof value.apiVersion === 'string' ? value.apiVersion : undefined,
        doc,
        file,
        index,
        kind: typeof value.kind === 'string' ? value.kind : undefined,
        name: typeof metadata.name === 'string' ? metadata.name : undefined,
        namespace: typeof metadata.namespace === 'string' ? metadata.namespace : nearestNamespace(file.rel, namespaces),
        value,
      })
    }
  }

  return objects
}

/** Folder (repo-relative) → the `namespace:` its kustomization sets. */
function kustomizationNamespaces(yaml: YamlFile[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const file of yaml) {
    if (!isKustomizationFile(file.rel) || file.syntaxErrors.length > 0) continue
    const value = file.docs[0]?.toJS() as Record<string, unknown> | undefined
    if (value && typeof value.namespace === 'string') out.set(path.posix.dirname(file.rel), value.namespace)
  }

  return out
}

function nearestNamespace(rel: string, namespaces: Map<string, string>): string | undefined {
  let dir = path.posix.dirname(rel)
  for (;;) {
    const ns = namespaces.get(dir)
    if (ns) return ns
    if (dir === '.' || dir === '/') return undefined
    dir = path.posix.dirname(dir)
  }
}

/** True for a plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
