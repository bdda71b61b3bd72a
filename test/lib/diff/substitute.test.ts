import {describe, expect, it} from 'vitest'

import {substituteObject, substituteText} from '../../../src/lib/diff/substitute.js'

describe('Flux post-build substitution', () => {
  const vars = new Map([
    ['TAG', 'v2'],
    ['EMPTY', ''],
  ])

  it('replaces ${var}, uses defaults only when unset (or empty for :=), keeps $${var} as a literal', () => {
    expect(substituteText('image: app:${TAG}', vars)).toBe('image: app:v2')
    expect(substituteText('a: ${MISSING}', vars)).toBe('a: ')
    expect(substituteText('a: ${MISSING:=fallback} b: ${TAG:=fallback}', vars)).toBe('a: fallback b: v2')
    expect(substituteText('a: ${EMPTY:=d} b: ${EMPTY=d} c: ${MISSING-d}', vars)).toBe('a: d b:  c: d')
    expect(substituteText('cmd: echo $${TAG} $HOME ${TAG}', vars)).toBe('cmd: echo ${TAG} $HOME v2')
  })

  it('re-parses the substituted YAML (a number stays a number) and skips objects with substitution disabled', () => {
    const object = {apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'a'}, spec: {replicas: '${N}'}}
    expect(substituteObject(object, new Map([['N', '3']]))).toMatchObject({spec: {replicas: 3}})
    const disabled = {...object, metadata: {annotations: {'kustomize.toolkit.fluxcd.io/substitute': 'disabled'}, name: 'a'}}
    expect(substituteObject(disabled, new Map([['N', '3']]))).toBe(disabled)
  })
})
