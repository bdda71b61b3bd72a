import {readFileSync} from 'node:fs'
import path from 'node:path'
import {expect} from 'vitest'

import {REPO_ROOT} from './cli.js'

/**
 * Validates `value` against `schemas/<command id with spaces as ->.schema.json` (JSON Schema
 * draft 2020-12) with ajv's 2020 validator. Stand-in for the shared test/helpers/json-schema.ts
 * (same signature) until that lands; delete this file then and import that one.
 */
export async function expectMatchesSchema(commandId: string, value: unknown): Promise<void> {
  const file = path.join(REPO_ROOT, 'schemas', `${commandId.replaceAll(' ', '-')}.schema.json`)
  const schema = JSON.parse(readFileSync(file, 'utf8')) as object
  const {default: Ajv2020} = (await import('ajv/dist/2020.js')) as unknown as {default: new (o: object) => {compile(s: object): ((v: unknown) => boolean) & {errors?: unknown}}}
  const validate = new Ajv2020({allErrors: true, strict: false}).compile(schema)
  const ok = validate(value)
  expect(ok ? [] : validate.errors, `${commandId} --json against ${path.relative(REPO_ROOT, file)}`).toEqual([])
}
