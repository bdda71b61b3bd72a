import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {BUNDLED_APP_TEMPLATES, loadAppTemplates, renderApp, renderSections} from '../../../src/lib/scaffold/app-templates.js'
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

describe('app templates: the parts about the volume', () => {
  const VOLUME_ONLY = [/strategy:/, /Recreate/, /ReadWriteOnce/, /host folder/, /storage\.json/, /volumeClaimTemplates/, /persistentVolumeClaim/, /\/srv\/web/]

  it.each(['deployment', 'statefulset'] as const)('a stateless %s (--storage 0) has no Recreate strategy and no comment about a volume or host folder', async (kind) => {
    const text = (await render({image: 'x:1', kind, name: 'web', port: 80})).files.get(`${kind}.yaml`)!
    for (const pattern of VOLUME_ONLY) expect(text).not.toMatch(pattern)
    expect(text).not.toContain('{{')
    expect((parse(text) as {spec: {strategy?: unknown}}).spec.strategy).toBeUndefined()
  })

  it('a Deployment with a volume gets strategy Recreate and the comments naming the claim and host folder', async () => {
    const text = (await render({image: 'x:1', name: 'web', storage: '1Gi'})).files.get('deployment.yaml')!
    expect(text).toContain('  # Recreate: the old pod stops before the new one starts (the ReadWriteOnce volume takes one).\n  strategy:\n    type: Recreate\n')
    expect(text).toContain('      # The host folder /srv/web belongs to 1000:1000 (storage.json).\n      securityContext:\n')
    expect(text).not.toContain('{{')
  })

  it('a StatefulSet with a volume says where its volume comes from', async () => {
    const text = (await render({image: 'x:1', kind: 'statefulset', name: 'web', storage: '1Gi'})).files.get('statefulset.yaml')!
    expect(text).toContain('  # No volumeClaimTemplates: the volume is the pre-bound hostPath claim web-data\n  # (persistent-volumes.yaml), the host folder /srv/web that is backed up.\n')
    expect(text).not.toMatch(/strategy/i)
  })
})

describe('renderSections', () => {
  const T = 'a: 1\n# {{#volume}}\nb: 2\n  {{ ^port }}\nc: 3\n{{/port}}\n# {{/volume}}\n{{^volume}}\nd: 4\n{{/volume}}\n'

  it('keeps {{#x}} lines when x is true, {{^x}} lines when false, drops the markers, nests', () => {
    expect(renderSections(T, {port: false, volume: true}, 't.yaml')).toBe('a: 1\nb: 2\nc: 3\n')
    expect(renderSections(T, {port: true, volume: true}, 't.yaml')).toBe('a: 1\nb: 2\n')
    expect(renderSections(T, {port: false, volume: false}, 't.yaml')).toBe('a: 1\nd: 4\n')
    expect(renderSections('x: {{name}}\n', {}, 't.yaml')).toBe('x: {{name}}\n')
  })

  it('names the file and line of a bad marker', () => {
    expect(() => renderSections('{{#disk}}\n{{/disk}}\n', {volume: true}, 't.yaml')).toThrow('t.yaml:1: unknown section {{#disk}}')
    expect(() => renderSections('a: 1\n{{#volume}}\n', {volume: true}, 't.yaml')).toThrow('t.yaml:2: section {{volume}} is never closed ({{/volume}})')
    expect(() => renderSections('{{#volume}}\n{{/port}}\n', {port: true, volume: true}, 't.yaml')).toThrow('t.yaml:2: {{/port}} closes {{#volume}} of line 1')
    expect(() => renderSections('{{/port}}\n', {port: true}, 't.yaml')).toThrow('t.yaml:1: {{/port}} closes no section')
    expect(() => renderSections('a: 1 {{#volume}}\n', {volume: true}, 't.yaml')).toThrow('t.yaml:1: a section marker must be on a line of its own')
  })
})
