import {readFileSync} from 'node:fs'
import path from 'node:path'
import {expect} from 'vitest'

import {REPO_ROOT} from './cli.js'

/**
 * Validates a `homelab diff --json` output against schemas/diff.schema.json (draft 2020-12, Ajv
 * strict). Stand-in for the shared `expectMatchesSchema('diff', value)` of test/helpers/json-schema.ts
 * until that helper is merged (then call it instead).
 */
export async function expectDiffSchema(value: unknown): Promise<void> {
  const {default: Ajv2020} = (await import('ajv/dist/2020.js')) as unknown as {default: new (o: object) => {compile(s: object): ((v: unknown) => boolean) & {errors?: unknown}}}
  const schema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'schemas/diff.schema.json'), 'utf8')) as object
  const validate = new Ajv2020({allErrors: true, strict: false}).compile(schema)
  const ok = validate(value)
  expect(ok, JSON.stringify(validate.errors, null, 2)).toBe(true)
}
