/**
 * What makes `homelab diff` fast without changing its report (bench/diff): objects read from
 * kubectl kustomize's text without parsing (build.ts documentHead), kustomization files of the
 * simplest shape read without the parser (simpleKustomization), and a leaf Flux Kustomization the
 * same at both revisions left unbuilt (BuildOptions.defer, resolveDeferred). Temporary git
 * repositories per test, real git, real kubectl (counted through a wrapper that runs the real one).
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {documentHead, simpleKustomization} from '../../../src/lib/diff/build.js'
import {diffCluster} from '../../../src/lib/diff/index.js'
import {commit, flux, git, initialCommit, kustomization, write} from './git-fixture.js'
import {kubectlFixture} from './kubectl-fixture.js'

const k8s = kubectlFixture()

const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`
const service = (name: string, port: string) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  ports:\n    - port: ${port}\n  selector:\n    app: ${name}\n`

/**
 * cluster/ (the root) defines Flux Kustomizations `vars` (apps/vars: a ConfigMap of variables in
 * flux-system) and `leaf` (apps/leaf: a Namespace and a Service whose port is `${PORT}` from that
 * ConfigMap; nothing in its folder names a Flux Kustomization, ConfigMap or Secret).
 */
function repo(): string {
  const dir = k8s.temp('homelab-diff-defer-')
  initialCommit(dir, 'initial', {
    'cluster/kustomization.yaml': kustomization('vars.yaml', 'leaf.yaml'),
    'cluster/vars.yaml': flux('vars', './apps/vars'),
    'cluster/leaf.yaml': flux('leaf', './apps/leaf', '  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: leaf-vars\n'),
    'apps/vars/kustomization.yaml': kustomization('vars.yaml', 'extra.yaml'),
    'apps/vars/vars.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaf-vars\n  namespace: flux-system\ndata:\n  PORT: "80"\n',
    'apps/vars/extra.yaml': namespace('extra'),
    'apps/leaf/kustomization.yaml': kustomization('namespace.yaml', 'service.yaml'),
    'apps/leaf/namespace.yaml': namespace('leaf'),
    'apps/leaf/service.yaml': service('web', '${PORT}'),
  })
  return dir
}

const summary = (report: Awaited<ReturnType<typeof diffCluster>>) => report.objects.map((o) => `${o.action} ${o.kustomization} ${o.object}${o.movedTo ? ` → ${o.movedTo}` : ''}`)

