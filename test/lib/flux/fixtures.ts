import {readFileSync} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import {REPO_ROOT} from '../../helpers/cli.js'

/** The fixture folder (test/fixtures/flux). */
export const FLUX_FIXTURES = path.join(REPO_ROOT, 'test/fixtures/flux')

export const COMMIT = '696f056df216eea4f9401adbee0ff744d4df390f'
export const PREVIOUS = '1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d'

/** Renders the Go-template placeholders `{{ .name }}` the fixtures use. */
export function renderGoTemplate(text: string, values: Record<string, string>): string {
  return text.replaceAll(/\{\{\s*\.(\w+)\s*\}\}/g, (m, name: string) => {
    if (values[name] === undefined) throw new Error(`no value for ${m}`)
    return values[name]
  })
}

const DEFAULTS = {commit: COMMIT, fluxns: 'flux-system', previous: PREVIOUS}

/** A `test/fixtures/flux/azalab-0/<name>.json` fixture, rendered, as text. */
export function azalabFixture(name: string, values: Record<string, string> = {}): string {
  return renderGoTemplate(readFileSync(path.join(FLUX_FIXTURES, 'azalab-0', `${name}.json`), 'utf8'), {...DEFAULTS, ...values})
}

/** One of the flux2 YAML templates, rendered and parsed to an array of objects. */
export function flux2Fixture(file: string): unknown[] {
  const text = renderGoTemplate(readFileSync(path.join(FLUX_FIXTURES, file), 'utf8'), {fluxns: 'flux-system'})
  return parseAllDocuments(text).map((d) => d.toJS())
}
