import {describe, expect, it} from 'vitest'

import {convergenceOf, waitForConvergence} from '../../../src/lib/flux/converge.js'
import {parseFluxState} from '../../../src/lib/flux/parse.js'
import {azalabFixture, COMMIT, PREVIOUS} from './fixtures.js'
import {FakeHost, fakeClock} from './fake-host.js'

describe('convergenceOf', () => {
  it('everything at the commit is done', () => {
    expect(convergenceOf(parseFluxState(azalabFixture('healthy')), COMMIT).every((i) => i.state === 'done')).toBe(true)
  })

  it('a newer commit is pending everywhere', () => {
    const items = convergenceOf(parseFluxState(azalabFixture('healthy')), 'f'.repeat(40))
    expect(items.map((i) => `${i.name}:${i.state}`)).toEqual(['flux-system:pending', 'flux-system:pending', 'infrastructure:pending', 'apps:pending'])
    expect(items[0].detail).toBe('serves 696f056')
  })

  it('a Kustomization that tried the commit and failed has failed; suspended ones are left out', () => {
    const failed = convergenceOf(parseFluxState(azalabFixture('not-ready')), COMMIT)
    expect(failed.find((i) => i.name === 'apps')).toMatchObject({state: 'failed'})
    const suspended = convergenceOf(parseFluxState(azalabFixture('suspended')), COMMIT)
    expect(suspended.map((i) => i.name)).not.toContain('apps')
    expect(suspended.every((i) => i.state === 'done')).toBe(true)
  })

  it('a fetch failure keeps the source pending with the message', () => {
    const items = convergenceOf(parseFluxState(azalabFixture('fetch-failure')), 'f'.repeat(40))
    expect(items[0].detail).toContain('fetch failing: failed to checkout')
  })
})

describe('waitForConvergence', () => {
  it('requests the source, then waits until every Kustomization applied the commit', async () => {
    const h = new FakeHost(JSON.parse(azalabFixture('healthy', {commit: PREVIOUS})))
    h.fetchCommit = COMMIT
    const clock = fakeClock()
    let ticks = 0
    const pending: number[] = []
    const done = waitForConvergence({
      clock, commit: COMMIT, connection: h, pollMs: 1000,
      onProgress: (p) => {
        pending.push(p.items.filter((i) => i.state !== 'done').length)
        // The kustomize-controller applies the new artifact two polls later.
        if (++ticks === 3) for (const item of h.list.items) if (item.kind === 'Kustomization') item.status.lastAppliedRevision = `main@sha1:${COMMIT}`
      },
    })
    const result = await done
    expect(h.patches.map((p) => p.name)).toEqual(['flux-system'])
    expect(result.items.every((i) => i.state === 'done')).toBe(true)
    expect(pending[0]).toBe(4)
    expect(pending.at(-1)).toBe(0)
  })

  it('throws ConvergenceError naming the failing Kustomization', async () => {
    const h = new FakeHost(JSON.parse(azalabFixture('not-ready')))
    await expect(waitForConvergence({clock: fakeClock(), commit: COMMIT, connection: h})).rejects.toThrow(/did not converge: Kustomization flux-system\/apps: HealthCheckFailed/)
  })

  it('times out naming what is pending', async () => {
    const h = new FakeHost(JSON.parse(azalabFixture('healthy', {commit: PREVIOUS})))
    await expect(waitForConvergence({clock: fakeClock(), commit: COMMIT, connection: h, timeoutMs: 5000})).rejects.toThrow(/timed out waiting for 696f056: GitRepository flux-system\/flux-system \(serves 1c2d3e4\)/)
  })
})
