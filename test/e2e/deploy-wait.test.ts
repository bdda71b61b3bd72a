// `homelab deploy --wait` end to end: after the switch, a new connection requests the
// GitRepository's reconciliation and waits until the cluster runs the pushed commit. Real sshd,
// sudo, git, nix (the deploy itself); Flux is the kubectl stand-in with its controller simulation
// (the source fetches the bare remote's branch head with real git ls-remote, the Kustomizations
// apply it).
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
}, 180_000)
afterAll(async () => host?.stop())

async function flux(env: Record<string, string> = {}) {
  const head = await repo.git(['rev-parse', 'HEAD'])
  const objects = path.join(host.hostRoot, 'flux-objects.json')
  const state = path.join(host.hostRoot, 'kubectl-state')
  await fs.rm(state, {force: true, recursive: true})
  await fs.writeFile(objects, azalabFixture('healthy', {commit: head}))
  await host.setScenario({STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_REMOTE: repo.remote, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: state, ...env})
  return state
}

const deploy = (args: string[]) =>
  runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', ...args], {env: host.env, input: `${host.sudoPassword}\n`, timeout: 180_000})

describe('homelab deploy --wait', () => {
  it('waits until the GitRepository serves the pushed commit and every Kustomization applied it', async () => {
    const state = await flux()
    const commit = await repo.commit('docs/wait.md', 'wait\n', 'Add a page for deploy --wait')
    const r = await deploy(['--wait', '--wait-timeout', '60s'])
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`✓ Flux applied ${commit.slice(0, 7)}: every Kustomization Ready at it \\(\\d+\\.\\ds\\)`))
    const calls = (await fs.readFile(path.join(state, 'calls.log'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).argv as string[])
    expect(calls.filter((a) => a[0] === 'patch').map((a) => `${a[1].split('.')[0]}/${a[2]}`)).toEqual(['gitrepositories/flux-system'])
  })

  it('--json: flux.converged false and exit 1 when a Kustomization fails on the commit', async () => {
    await flux({STANDIN_FLUX_FAIL: 'apps'})
    const commit = await repo.commit('docs/wait2.md', 'wait 2\n', 'Break the apps Kustomization')
    const r = await deploy(['--wait', '--wait-timeout', '60s', '--json'])
    expect(r.exitCode, r.stderr).toBe(1)
    const result = JSON.parse(r.stdout)
    expect(result.hosts[0].ok).toBe(true)
    expect(result.flux).toMatchObject({commit, converged: false})
    expect(result.flux.message).toContain('Kustomization flux-system/apps: BuildFailed: kustomize build failed')
    expect(result.flux.items.find((i: {name: string}) => i.name === 'apps')).toMatchObject({kind: 'Kustomization', state: 'failed'})
  })

  it('--wait-timeout: exit 1 naming what was still pending, and no progress lines on a pipe', async () => {
    await flux({STANDIN_FLUX_IGNORE: 'flux-system'})
    await repo.commit('docs/wait3.md', 'wait 3\n', 'Source never fetches')
    const r = await deploy(['--wait', '--wait-timeout', '3s'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toMatch(/✗ Flux: timed out waiting for [0-9a-f]{7}: GitRepository flux-system\/flux-system \(serves [0-9a-f]{7}\)/)
    // Progress is for a terminal (issue 17): on this pipe, none; the outcome line names what was pending.
    expect(r.stderr).not.toContain('Flux: waiting')
  })
})
