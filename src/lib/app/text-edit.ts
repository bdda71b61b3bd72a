/**
 * Line-level text splices for YAML and JSON files that must keep every byte the CLI does not own
 * (comments, order, quoting, blank lines). Nodes are found with the `yaml` Document API (their
 * `range` offsets); the edit itself inserts or deletes whole lines, so `homelab app remove` can
 * undo `homelab app new` byte for byte.
 */

/** Offset of the first character of the line holding `offset`. */
export function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

/** Offset of the `\n` ending the line holding `offset` (text.length on the last line without one). */
export function lineEnd(text: string, offset: number): number {
  const i = text.indexOf('\n', offset)
  return i === -1 ? text.length : i
}

/** 0-based line number of `offset`. */
export function lineNumberAt(text: string, offset: number): number {
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** Offset of the start of 0-based line `n` (text.length when past the end). */
export function offsetOfLine(text: string, n: number): number {
  let offset = 0
  for (let i = 0; i < n; i++) {
    const next = text.indexOf('\n', offset)
    if (next === -1) return text.length
    offset = next + 1
  }

  return offset
}

/** The leading spaces of the line holding `offset`. */
export function indentAt(text: string, offset: number): string {
  const start = lineStart(text, offset)
  return /^[ \t]*/.exec(text.slice(start))![0]
}

/**
 * Inserts `lines` (each without its newline) as whole lines after the line holding `offset`.
 * When that line is the last one and has no newline, the new lines are joined with a leading
 * newline and none at the end, so {@link deleteLines} of the same lines gives the text back.
 */
export function insertLinesAfter(text: string, offset: number, lines: string[]): string {
  const end = lineEnd(text, offset)
  if (end === text.length) return text + lines.map((l) => '\n' + l).join('')
  return text.slice(0, end + 1) + lines.map((l) => l + '\n').join('') + text.slice(end + 1)
}

/** Inserts `lines` as whole lines before the line holding `offset`. */
export function insertLinesBefore(text: string, offset: number, lines: string[]): string {
  const start = lineStart(text, offset)
  return text.slice(0, start) + lines.map((l) => l + '\n').join('') + text.slice(start)
}

/**
 * Deletes the whole lines from the line holding `from` to the line holding `to` (inclusive),
 * with their newline (or, on the last line without one, the newline before them).
 */
export function deleteLines(text: string, from: number, to: number): string {
  const start = lineStart(text, from)
  const end = lineEnd(text, to)
  if (end < text.length) return text.slice(0, start) + text.slice(end + 1)
  return text.slice(0, Math.max(0, start - 1)) + text.slice(end)
}
