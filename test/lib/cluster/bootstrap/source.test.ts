import {describe, expect, it} from 'vitest'

import {holds} from '../../../../src/lib/cluster/bootstrap/bootstrap.js'
import {deployKeyPage, fluxSshUrl, sameRepositoryUrl} from '../../../../src/lib/cluster/bootstrap/git-url.js'
import {parseReport} from '../../../../src/lib/cluster/bootstrap/scripts.js'
import {checkGitRepository, parseSyncObjects} from '../../../../src/lib/cluster/bootstrap/source.js'

describe('fluxSshUrl', () => {
  it.each([
    ['git@github.com:aiden/homelab.git', 'ssh://git@github.com/aiden/homelab'],
    ['git@github.com:aiden/homelab', 'ssh://git@github.com/aiden/homelab'],
    ['ssh://git@github.com/aiden/homelab.git', 'ssh://git@github.com/aiden/homelab'],
    ['ssh://git@git.example.org:2222/team/homelab/', 'ssh://git@git.example.org:2222/team/homelab'],
    ['https://github.com/aiden/homelab.git', 'ssh://git@github.com/aiden/homelab'],
    ['git+ssh://forgejo@code.example.org/me/lab.git', 'ssh://forgejo@code.example.org/me/lab'],
  ])('%s → %s', (input, url) => {
    expect(fluxSshUrl(input).url).toBe(url)
  })

  it('names host and owner/repo', () => {
    expect(fluxSshUrl('git@github.com:aiden/homelab.git')).toEqual({host: 'github.com', path: 'aiden/homelab', url: 'ssh://git@github.com/aiden/homelab'})
  })

  it.each(['/srv/git/homelab.git', 'file:///srv/git/homelab.git', '../homelab'])('refuses %s in one line', (input) => {
    expect(() => fluxSshUrl(input)).toThrow(/not a forge URL Flux can fetch over SSH/)
  })

  it('compares URLs ignoring .git and a trailing slash', () => {
    expect(sameRepositoryUrl('ssh://git@github.com/aiden/homelab.git', 'ssh://git@github.com/aiden/homelab/')).toBe(true)
    expect(sameRepositoryUrl('ssh://git@github.com/aiden/homelab', 'ssh://git@github.com/aiden/other')).toBe(false)
  })

  it('points GitHub users at Settings → Deploy keys', () => {
    expect(deployKeyPage('github.com', 'aiden/homelab')).toMatch(/^https:\/\/github\.com\/aiden\/homelab\/settings\/keys .*Allow write access" off/)
  })
})

const SYNC = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m
  url: ssh://git@github.com/aiden/homelab
  ref: {branch: main}
  secretRef: {name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 10m, path: ./flux/clusters/azalab-0, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
`
const FILE = 'flux/clusters/azalab-0/flux-system-sync.yaml'

describe('the committed sync objects', () => {
  const objects = parseSyncObjects(SYNC, FILE)

  it('agree with the remote and branch', () => {
    expect(objects.map((o) => o.kind)).toEqual(['GitRepository', 'Kustomization'])
    expect(() => checkGitRepository(objects, FILE, {branch: 'main', url: 'ssh://git@github.com/aiden/homelab'})).not.toThrow()
  })

  it('name the file and the field when the URL or the branch differ', () => {
    expect(() => checkGitRepository(objects, FILE, {branch: 'main', url: 'ssh://git@github.com/aiden/other'})).toThrow(
      `${FILE}: GitRepository flux-system spec.url is ssh://git@github.com/aiden/homelab, but the git remote is ssh://git@github.com/aiden/other: make them agree`,
    )
    expect(() => checkGitRepository(objects, FILE, {branch: 'prod', url: 'ssh://git@github.com/aiden/homelab'})).toThrow(
      `${FILE}: GitRepository flux-system spec.ref.branch is main, but homelab.yaml git.branch is prod: make them agree`,
    )
  })

  it('need the root Kustomization and the flux-system Secret reference', () => {
    expect(() => checkGitRepository(objects.slice(0, 1), FILE, {branch: 'main', url: 'ssh://git@github.com/aiden/homelab'})).toThrow(/no Kustomization flux-system/)
    const noSecret = parseSyncObjects(SYNC.replace('  secretRef: {name: flux-system}\n', ''), FILE)
    expect(() => checkGitRepository(noSecret, FILE, {branch: 'main', url: 'ssh://git@github.com/aiden/homelab'})).toThrow(/spec\.secretRef\.name must be flux-system/)
  })

  it('reports a YAML error with the file name', () => {
    expect(() => parseSyncObjects('kind: [', FILE)).toThrow(new RegExp(`^${FILE}: `))
  })

  it('are "held" by live objects that add defaults and status, not by ones that differ', () => {
    const live = structuredClone(objects[0]) as {spec: Record<string, unknown>; status?: unknown}
    live.spec.timeout = '60s'
    live.status = {artifact: {revision: 'main@sha1:abc'}}
    expect(holds(live, objects[0])).toBe(true)
    ;(live.spec.ref as Record<string, string>).branch = 'other'
    expect(holds(live, objects[0])).toBe(false)
  })
})

describe('parseReport', () => {
  it('reads key=value lines, later values winning, other lines ignored', () => {
    expect(parseReport('via=path\nsome tool output\nversion=v2.7.3\nresult=created\nresult=unchanged\n')).toEqual({result: 'unchanged', version: 'v2.7.3', via: 'path'})
  })
})