describe('homelab diff: a leaf Kustomization the same at both revisions is not built', () => {
  it('is not built when only another Kustomization changes, and is built when its own folder or its postBuild variables change', async () => {
    const dir = repo()
    const k = k8s.counting()
    write(dir, 'apps/vars/extra.yaml', namespace('extra2'))
    commit(dir, 'vars changed')
    let report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    // The root once (the same at both revisions), vars twice, leaf never: an added/removed object makes the diff build it after all.
    expect(summary(report)).toEqual(['pruned flux-system/vars Namespace/extra', 'added flux-system/vars Namespace/extra2'])
    expect(k.runs()).toEqual(['apps/leaf', 'apps/vars', 'apps/vars', 'cluster'])
    expect(report.kustomizations.map((c) => `${c.id} ${c.status}`)).toEqual(['flux-system/flux-system unchanged', 'flux-system/leaf unchanged', 'flux-system/vars changed'])

    // Only a changed object (no add/remove): leaf stays unbuilt and is reported unchanged.
    write(dir, 'apps/vars/vars.yaml', readFileSync(path.join(dir, 'apps/vars/vars.yaml'), 'utf8').replace('data:', 'data:\n  OTHER: "x"'))
    commit(dir, 'an unused variable')
    report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(summary(report)).toEqual(['changed flux-system/vars ConfigMap/flux-system/leaf-vars'])
    expect(report.kustomizations.find((c) => c.id === 'flux-system/leaf')?.status).toBe('unchanged')
    expect(k.runs()).toEqual(['apps/vars', 'apps/vars', 'cluster'])

    // A variable the leaf uses changes (its folder and spec do not): built (once: the same kustomize output), substituted per revision, the change shown.
    write(dir, 'apps/vars/vars.yaml', readFileSync(path.join(dir, 'apps/vars/vars.yaml'), 'utf8').replace('PORT: "80"', 'PORT: "8080"'))
    commit(dir, 'port')
    report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(summary(report)).toEqual(['changed flux-system/leaf Service/default/web', 'changed flux-system/vars ConfigMap/flux-system/leaf-vars'])
    expect(report.objects[0].diff).toContain('-    - port: 80\n+    - port: 8080')
    expect(k.runs()).toEqual(['apps/leaf', 'apps/vars', 'apps/vars', 'cluster'])

    // Its own folder changes (working tree against HEAD): built at both revisions.
    write(dir, 'apps/leaf/service.yaml', service('web', '${PORT}').replace('app: web', 'app: web2'))
    report = await diffCluster({clusterPath: 'cluster', identities: [], path: k.path, root: dir})
    expect(summary(report)).toEqual(['changed flux-system/leaf Service/default/web'])
    expect(k.runs()).toEqual(['apps/leaf', 'apps/leaf', 'apps/vars', 'cluster'])
  }, 180_000)

  it('a leaf naming a file that is not there is built (its error shown at both revisions), though the same at both', async () => {
    const dir = repo()
    const k = k8s.counting()
    write(dir, 'apps/leaf/kustomization.yaml', kustomization('namespace.yaml', 'service.yaml', 'gone.yaml'))
    commit(dir, 'leaf names a missing file')
    write(dir, 'apps/vars/extra.yaml', namespace('extra2'))
    const report = await diffCluster({clusterPath: 'cluster', identities: [], path: k.path, root: dir})
    expect(report.ok).toBe(false)
    expect(report.errors.map((e) => `${e.kustomization} ${e.message.split(':')[0]}`)).toEqual(['flux-system/leaf HEAD', 'flux-system/leaf working tree'])
    expect(k.runs()).toEqual(['apps/leaf', 'apps/vars', 'apps/vars', 'cluster'])
  }, 180_000)

  it('an object moved into an unbuilt leaf is reported moved, not pruned', async () => {
    const dir = repo()
    const k = k8s.counting()
    write(dir, 'apps/vars/leaf-ns.yaml', namespace('leaf'))
    write(dir, 'apps/vars/kustomization.yaml', kustomization('vars.yaml', 'extra.yaml', 'leaf-ns.yaml'))
    commit(dir, 'vars also applies the leaf namespace')
    write(dir, 'apps/vars/kustomization.yaml', kustomization('vars.yaml', 'extra.yaml'))
    const report = await diffCluster({clusterPath: 'cluster', identities: [], path: k.path, root: dir})
    expect(summary(report)).toEqual(['moved flux-system/vars Namespace/leaf → flux-system/leaf'])
  }, 180_000)
})

