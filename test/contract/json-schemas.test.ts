import {readFileSync} from 'node:fs'
import path from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {expectMatchesSchema, SCHEMA_DIR, schemaStem, schemaStems, schemaValidator} from '../helpers/json-schema.js'
import {type ManifestCommand, manifestCommands} from '../helpers/manifest.js'

// Issue 17: every --json output has `schemaVersion: 1` and a JSON Schema (draft 2020-12) in
// schemas/. The real outputs are validated where the tests that produce them run (runCli checks
// every --json document: test/helpers/cli.ts); this file checks the set of schemas itself.

let json: ManifestCommand[] = []

beforeAll(async () => {
  json = (await manifestCommands()).filter((c) => c.own && c.enableJsonFlag)
}, 120_000)

describe('schemas/ (the --json contract)', () => {
  it('has a schema for every command with --json, and none without a command', () => {
    const stems = schemaStems()
    const wanted = json.map((c) => schemaStem(c.id))
    expect(wanted.filter((s) => !stems.includes(s)), 'commands with --json but no schemas/<id>.schema.json').toEqual([])
    expect(stems.filter((s) => s !== 'error' && !wanted.includes(s)), 'schema files naming no command with --json').toEqual([])
    expect(stems).toContain('error')
  })

  it('every schema compiles in ajv strict mode, is draft 2020-12, and requires schemaVersion 1', () => {
    for (const stem of schemaStems()) {
      const schema = JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${stem}.schema.json`), 'utf8')) as {$schema: string; properties?: {schemaVersion?: unknown}; required?: string[]; anyOf?: Array<{properties?: {schemaVersion?: unknown}; required?: string[]}>}
      expect(schema.$schema, stem).toBe('https://json-schema.org/draft/2020-12/schema')
      expect(() => schemaValidator(stem), stem).not.toThrow()
      for (const branch of schema.anyOf ?? [schema]) {
        expect(branch.properties?.schemaVersion, stem).toEqual({const: 1})
        expect(branch.required, stem).toContain('schemaVersion')
      }
    }
  })

  it('a document without schemaVersion, or with a field of the wrong type, fails its schema', () => {
    expect(() => expectMatchesSchema('app list', {apps: []})).toThrow(/schemaVersion/)
    expect(() => expectMatchesSchema('app list', {apps: 'none', schemaVersion: 1})).toThrow(/must be array/)
    expect(() => expectMatchesSchema('app list', {schemaVersion: 1, error: {exitCode: 3, message: 'x', name: 'UsageError', suggestions: []}})).not.toThrow()
    expect(() => expectMatchesSchema('app list', {schemaVersion: 1, error: {exitCode: 3, message: 'two\nlines', name: 'UsageError', suggestions: []}})).toThrow(/pattern/)
  })

  it('real outputs: app list, validate and secrets check --json on the bundled homelab match their schemas', {timeout: 180_000}, async () => {
    // runCli validates each --json document against its schema; here the documents are also
    // checked to be the command's success shape (schemaVersion first), not an error document.
    const runs = await Promise.all([['app', 'list', '--json'], ['validate', '--json'], ['secrets', 'check', '--json']].map(async (args) => ({args, r: await runCli(args, {env: {CI: 'true'}})})))
    for (const {args, r} of runs) {
      const doc = JSON.parse(r.stdout) as Record<string, unknown>
      expect(Object.keys(doc)[0], args.join(' ')).toBe('schemaVersion')
      expect(doc.error, `${args.join(' ')}: ${r.stdout.slice(0, 300)}`).toBeUndefined()
      expectMatchesSchema(args.slice(0, -1).join(' '), doc)
    }
  })
})
