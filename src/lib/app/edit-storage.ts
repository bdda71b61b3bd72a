import {isDeepStrictEqual} from 'node:util'

import {ConfigError} from '../errors.js'
import type {StorageApp} from '../config/schema.js'

/**
 * Edits of the storage file (`nixos/storage.json`, schema `src/lib/config/schema.ts`) that keep
 * its layout: 2-space JSON, one app object per line in `apps`. Every result is checked by parsing
 * it again (RFC 8259 JSON) and comparing with the intended value.
 */

/** One app entry the way the file writes it, on one line: `{ "name": "x", "path": "/srv/x", "uid": 1000, "gid": 1000, "mode": "0750" }`, plus `"backup": { ... }` when the capture is not `files`. */
export function formatStorageEntry(app: StorageApp): string {
  const fields = (['name', 'path', 'uid', 'gid', 'mode'] as const).map((k) => `${JSON.stringify(k)}: ${JSON.stringify(app[k])}`)
  if (app.node !== undefined) fields.push(`"node": ${JSON.stringify(app.node)}`)
  // The capture mode, when not the default, on the same line: `"backup": { "mode": "stop" }`.
  if (app.backup && app.backup.mode !== 'files') {
    const inner = Object.entries(app.backup).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v).replaceAll('","', '", "')}`)
    fields.push(`"backup": { ${inner.join(', ')} }`)
  }

  return `{ ${fields.join(', ')} }`
}

interface Span {
  start: number
  end: number // exclusive
}

/** The `[`…`]` span of the top-level `apps` array and the spans of its object items. */
function appsArray(text: string, file: string): {array: Span; items: Span[]} {
  let depth = 0
  let i = 0
  let arrayStart = -1
  const items: Span[] = []
  let itemStart = -1
  let lastKey = ''
  while (i < text.length) {
    const ch = text[i]
    if (ch === '"') {
      const end = stringEnd(text, i)
      if (depth === 1 && text.slice(end).match(/^\s*:/)) lastKey = JSON.parse(text.slice(i, end)) as string
      i = end
      continue
    }

    if (ch === '{' || ch === '[') {
      depth++
      if (ch === '[' && depth === 2 && lastKey === 'apps' && arrayStart === -1) arrayStart = i
      else if (ch === '{' && depth === 3 && arrayStart !== -1 && itemStart === -1) itemStart = i
    } else if (ch === '}' || ch === ']') {
      if (ch === '}' && depth === 3 && itemStart !== -1) {
        items.push({end: i + 1, start: itemStart})
        itemStart = -1
      }

      if (ch === ']' && depth === 2 && arrayStart !== -1) return {array: {end: i + 1, start: arrayStart}, items}
      depth--
    }

    i++
  }

  throw new ConfigError(`${file}: no "apps" list`, {suggestions: [`it should look like {"apps": [], "extraBackupSources": ["/etc/nixos"]}`]})
}

/** Offset just past the JSON string starting at `start` (a `"`). */
function stringEnd(text: string, start: number): number {
  let i = start + 1
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
  return i + 1
}

function parse(text: string, file: string): {apps: StorageApp[]} & Record<string, unknown> {
  try {
    return JSON.parse(text) as {apps: StorageApp[]} & Record<string, unknown>
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON: ${(error as Error).message}`)
  }
}

function checked(out: string, expected: unknown, file: string): string {
  if (!isDeepStrictEqual(parse(out, file), expected)) throw new ConfigError(`${file}: could not edit it in place; its layout is unusual`)
  return out
}

/**
 * Appends `app` as the last line of `apps`.
 * @throws ConfigError when the file is not JSON or has no apps list
 */
export function addStorageApp(text: string, app: StorageApp, file: string): string {
  const before = parse(text, file)
  const expected = {...before, apps: [...before.apps, app]}
  const {array, items} = appsArray(text, file)
  const entry = formatStorageEntry(app)
  if (items.length === 0) {
    const lineStart = text.lastIndexOf('\n', array.start) + 1
    const indent = /^\s*/.exec(text.slice(lineStart))![0]
    return checked(`${text.slice(0, array.start)}[\n${indent}  ${entry}\n${indent}]${text.slice(array.end)}`, expected, file)
  }

  const last = items.at(-1)!
  const lineStart = text.lastIndexOf('\n', last.start) + 1
  const indent = text.slice(lineStart, last.start)
  const sameLine = !text.slice(items[0].start, last.end).includes('\n') && items.length > 1
  const joiner = sameLine || !/^\s*$/.test(indent) ? ', ' : `,\n${indent}`
  return checked(text.slice(0, last.end) + joiner + entry + text.slice(last.end), expected, file)
}

/**
 * Removes the app named `name` from `apps` (the text is unchanged when there is none).
 * @throws ConfigError when the file is not JSON or has no apps list
 */
export function removeStorageApp(text: string, name: string, file: string): string {
  const before = parse(text, file)
  const index = before.apps.findIndex((a) => a.name === name)
  if (index === -1) return text
  const expected = {...before, apps: before.apps.filter((_, i) => i !== index)}
  const {array, items} = appsArray(text, file)
  if (items.length !== before.apps.length) throw new ConfigError(`${file}: apps holds something other than objects`)
  const item = items[index]
  if (items.length === 1) return checked(text.slice(0, array.start) + '[]' + text.slice(array.end), expected, file)
  if (index > 0) return checked(text.slice(0, items[index - 1].end) + text.slice(item.end), expected, file)
  return checked(text.slice(0, item.start) + text.slice(items[1].start), expected, file)
}