describe('homelab diff: a Kustomization holding ConfigMaps or Secrets, the same at both revisions', () => {
  const secret = (name: string) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: flux-system\nstringData:\n  TOKEN: t\n`

  /** One Flux Kustomization per app (the layout bench/diff's larger tree has): apps/a holds a Secret, apps/b a Service; no substituteFrom anywhere. */
  function perApp(): string {
    const dir = k8s.temp('homelab-diff-defer-')
    initialCommit(dir, 'initial', {
      'cluster/kustomization.yaml': kustomization('a.yaml', 'b.yaml'),
      'cluster/a.yaml': flux('a', './apps/a'),
      'cluster/b.yaml': flux('b', './apps/b'),
      'apps/a/kustomization.yaml': kustomization('secret.yaml'),
      'apps/a/secret.yaml': secret('a-token'),
      'apps/b/kustomization.yaml': kustomization('service.yaml'),
      'apps/b/service.yaml': service('b', '80'),
    })
    return dir
  }

  it('is not built when no Kustomization of the tree reads substituteFrom sources', async () => {
    const dir = perApp()
    const k = k8s.counting()
    write(dir, 'apps/b/service.yaml', service('b', '81'))
    commit(dir, 'b port')
    const report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(summary(report)).toEqual(['changed flux-system/b Service/default/b'])
    expect(k.runs()).toEqual(['apps/b', 'apps/b', 'cluster'])
    expect(report.kustomizations.map((c) => `${c.id} ${c.status}`)).toEqual(['flux-system/flux-system unchanged', 'flux-system/a unchanged', 'flux-system/b changed'])
  }, 180_000)

  it('a leaf that differs between the revisions is built while the roots build (one Flux Kustomization per app)', async () => {
    const dir = perApp()
    write(dir, 'apps/b/service.yaml', service('b', '81'))
    commit(dir, 'b port')
    // A kubectl that logs start and end of each build, and takes its time over the root.
    const slow = k8s.wrapper((real, log) => `name=$(basename "$last")\necho "start $name" >> '${log}'\n[ "$name" = cluster ] && sleep 2\n'${real}' "$@"\nrc=$?\necho "end $name" >> '${log}'\nexit $rc`)
    const report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: slow.path, root: dir, to: 'HEAD'})
    expect(summary(report)).toEqual(['changed flux-system/b Service/default/b'])
    const lines = readFileSync(slow.log, 'utf8').trim().split('\n')
    // Both of b's builds started before the root's build ended; a (the same at both revisions) never built.
    expect(lines.filter((l) => l === 'start b')).toHaveLength(2)
    expect(lines.lastIndexOf('start b')).toBeLessThan(lines.indexOf('end cluster'))
    expect(lines.filter((l) => l.endsWith(' a'))).toEqual([])
  }, 180_000)

  it('is built when a Kustomization reads a source, also one defined a level further down: its variables are there, no error', async () => {
    const dir = perApp()
    // m (a level down from the root, like a) makes b, which reads TOKEN from a's Secret.
    write(dir, 'cluster/kustomization.yaml', kustomization('a.yaml', 'm.yaml'))
    write(dir, 'cluster/m.yaml', flux('m', './apps/m'))
    write(dir, 'apps/m/kustomization.yaml', kustomization('b.yaml'))
    write(dir, 'apps/m/b.yaml', flux('b', './apps/b', '  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: a-token\n'))
    write(dir, 'apps/b/service.yaml', service('b', '80').replace('app: b', 'app: b-${TOKEN}'))
    commit(dir, 'b reads a-token')
    const k = k8s.counting()
    write(dir, 'apps/b/service.yaml', service('b', '81').replace('app: b', 'app: b-${TOKEN}'))
    commit(dir, 'b port')
    const report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(report.errors).toEqual([])
    expect(summary(report)).toEqual(['changed flux-system/b Service/default/b'])
    // The Secret's value is a marker, substituted the same on both sides: only the port differs.
    expect(report.objects[0].diff).toContain('-    - port: 80\n+    - port: 81')
    expect(report.objects[0].diff).toMatch(/ {4}app: b-<secret value [0-9a-f]{16}>/)
    // a (unchanged, deferred a level up) is built once, when b is found reading a source.
    expect(k.runs()).toEqual(['apps/a', 'apps/b', 'apps/b', 'apps/m', 'cluster'])

    // Nothing b reads changes and b is the same: b stays unbuilt; a is still built once (b reads its source), no error.
    write(dir, 'README', 'x')
    commit(dir, 'unrelated')
    const quiet = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(quiet.errors).toEqual([])
    expect(summary(quiet)).toEqual([])
    expect(k.runs()).toEqual(['apps/a', 'apps/m', 'cluster'])

    // The source's value changes: b is built on both sides and shows it (as a marker), a shows its Secret changed.
    write(dir, 'apps/a/secret.yaml', secret('a-token').replace('TOKEN: t', 'TOKEN: u'))
    commit(dir, 'token')
    const token = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: k.path, root: dir, to: 'HEAD'})
    expect(token.errors).toEqual([])
    expect(summary(token)).toEqual(['changed flux-system/a Secret/flux-system/a-token', 'changed flux-system/b Service/default/b'])
  }, 180_000)

  it('one with a ConfigMap or Secret generator is always built: a generator can fail with every file there, and its error shows', async () => {
    const dir = perApp()
    write(dir, 'apps/a/kustomization.yaml', 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n  - name: settings\n    literals:\n      - noequals\n')
    commit(dir, 'a generator without =')
    write(dir, 'apps/b/service.yaml', service('b', '81'))
    commit(dir, 'b port')
    const report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: process.env.PATH, root: dir, to: 'HEAD'})
    expect(report.ok).toBe(false)
    expect(report.errors.map((e) => `${e.kustomization} ${e.message.split(':')[0]}`)).toEqual(['flux-system/a HEAD~1', 'flux-system/a HEAD'])
    expect(summary(report)).toEqual(['changed flux-system/b Service/default/b'])
  }, 180_000)

  it('a source defined twice: substituteFrom takes the first in tree order, also when the holder was built late', async () => {
    const dir = k8s.temp('homelab-diff-defer-')
    git(dir, ['init', '-q', '-b', 'main'])
    const vars = (port: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  PORT: "${port}"\n`
    write(dir, 'cluster/kustomization.yaml', kustomization('h.yaml', 'm.yaml'))
    write(dir, 'cluster/h.yaml', flux('h', './apps/h'))
    write(dir, 'cluster/m.yaml', flux('m', './apps/m'))
    write(dir, 'apps/h/kustomization.yaml', kustomization('vars.yaml'))
    write(dir, 'apps/h/vars.yaml', vars('80'))
    write(dir, 'apps/m/kustomization.yaml', kustomization('vars.yaml', 'c.yaml'))
    write(dir, 'apps/m/vars.yaml', vars('90'))
    write(dir, 'apps/m/c.yaml', flux('c', './apps/c', '  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: vars\n'))
    // c is built as usual (its kustomization names the Flux API group: not a leaf).
    write(dir, 'apps/c/kustomization.yaml', `# ${'kustomize.toolkit.fluxcd.io'}\n${kustomization('service.yaml')}`)
    write(dir, 'apps/c/service.yaml', service('c', '${PORT}'))
    commit(dir, 'initial')
    write(dir, 'apps/h/vars.yaml', vars('81'))
    commit(dir, 'h port')
    const report = await diffCluster({clusterPath: 'cluster', from: 'HEAD~1', identities: [], path: process.env.PATH, root: dir, to: 'HEAD'})
    expect(summary(report)).toEqual(['changed flux-system/h ConfigMap/flux-system/vars', 'changed flux-system/c Service/default/c'])
    expect(report.objects[1].diff).toContain('-    - port: 80\n+    - port: 81')
  }, 180_000)
})

