import {describe, expect, it} from 'vitest'

import {getFluxState, runKubectl, shellQuote} from '../../../src/lib/flux/kubectl.js'
import {parseFluxState} from '../../../src/lib/flux/parse.js'
import {reconcileAndWait, requestHandled, resolveTargets, rfc3339Nano, sourcesOf} from '../../../src/lib/flux/reconcile.js'
import {azalabFixture} from './fixtures.js'
import {FakeHost, fakeClock} from './fake-host.js'

const host = (name = 'healthy') => new FakeHost(JSON.parse(azalabFixture(name)))

describe('kubectl on the host', () => {
  it('reads all kinds with ONE kubectl get call', async () => {
    const h = host()
    const state = await getFluxState({connection: h, nodes: true})
    expect(h.commands).toHaveLength(1)
    expect(h.commands[0]).toContain('KUBECONFIG=/etc/rancher/k3s/k3s.yaml exec k3s kubectl get nodes,gitrepositories.source.toolkit.fluxcd.io,kustomizations.kustomize.toolkit.fluxcd.io,helmreleases.helm.toolkit.fluxcd.io -A -o json')
    expect(state.kustomizations).toHaveLength(3)
  })

  it('goes through sudo when the kubeconfig is not readable, and remembers it', async () => {
    const h = host()
    h.kubeconfigReadable = false
    await getFluxState({connection: h})
    await getFluxState({connection: h})
    expect(h.sudoCalls).toBe(2)
    expect(h.commands.filter((c) => !c.startsWith('sudo'))).toHaveLength(1)
    expect(h.commands[1]).toMatch(/^sudo env KUBECONFIG=\/etc\/rancher\/k3s\/k3s.yaml k3s kubectl get/)
  })

  it('names the failing call with kubectl\'s first error line', async () => {
    const failing = {exec: async () => ({exitCode: 1, stderr: '\nThe connection to the server 127.0.0.1:6443 was refused\n', stdout: ''}), sudo: async () => ({exitCode: 1, stderr: '', stdout: ''})}
    await expect(runKubectl(failing, ['get', 'nodes'])).rejects.toThrow('k3s kubectl get nodes on the host failed: The connection to the server 127.0.0.1:6443 was refused')
  })

  it('quotes for the shell', () => {
    expect(shellQuote('a/b-c.d')).toBe('a/b-c.d')
    expect(shellQuote(`{"a":"it's"}`)).toBe(`'{"a":"it'\\''s"}'`)
  })
})

describe('rfc3339Nano', () => {
  it('drops trailing zeros of the fraction like Go', () => {
    expect(rfc3339Nano(new Date('2026-11-24T08:00:00.120Z'))).toBe('2026-11-24T08:00:00.12Z')
    expect(rfc3339Nano(new Date('2026-11-24T08:00:00.000Z'))).toBe('2026-11-24T08:00:00Z')
    expect(rfc3339Nano(new Date('2026-11-24T08:00:00.123Z'))).toBe('2026-11-24T08:00:00.123Z')
  })
})

describe('resolveTargets', () => {
  const state = parseFluxState(azalabFixture('suspended'))
  it('finds NAME, NS/NAME and KIND/NAME; GitRepositories only by kind', () => {
    expect(resolveTargets(state, ['infrastructure', 'flux-system/flux-system']).targets.map((t) => `${t.kind}/${t.name}`)).toEqual(['Kustomization/infrastructure', 'Kustomization/flux-system'])
    expect(resolveTargets(state, ['source/flux-system']).targets[0].kind).toBe('GitRepository')
  })

  it('refuses unknown and suspended names, skips suspended under --all', () => {
    expect(() => resolveTargets(state, ['nope'])).toThrow('nope: no such Kustomization or HelmRelease in the cluster')
    expect(() => resolveTargets(state, ['apps'])).toThrow('Kustomization flux-system/apps is suspended')
    const all = resolveTargets(state, [], {all: true})
    expect(all.targets.map((t) => t.name)).toEqual(['flux-system', 'infrastructure'])
    expect(all.skipped.map((t) => t.name)).toEqual(['apps'])
  })

  it('sources of targets, deduplicated', () => {
    expect(sourcesOf(state, state.kustomizations).map((s) => s.name)).toEqual(['flux-system'])
  })
})

describe('reconcileAndWait', () => {
  it('merge-patches requestedAt and waits until lastHandledReconcileAt reaches it and Ready', async () => {
    const h = host()
    const progress: string[][] = []
    const out = await reconcileAndWait({
      clock: fakeClock(), connection: h, onProgress: (p) => progress.push(p.pending.map((x) => x.name)),
      targets: [{kind: 'Kustomization', name: 'apps', namespace: 'flux-system'}],
    })
    expect(h.patches).toEqual([{name: 'apps', namespace: 'flux-system', patch: {metadata: {annotations: {'reconcile.fluxcd.io/requestedAt': '2026-11-24T08:00:00Z'}}}, resource: 'kustomizations.kustomize.toolkit.fluxcd.io'}])
    expect(out).toMatchObject([{name: 'apps', outcome: 'ready', requestedAt: '2026-11-24T08:00:00Z'}])
    expect(progress.at(-1)).toEqual([])
  })

  it('--with-source does the GitRepository first', async () => {
    const h = host()
    const out = await reconcileAndWait({clock: fakeClock(), connection: h, targets: [{kind: 'Kustomization', name: 'apps', namespace: 'flux-system'}], withSource: true})
    expect(h.patches.map((p) => p.resource.split('.')[0] + '/' + p.name)).toEqual(['gitrepositories/flux-system', 'kustomizations/apps'])
    expect(out.map((o) => [o.kind, o.outcome])).toEqual([['GitRepository', 'ready'], ['Kustomization', 'ready']])
  })

  it('reports a failure with the Ready message and a timeout with what was pending', async () => {
    const h = host()
    h.outcome = {apps: 'failed', infrastructure: 'ignore'}
    const out = await reconcileAndWait({
      clock: fakeClock(), connection: h, timeoutMs: 10_000,
      targets: [{kind: 'Kustomization', name: 'apps', namespace: 'flux-system'}, {kind: 'Kustomization', name: 'infrastructure', namespace: 'flux-system'}],
    })
    expect(out[0]).toMatchObject({message: 'BuildFailed: kustomize build failed: boom', outcome: 'failed'})
    expect(out[1]).toMatchObject({message: 'timed out: request not handled yet', outcome: 'timeout'})
    expect(out[1].elapsedMs).toBeGreaterThanOrEqual(10_000)
  })

  it('a lastHandledReconcileAt later than the request counts as handled', () => {
    const apps = parseFluxState(azalabFixture('healthy')).kustomizations[2]
    expect(requestHandled(apps, '2026-11-24T07:00:00Z')).toBe(true)
    expect(requestHandled(apps, '2026-11-24T09:00:00Z')).toBe(false)
  })
})
