import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab suspend` / `homelab resume` as the CLI against the e2e test host: real sshd and sudo,
 * Flux objects from the kubectl stand-in (spec.suspend merged by its patch, the controllers
 * simulated with STANDIN_FLUX_CONTROLLERS=1 skipping suspended objects, as kustomize-controller does).
 */
let host: TestHost
let repo: TestRepo
let head: string
const objectsFile = () => path.join(host.hostRoot, 'flux-objects.json')
const stateDir = () => path.join(host.hostRoot, 'kubectl-state')
const cli = (args: string[]) => runCli(args, {cwd: repo.dir, env: {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}})

async function scenario(name: string, env: Record<string, string> = {}) {
  await fs.rm(stateDir(), {force: true, recursive: true})
  await fs.writeFile(objectsFile(), azalabFixture(name, {commit: head, previous: head}))
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: stateDir(), ...env})
}

async function live(kind: string, name: string): Promise<{spec?: {suspend?: boolean}}> {
  const {list} = JSON.parse(await fs.readFile(path.join(stateDir(), 'objects.json'), 'utf8')) as {list: {items: Array<{kind: string; metadata: {name: string}}>}}
  return list.items.find((o) => o.kind === kind && o.metadata.name === name) as never
}

async function patches(): Promise<string[][]> {
  const text = await fs.readFile(path.join(stateDir(), 'calls.log'), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {argv: string[]}).argv).filter((a) => a[0] === 'patch')
}

const schemaKeys = async (id: string) => JSON.parse(await fs.readFile(path.join(REPO_ROOT, `schemas/${id}.schema.json`), 'utf8')) as {properties: Record<string, unknown>; required: string[]}

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']})
  repo = await host.homelabRepo({nixos: true})
  head = await repo.git(['rev-parse', 'HEAD'])
}, 180_000)
afterAll(async () => host?.stop())

describe('homelab suspend / resume (e2e)', {timeout: 180_000}, () => {
  it('suspend apps: one merge patch of spec.suspend, the object is suspended; again: already suspended; --json shape', async () => {
    await scenario('healthy', {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_REMOTE: repo.remote})
    const r = await cli(['suspend', 'apps'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toBe('‖ Kustomization flux-system/apps: suspended')
    expect((await live('Kustomization', 'apps')).spec?.suspend).toBe(true)
    const [patch] = await patches()
    expect(patch.slice(0, 4)).toEqual(['patch', 'kustomizations.kustomize.toolkit.fluxcd.io', 'apps', '-n'])
    expect(JSON.parse(patch[patch.indexOf('-p') + 1])).toEqual({spec: {suspend: true}})
    expect(patch).toContain('merge')
    const again = await cli(['suspend', 'flux-system/apps', '--json'])
    expect(again.exitCode).toBe(0)
    const json = JSON.parse(again.stdout)
    expect(json).toEqual({results: [{kind: 'Kustomization', name: 'apps', namespace: 'flux-system', outcome: 'already-suspended'}], schemaVersion: 1})
    const schema = await schemaKeys('suspend')
    expect(Object.keys(json).sort()).toEqual(Object.keys(schema.properties).sort())
    expect(await patches()).toHaveLength(1) // nothing patched the second time
    // A suspended Kustomization shows as suspended in homelab status's JSON too.
    const status = JSON.parse((await cli(['status', '--json', '--no-fetch'])).stdout)
    expect(status.objects.find((o: {name: string}) => o.name === 'apps').suspended).toBe(true)
  })

  it('resume apps: spec.suspend false, a reconcile request, then waits for Ready at the source revision; --json shape', async () => {
    const r = await cli(['resume', 'apps', '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json.schemaVersion).toBe(1)
    expect(json.ok).toBe(true)
    expect(json.results).toHaveLength(1)
    expect(json.results[0]).toMatchObject({kind: 'Kustomization', name: 'apps', namespace: 'flux-system', outcome: 'ready', revision: `main@sha1:${head}`})
    const schema = await schemaKeys('resume')
    expect(Object.keys(json).sort()).toEqual(Object.keys(schema.properties).sort())
    for (const key of schema.required) expect(Object.keys(json)).toContain(key)
    expect((await live('Kustomization', 'apps')).spec?.suspend).toBe(false)
    const bodies = (await patches()).map((a) => JSON.parse(a[a.indexOf('-p') + 1]))
    expect(bodies.at(-2)).toEqual({spec: {suspend: false}})
    expect(Object.keys(bodies.at(-1).metadata.annotations)).toEqual(['reconcile.fluxcd.io/requestedAt'])
  })

  it('resume waits: a Kustomization that fails after resume exits 1 with its message; one that never answers times out', async () => {
    await scenario('suspended', {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_FAIL: 'apps', STANDIN_FLUX_REMOTE: repo.remote})
    const failed = await cli(['resume', '--all'])
    expect(failed.exitCode).toBe(1)
    expect(failed.stdout).toContain('✗ Kustomization flux-system/apps: resumed, BuildFailed: kustomize build failed')
    await scenario('suspended', {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_IGNORE: 'apps', STANDIN_FLUX_REMOTE: repo.remote})
    const timeout = await cli(['resume', 'apps', '--timeout', '3s'])
    expect(timeout.exitCode).toBe(1)
    expect(timeout.stdout).toContain('✗ Kustomization flux-system/apps: resumed, timed out: request not handled yet')
  })

  it('usage: unknown names and missing names exit 3 in one line; --kind helmrelease; --on picks the host', async () => {
    await scenario('healthy')
    const unknown = await cli(['suspend', 'nope'])
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('nope: no such Kustomization in the cluster')
    const none = await cli(['resume'])
    expect(none.exitCode).toBe(3)
    expect(none.stderr).toContain('name at least one object, or pass --all')
    const on = await cli(['suspend', 'infrastructure', '--on', 'test*'])
    expect(on.exitCode, on.stderr).toBe(0)
    expect(on.stdout).toContain('Kustomization flux-system/infrastructure: suspended')
    const both = await cli(['suspend', 'apps', '--on', 'test*', '--host', 'testhost'])
    expect(both.exitCode).toBe(3)
    // HelmReleases: --all takes the ones not suspended yet (weave-gitops is).
    await scenario('helmreleases')
    const hr = await cli(['suspend', '--kind', 'helmrelease', '--all', '--json'])
    expect(hr.exitCode, hr.stderr).toBe(0)
    expect(JSON.parse(hr.stdout).results).toEqual([
      {kind: 'HelmRelease', name: 'cert-manager', namespace: 'cert-manager', outcome: 'suspended'},
      {kind: 'HelmRelease', name: 'podinfo', namespace: 'podinfo', outcome: 'suspended'},
    ])
    expect(JSON.parse((await patches())[0].at(-1)!)).toEqual({spec: {suspend: true}})
    expect((await patches()).map((a) => a[1])).toEqual(['helmreleases.helm.toolkit.fluxcd.io', 'helmreleases.helm.toolkit.fluxcd.io'])
  })
})
