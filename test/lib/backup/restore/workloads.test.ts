import {describe, expect, it} from 'vitest'

import {selectorText} from '../../../../src/lib/backup/restore/index.js'

// The label selector the restore lists a workload's pods with (`kubectl get pods -l …`).
describe('selectorText (spec.selector as kubectl -l)', () => {
  it('matchLabels as k=v, matchExpressions in kubectl set-based syntax, joined by commas', () => {
    expect(selectorText({matchLabels: {'app.kubernetes.io/name': 'immich', component: 'server'}})).toBe('app.kubernetes.io/name=immich,component=server')
    expect(
      selectorText({
        matchExpressions: [
          {key: 'tier', operator: 'In', values: ['db', 'cache']},
          {key: 'env', operator: 'NotIn', values: ['test']},
          {key: 'app', operator: 'Exists'},
          {key: 'canary', operator: 'DoesNotExist'},
        ],
        matchLabels: {app: 'immich'},
      }),
    ).toBe('app=immich,tier in (db,cache),env notin (test),app,!canary')
  })

  it('null when there is no selector or it is empty (the pods are then not listed)', () => {
    expect(selectorText(undefined)).toBeNull()
    expect(selectorText({})).toBeNull()
    expect(selectorText({matchLabels: {}})).toBeNull()
  })
})
