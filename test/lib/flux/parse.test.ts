import {describe, expect, it} from 'vitest'

import {parseFluxState} from '../../../src/lib/flux/parse.js'
import {azalabFixture, COMMIT, flux2Fixture, PREVIOUS} from './fixtures.js'

describe('parseFluxState on the flux2 fixtures', () => {
  it('reads the three GitRepositories of get/status_objects.yaml', () => {
    const state = parseFluxState(flux2Fixture('flux2-get-status_objects.yaml.tmpl'))
    expect(state.gitRepositories.map((g) => g.name)).toEqual(['gr-failed', 'gr-ready', 'gr-unknown'])
    const [failed, ready, unknown] = state.gitRepositories
    expect(failed.namespace).toBe('flux-system')
    expect(failed.artifact).toBeUndefined()
    expect(failed.conditions[0]).toMatchObject({reason: 'GitOperationFailed', status: 'False', type: 'Ready'})
    expect(ready.artifact?.revision).toMatchObject({commit: '696f056df216eea4f9401adbee0ff744d4df390f', pointer: 'main'})
    expect(ready.ref.branch).toBe('main')
    expect(ready.url).toBe('ssh://git@github.com/example/repo')
    expect(unknown.conditions[0].status).toBe('Unknown')
    expect(state.kustomizations).toEqual([])
  })

  it('reads the Kustomizations of tree/kustomizations.yaml (no lastAppliedRevision there)', () => {
    const state = parseFluxState(flux2Fixture('flux2-tree-kustomizations.yaml.tmpl'))
    expect(state.kustomizations.map((k) => k.name)).toEqual(['flux-system', 'infrastructure', 'empty'])
    const root = state.kustomizations[0]
    expect(root).toMatchObject({path: './clusters/production', sourceRef: {kind: 'GitRepository', name: 'flux-system', namespace: 'flux-system'}, suspended: false})
    expect(root.lastAppliedRevision).toBeUndefined()
    expect(root.conditions[0].message).toBe('Applied revision: main@sha1:696f056df216eea4f9401adbee0ff744d4df390f')
  })
})

describe('parseFluxState on kubectl -o json Lists built from the Go types', () => {
  it('reads source, Kustomizations, dependsOn, reconcile status and the Node', () => {
    const state = parseFluxState(azalabFixture('healthy'))
    expect(state.gitRepositories).toHaveLength(1)
    expect(state.gitRepositories[0].artifact?.revision.commit).toBe(COMMIT)
    expect(state.kustomizations.map((k) => k.name)).toEqual(['flux-system', 'infrastructure', 'apps'])
    const apps = state.kustomizations[2]
    expect(apps.dependsOn).toEqual([{kind: undefined, name: 'infrastructure', namespace: 'flux-system'}])
    expect(apps.lastAppliedRevision?.commit).toBe(COMMIT)
    expect(apps.lastAttemptedRevision?.commit).toBe(COMMIT)
    expect(apps.lastHandledReconcileAt).toBe('2026-11-24T07:30:00.123Z')
    expect(apps.generation).toBe(1)
    expect(state.nodes).toEqual([{kubeletVersion: 'v1.33.5+k3s1', message: 'kubelet is posting ready status', name: 'azalab-0', ready: 'True', reason: 'KubeletReady', roles: ['control-plane'], since: '2026-11-24T07:00:00Z'}])
  })

  it('reads spec.suspend (absent = false)', () => {
    const state = parseFluxState(azalabFixture('suspended'))
    expect(state.kustomizations.map((k) => [k.name, k.suspended])).toEqual([['flux-system', false], ['infrastructure', false], ['apps', true]])
    expect(state.kustomizations[2].lastAppliedRevision?.commit).toBe(PREVIOUS)
  })

  it('reads HelmRelease v2: latest history snapshot by version, chart, lastAttemptedRevision', () => {
    const state = parseFluxState(azalabFixture('helmreleases'))
    const [cert, podinfo, weave] = state.helmReleases
    expect(cert.latest).toMatchObject({chartName: 'cert-manager', chartVersion: '1.16.2', status: 'deployed', version: 2})
    expect(cert.chart).toBe('cert-manager')
    expect(cert.sourceRef).toEqual({kind: 'HelmRepository', name: 'cert-manager', namespace: 'flux-system'})
    expect(podinfo.latest).toMatchObject({chartVersion: '6.7.1', status: 'failed', version: 3})
    expect(podinfo.lastAttemptedRevision).toBe('6.7.1')
    expect(weave.suspended).toBe(true)
  })

  it('reads the reconcile request annotation and ignores other kinds', () => {
    const list = JSON.parse(azalabFixture('healthy'))
    list.items[2].metadata.annotations = {'reconcile.fluxcd.io/requestedAt': '2026-11-24T08:00:00.5Z'}
    list.items.push({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'x'}}, {apiVersion: 'example.com/v1', kind: 'Kustomization', metadata: {name: 'y'}})
    const state = parseFluxState(list)
    expect(state.kustomizations[0].requestedAt).toBe('2026-11-24T08:00:00.5Z')
    expect(state.kustomizations).toHaveLength(3)
  })

  it('tolerates objects never reconciled (no status) and rejects non-JSON text', () => {
    const state = parseFluxState({apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: {name: 'new', namespace: 'a'}, spec: {path: './x', sourceRef: {kind: 'GitRepository', name: 's'}}})
    expect(state.kustomizations[0]).toMatchObject({conditions: [], lastAppliedRevision: undefined, name: 'new', sourceRef: {namespace: 'a'}})
    expect(() => parseFluxState('error: the server could not find the requested resource')).toThrow(/not JSON/)
  })
})