describe('documentHead', () => {
  it('reads the identity of kyaml output and gives up on anything it cannot read for sure', () => {
    const doc = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    a: \'long value\n      namespace: x\'\n  labels:\n    name: other\n  name: web\n  namespace: apps\nspec:\n  replicas: 1\n'
    expect(documentHead(doc)).toEqual({apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'apps'})
    expect(documentHead('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n')).toEqual({apiVersion: 'v1', kind: 'Namespace', name: 'apps'})
    for (const odd of [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "123"\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NAME}\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n    b\n',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n',
      '# comment\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n',
      'apiVersion: v1\nkind: Namespace\nkind: Other\nmetadata:\n  name: a\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  "name": a\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: true\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  namespace:\n',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n? namespace\n',
    ])
      expect(documentHead(odd), odd).toBeUndefined()
  })
})

describe('simpleKustomization', () => {
  it('gives what the YAML parser gives for key: value and lists of plain items, and nothing for other shapes', () => {
    for (const text of [kustomization('a.yaml', '../b'), 'resources:\n- a\n- b\n# note\nnamespace: x\n', 'resources:\n', 'resources:\n  - a\n\n  - b\n'])
      expect(simpleKustomization(text), text).toEqual(parse(text))
    for (const text of ['resources: []\n', 'resources:\n  - a # note\n', 'a: true\n', 'resources:\n- 123\n', 'x: y\n  z\n', 'r:\n- a\n  - b\n', 'patches:\n  - path: p.yaml\n', 'kind: X\r\n', 'a: "b"\n'])
      expect(simpleKustomization(text), text).toBeUndefined()
  })
})
