import {Ajv2020, type ValidateFunction} from 'ajv/dist/2020.js'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {expect} from 'vitest'

/** The repository root (as test/helpers/cli.ts REPO_ROOT, not imported: cli.ts imports this file). */
const REPO_ROOT = path.resolve(import.meta.dirname, '../..')

/** The folder of the --json contract: one JSON Schema (draft 2020-12) per command, plus error.schema.json. */
export const SCHEMA_DIR = path.join(REPO_ROOT, 'schemas')

/** `app new` (or `app:new`) → `app-new`: the schema file stem of a command id. */
export function schemaStem(commandId: string): string {
  return commandId.replaceAll(/[ :]/g, '-')
}

/** Every schema file's stem (`app-new`, `error`, …), sorted. */
export function schemaStems(): string[] {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => f.slice(0, -'.schema.json'.length))
    .sort()
}

// strict: unknown keywords, ignored "additionalItems" and the like are errors in the schema itself;
// allowUnionTypes: `type: ["null", "string"]` is how the schemas say "nullable".
const ajv = new Ajv2020({allErrors: true, allowUnionTypes: true, strict: true})
const validators = new Map<string, ValidateFunction>()

/** The compiled validator of schemas/<stem>.schema.json (compiled once). @throws when the file is missing or not a valid strict schema */
export function schemaValidator(stem: string): ValidateFunction {
  let validate = validators.get(stem)
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${stem}.schema.json`), 'utf8')) as object)
    validators.set(stem, validate)
  }

  return validate
}

/**
 * Asserts that `value` (a command's parsed --json output) matches the command's schema; a
 * document with a top-level `error` is checked against schemas/error.schema.json instead.
 * `commandId` as typed (`backup status`) or oclif's (`backup:status`).
 */
export function expectMatchesSchema(commandId: string, value: unknown): void {
  const stem = isErrorDocument(value) ? 'error' : schemaStem(commandId)
  const validate = schemaValidator(stem)
  const ok = validate(value)
  const problems = ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
  expect(ok, `homelab ${commandId.replaceAll(':', ' ')} --json does not match schemas/${stem}.schema.json: ${problems.join('; ')}`).toBe(true)
}

/**
 * For a command line run with `--json` (before any `--`): when `stdout` is one JSON document,
 * asserts it matches the schema of the command the leading words name (the longest prefix with
 * a schema file) or schemas/error.schema.json. Lines that are not such a run (no --json, empty or
 * non-JSON stdout, an unknown command) are left to the test's own assertions.
 */
export function expectJsonContract(args: readonly string[], stdout: string): void {
  const end = args.indexOf('--')
  if (!(end === -1 ? args : args.slice(0, end)).includes('--json') || stdout.trim() === '') return
  let doc: unknown
  try {
    doc = JSON.parse(stdout)
  } catch {
    return
  }

  const words: string[] = []
  for (const arg of args) {
    if (arg.startsWith('-')) break
    words.push(arg)
  }

  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(' ')
    if (existsSync(path.join(SCHEMA_DIR, `${schemaStem(id)}.schema.json`))) return expectMatchesSchema(id, doc)
  }

  if (isErrorDocument(doc)) expectMatchesSchema('error', doc)
}

function isErrorDocument(value: unknown): boolean {
  const keys = typeof value === 'object' && value !== null ? Object.keys(value).filter((k) => k !== 'schemaVersion') : []
  return keys.length === 1 && keys[0] === 'error'
}
