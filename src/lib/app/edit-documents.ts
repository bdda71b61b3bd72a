import {ConfigError} from '../errors.js'
import {parseYamlDocuments, yamlToJS} from '../yaml/parse.js'

/**
 * Edits of a multi-document YAML file (documents separated by `---` lines, YAML 1.2 §9.2) that
 * keep every other byte: append one document, remove one document with its separator.
 */

/** One document of a multi-document file: its text chunk (separator line included) and parsed value. */
export interface DocumentChunk {
  /** Offsets of the chunk in the file: from its `---` line (if any) to the next `---` line. */
  start: number
  end: number
  value: unknown
}

const SEPARATOR = /^---[ \t]*(#.*)?$/gm

/**
 * Splits `text` into document chunks at `---` lines and parses each.
 * @throws ConfigError for bad YAML or an alias bomb, or when a `---` line sits inside a block scalar (the split
 *   would not match the parser's documents)
 */
export function documentChunks(text: string, file: string): DocumentChunk[] {
  const {docs, lineCounter} = parseYamlDocuments(text)
  const broken = docs.find((d) => d.errors.length > 0)
  if (broken) throw new ConfigError(`${file}: invalid YAML: ${broken.errors[0].message.split('\n')[0]}`)

  const starts = [0, ...[...text.matchAll(SEPARATOR)].map((m) => m.index)].filter((v, i, a) => i === 0 || v !== a[i - 1])
  const chunks = starts.map((start, i) => {
    const end = starts[i + 1] ?? text.length
    const chunk = parseYamlDocuments(text.slice(start, end))
    const values = chunk.docs.map((d) => yamlToJS(d, chunk.lineCounter, file)).filter((v) => v !== null && v !== undefined)
    if (values.length > 1) throw new ConfigError(`${file}: could not split its documents at --- lines`)
    return {end, start, value: values[0] ?? null}
  })
  const withContent = docs.filter((d) => {
    const v = yamlToJS(d, lineCounter, file)
    return v !== null && v !== undefined
  }).length
  if (chunks.filter((c) => c.value !== null).length !== withContent)
    throw new ConfigError(`${file}: could not split its documents at --- lines (a --- inside a block scalar?)`)
  return chunks
}

/**
 * Appends `documentText` (one YAML document, ending in a newline) as the last document of the
 * file, after a `---` line when the file already holds a document.
 */
export function appendDocument(text: string, documentText: string, file: string): string {
  const chunks = documentChunks(text, file)
  const hasDocument = chunks.some((c) => c.value !== null)
  const base = text.length === 0 || text.endsWith('\n') ? text : text + '\n'
  return base + (hasDocument ? '---\n' : '') + documentText
}

/**
 * Removes the documents for which `match(value)` is true, each with the `---` line that starts it.
 * The first document of a file has no separator of its own: the next document's `---` line goes
 * with it instead, and the comment lines above it are kept (they usually describe the whole file)
 * except those from a line starting with `# <label>` on (the document's own comment), where
 * `label(value)` names it.
 * @returns the new text and how many documents were removed
 */
export function removeDocuments(
  text: string,
  file: string,
  match: (value: unknown) => boolean,
  label: (value: unknown) => string | undefined = () => undefined,
): {removed: number; text: string} {
  const chunks = documentChunks(text, file)
  let out = text
  let removed = 0
  for (let i = chunks.length - 1; i >= 0; i--) {
    const chunk = chunks[i]
    if (!match(chunk.value)) continue
    removed++
    if (chunk.start === 0 && !text.startsWith('---')) {
      const keep = leadingComments(text.slice(chunk.start, chunk.end), label(chunk.value))
      // Everything from chunk.end on in `out` is what follows; drop its `---` line when there is one.
      let rest = out.slice(chunk.end)
      if (/^---/.test(rest)) rest = rest.includes('\n') ? rest.slice(rest.indexOf('\n') + 1) : ''
      out = keep + rest
    } else {
      out = out.slice(0, chunk.start) + out.slice(chunk.end)
    }
  }

  return {removed, text: out}
}

/** The comment (and blank) lines that open `chunk`, cut at the last line starting with `# <label>`. */
function leadingComments(chunk: string, label: string | undefined): string {
  const lines = chunk.split('\n')
  let n = 0
  while (n < lines.length - 1 && /^\s*(#.*)?$/.test(lines[n])) n++
  let cut = n
  if (label !== undefined)
    for (let i = n - 1; i >= 0; i--)
      if (lines[i].startsWith(`# ${label}:`) || lines[i].startsWith(`# ${label} `) || lines[i] === `# ${label}`) {
        cut = i
        break
      }

  return lines.slice(0, cut).map((l) => l + '\n').join('')
}

/** True when `value` is a Kubernetes object of `kind` named `name`. */
export function isObject(value: unknown, kind: string, name?: string): value is {kind: string; metadata?: {name?: string; namespace?: string}; spec?: Record<string, unknown>} {
  if (typeof value !== 'object' || value === null) return false
  const v = value as {kind?: unknown; metadata?: {name?: unknown}}
  return v.kind === kind && (name === undefined || v.metadata?.name === name)
}
