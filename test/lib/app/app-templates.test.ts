import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {BUNDLED_APP_TEMPLATES, loadAppTemplates, renderApp} from '../../../src/lib/scaffold/app-templates.js'
import {specOf} from './tree-snapshot.js'

/** Values a YAML 1.1 parser (go-yaml v2, older kubectl) reads as bool, number, null or timestamp when unquoted. */
const TRICKY = ['yes', 'on', 'no', 'off', 'y', '0755', '1.0', '1e3', '0x1F', 'true', 'null', '~', '2024-01-01', '12:30', '']

async function render(over: Parameters<typeof specOf>[0]) {
  const templates = await loadAppTemplates(BUNDLED_APP_TEMPLATES)
  return renderApp(templates, specOf(over), '/srv', {includeNamespace: true, templatesDir: 'templates/app'})
}

describe('app templates: env values', () => {
  it('writes every --env value as a double-quoted string, read back as the same string by YAML 1.1 and 1.2 parsers', async () => {
    const env = TRICKY.map((value, i) => ({name: `V${i}`, value}))
    const text = (await render({env, image: 'x:1', name: 'web'})).files.get('deployment.yaml')!
    for (const {value} of env) expect(text).toContain(`value: ${JSON.stringify(value)}\n`)
    for (const version of ['1.1', '1.2'] as const) {
      const container = (parse(text, {version}) as {spec: {template: {spec: {containers: {env: unknown}[]}}}}).spec.template.spec.containers[0]
      expect(container.env, `YAML ${version}`).toEqual(env)
    }
  })

  it('escapes quotes, backslashes and newlines in values', async () => {
    const env = [{name: 'A', value: 'say "hi"\\n\nnext: line'}]
    const text = (await render({env, image: 'x:1', kind: 'statefulset', name: 'web'})).files.get('statefulset.yaml')!
    expect((parse(text, {version: '1.1'}) as {spec: {template: {spec: {containers: {env: unknown}[]}}}}).spec.template.spec.containers[0].env).toEqual(env)
  })
})
