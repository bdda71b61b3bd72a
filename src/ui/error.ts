import type {HomelabError} from '../lib/errors.js'
import {colors} from './color.js'

/**
 * The `--json` error document of every command: `{schemaVersion: 1, error: {exitCode, suggestions,
 * …, message, name}}` (schemas/error.schema.json): the error's own enumerable fields (some carry
 * a partial `result`, e.g. deploy's per-host outcome) plus its message and name, as oclif's
 * `Command.toErrorJson` does; `cause` is left out.
 */
export function errorJson(err: HomelabError): {schemaVersion: 1; error: {exitCode: number; message: string; name: string; suggestions: string[]} & Record<string, unknown>} {
  return {schemaVersion: 1, error: {...err, exitCode: err.exitCode, message: err.message, name: err.name, suggestions: err.suggestions}}
}

/**
 * Writes `Error: <message>` as one unwrapped line on stderr, then each suggestion on its own
 * `  → …` line (colour only on a terminal and without NO_COLOR).
 */
export function writeErrorLines(err: HomelabError, stream: NodeJS.WriteStream = process.stderr): void {
  const c = colors(stream)
  stream.write(`${c.red('Error:')} ${err.message}\n`)
  for (const suggestion of err.suggestions) stream.write(`  ${c.dim('→')} ${suggestion}\n`)
}

/** True when `--json` is among `argv` before a `--` (oclif's own test in `Command.jsonEnabled`). */
export function argvWantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json')
}
