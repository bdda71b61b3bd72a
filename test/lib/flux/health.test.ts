import {describe, expect, it} from 'vitest'

import {appliedRevisionShort, assessHealth, failingObjects, sortFailuresFirst} from '../../../src/lib/flux/health.js'
import {parseFluxState} from '../../../src/lib/flux/parse.js'
import type {FluxState} from '../../../src/lib/flux/types.js'
import {azalabFixture, flux2Fixture} from './fixtures.js'

const state = (name: string): FluxState => parseFluxState(azalabFixture(name))
const ks = (s: FluxState, name: string) => s.kustomizations.find((k) => k.name === name)!

describe('health rules', () => {
  it('healthy: every object ready, nothing failing', () => {
    const s = state('healthy')
    expect([...s.gitRepositories, ...s.kustomizations].map((o) => assessHealth(o).health)).toEqual(['ready', 'ready', 'ready', 'ready'])
    expect(failingObjects(s)).toEqual([])
    expect(assessHealth(ks(s, 'apps'))).toMatchObject({message: 'Applied revision: main@sha1:696f056df216eea4f9401adbee0ff744d4df390f', reason: 'ReconciliationSucceeded', since: '2026-11-24T07:30:12Z'})
  })

  it('not ready: Ready False is failed, with reason and message', () => {
    const h = assessHealth(ks(state('not-ready'), 'apps'))
    expect(h).toMatchObject({failing: true, health: 'failed', ready: 'False', reason: 'HealthCheckFailed'})
    expect(h.message).toContain('health check failed after 5m0s')
  })

  it('stalled: Stalled True wins over Ready', () => {
    expect(assessHealth(ks(state('stalled'), 'infrastructure'))).toMatchObject({failing: true, health: 'stalled', reason: 'BuildFailed'})
  })

  it('suspended: flagged, not failing', () => {
    expect(assessHealth(ks(state('suspended'), 'apps'))).toMatchObject({failing: false, health: 'ready', suspended: true})
  })

  it('behind: Ready Unknown while reconciling is progressing, not failing', () => {
    const s = state('behind')
    expect(assessHealth(ks(s, 'apps'))).toMatchObject({failing: false, health: 'progressing', ready: 'Unknown'})
    expect(appliedRevisionShort(ks(s, 'apps'))).toBe('main@1c2d3e4')
  })

  it('fetch failure: the GitRepository is failed, the Kustomizations are not', () => {
    const s = state('fetch-failure')
    expect(assessHealth(s.gitRepositories[0])).toMatchObject({failing: true, health: 'failed', reason: 'GitOperationFailed'})
    expect(failingObjects(s).map((o) => o.kind)).toEqual(['GitRepository'])
  })

  it('dependency not ready: its own health, failing', () => {
    const s = state('dependency-not-ready')
    expect(assessHealth(ks(s, 'apps'))).toMatchObject({failing: true, health: 'dependency-not-ready'})
    expect(assessHealth(ks(s, 'infrastructure')).health).toBe('progressing')
  })

  it('decides on status, not reason (old GitOperationSucceed; unknown reason with status False)', () => {
    const [failed, ready, unknown] = parseFluxState(flux2Fixture('flux2-get-status_objects.yaml.tmpl')).gitRepositories
    expect(assessHealth(ready).health).toBe('ready')
    expect(assessHealth(failed).health).toBe('failed')
    expect(assessHealth(unknown).health).toBe('progressing')
    const odd = {...ready, conditions: [{...ready.conditions[0], reason: 'ReconciliationSucceeded', status: 'False' as const}]}
    expect(assessHealth(odd).health).toBe('failed')
  })

  it('no Ready condition: waiting to be reconciled; a stale generation is progressing', () => {
    const apps = ks(state('healthy'), 'apps')
    expect(assessHealth({...apps, conditions: []})).toMatchObject({health: 'waiting', message: 'waiting to be reconciled'})
    expect(assessHealth({...apps, generation: 2}).health).toBe('progressing')
  })

  it('HelmRelease v2: upgrade failed is failed, chart@version from history', () => {
    const s = state('helmreleases')
    expect(s.helmReleases.map((h) => [h.name, assessHealth(h).health, appliedRevisionShort(h)])).toEqual([
      ['cert-manager', 'ready', 'cert-manager@1.16.2'],
      ['podinfo', 'failed', 'podinfo@6.7.1'],
      ['weave-gitops', 'ready', 'weave-gitops@4.0.36'],
    ])
  })

  it('sorts failures first', () => {
    const s = state('stalled')
    const broken = {...ks(s, 'apps'), conditions: [{...ks(s, 'apps').conditions[0], status: 'False' as const}]}
    expect(sortFailuresFirst([...s.kustomizations, broken].filter((k, i) => i !== 2)).map((k) => k.name)).toEqual(['infrastructure', 'apps', 'flux-system'])
  })

  it('collapses multi-line messages to one line', () => {
    const apps = ks(state('healthy'), 'apps')
    const h = assessHealth({...apps, conditions: [{...apps.conditions[0], message: 'a\n  b\tc ', status: 'False'}]})
    expect(h.message).toBe('a b c')
  })
})
