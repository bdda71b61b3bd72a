// The strict schema validation under validate's schema check: which fields count as unknown
// (declared properties only), which do not (maps, free-form objects), and where models come from.
import {describe, expect, it} from 'vitest'

import {loadSchemaModel, modelModule} from '../../../src/lib/validate/schema-models.js'
import {formatFieldPath, validateStrict} from '../../../src/lib/validate/strict-schema.js'

async function violations(data: Record<string, unknown>): Promise<string[]> {
  const model = await loadSchemaModel(data.apiVersion as string, data.kind as string)
  expect(model, `a model for ${String(data.apiVersion)} ${String(data.kind)}`).toBeDefined()
  return validateStrict(model!.validate, data).map((v) => `${formatFieldPath(v.path)}: ${v.message}`)
}

describe('validateStrict', () => {
  it('accepts any key in a map (labels, annotations with a slash, ConfigMap data) but not beside declared fields', async () => {
    expect(
      await violations({
        apiVersion: 'v1',
        data: {'config.yaml': 'a: 1', other: 'x'},
        kind: 'ConfigMap',
        metadata: {annotations: {'checksum/config': 'abc'}, labels: {'app.kubernetes.io/name': 'x'}, name: 'x', nmespace: 'y'},
      }),
    ).toEqual(['metadata.nmespace: unknown field'])
  })

  it("leaves a free-form object (a HelmRelease's values) alone, and judges its neighbours", async () => {
    expect(
      await violations({
        apiVersion: 'helm.toolkit.fluxcd.io/v2beta2',
        kind: 'HelmRelease',
        metadata: {name: 'x'},
        spec: {chart: {spec: {chart: 'c', sourceRef: {kind: 'HelmRepository', name: 'r'}}}, interval: '1h', valuez: {}, values: {any: {thing: [1, {goes: true}]}}},
      }),
    ).toEqual(['spec.valuez: unknown field'])
  })

  it('names a wrong IntOrString once, with both types', async () => {
    expect(
      await violations({apiVersion: 'v1', kind: 'Service', metadata: {name: 's'}, spec: {ports: [{port: 80, targetPort: ['http']}]}}),
    ).toEqual(['spec.ports[0].targetPort: must be string or integer (got a list)'])
  })

  it('drops errors about values the caller ignores (SOPS ENC[...] strings in base64 data)', async () => {
    const model = await loadSchemaModel('v1', 'Secret')
    const secret = {apiVersion: 'v1', data: {password: 'ENC[AES256_GCM,data:x,type:str]'}, kind: 'Secret', metadata: {name: 's'}}
    expect(validateStrict(model!.validate, secret).map((v) => v.keyword)).toEqual(['format'])
    expect(validateStrict(model!.validate, secret, (v) => typeof v === 'string' && v.startsWith('ENC['))).toEqual([])
  })
})

describe('loadSchemaModel', () => {
  it('finds built-in and Flux kinds, and nothing for CRDs, non-object types, unknown versions or odd names', async () => {
    expect(modelModule('v1', 'Service')).toBe('kubernetes-models/v1/Service')
    expect(modelModule('apps/v1', 'Deployment')).toBe('kubernetes-models/apps/v1/Deployment')
    expect(modelModule('source.toolkit.fluxcd.io/v1', 'GitRepository')).toBe('@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/GitRepository')
    expect(modelModule('v1', '../../x')).toBeUndefined()
    expect(modelModule('../v1', 'Service')).toBeUndefined()
    expect((await loadSchemaModel('kustomize.toolkit.fluxcd.io/v1', 'Kustomization'))?.module).toBe('@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization')
    expect(await loadSchemaModel('networking.cfargotunnel.com/v1alpha1', 'TunnelBinding')).toBeUndefined()
    expect(await loadSchemaModel('v1', 'Container')).toBeUndefined()
    expect(await loadSchemaModel('apps/v9', 'Deployment')).toBeUndefined()
    expect(await loadSchemaModel('apps/v1', 'Deploymnt')).toBeUndefined()
  })
})
