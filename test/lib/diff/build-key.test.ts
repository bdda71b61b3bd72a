/**
 * The build cache of `homelab diff` (build.ts buildKey): a Flux Kustomization is built once when
 * both revisions give it the same inputs, and never served stale. Temporary git repositories per
 * test, real git, real kubectl (counted through a wrapper script that runs the real one).
 */
import {execFileSync} from 'node:child_process'
import {chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {buildKey, type BuildOutput, buildRevision, parseBuildOutput} from '../../../src/lib/diff/build.js'
import {diffCluster} from '../../../src/lib/diff/index.js'
import {materialise, type MaterialisedRevision} from '../../../src/lib/diff/revision.js'
import {SecretValues} from '../../../src/lib/diff/secrets.js'
import {haveTool} from '../../helpers/have-tool.js'
import {commit, flux, initialCommit, kustomization, write} from './git-fixture.js'

const dirs: string[] = []
const opened: MaterialisedRevision[] = []
let kubectl = ''

beforeAll(() => {
  if (process.env.CI && !haveTool('kubectl')) throw new Error('kubectl is required under CI (homelab diff builds with kubectl kustomize)')
  kubectl = execFileSync('sh', ['-c', 'command -v kubectl'], {encoding: 'utf8'}).trim()
})

afterEach(async () => {
  for (const r of opened.splice(0)) await r.cleanup()
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

const configMap = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`

/**
 * A repository: cluster/ (the root, defining Flux Kustomizations foo and bar), apps/foo (reaches
 * ../../base/web, which reaches ../../shared/labels), apps/bar (self-contained), one commit.
 */
function repo(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homelab-diff-key-'))
  dirs.push(dir)
  initialCommit(dir, 'initial', {
    'cluster/kustomization.yaml': kustomization('foo.yaml', 'bar.yaml'),
    'cluster/foo.yaml': flux('foo', './apps/foo'),
    'cluster/bar.yaml': flux('bar', './apps/bar'),
    'apps/foo/kustomization.yaml': kustomization('own.yaml', '../../base/web'),
    'apps/foo/own.yaml': configMap('foo-own', '1'),
    'base/web/kustomization.yaml': kustomization('web.yaml', '../../shared/labels'),
    'base/web/web.yaml': configMap('web', '1'),
    'shared/labels/kustomization.yaml': kustomization('labels.yaml'),
    'shared/labels/labels.yaml': configMap('labels', '1'),
    'apps/bar/kustomization.yaml': kustomization('bar.yaml'),
    'apps/bar/bar.yaml': configMap('bar', '1'),
  })
  return dir
}

async function open(dir: string, rev: string | undefined): Promise<MaterialisedRevision> {
  const r = await materialise(dir, rev, '--from', ['apps'])
  opened.push(r)
  return r
}

async function keyOf(dir: string, rev: string | undefined, specPath: string, fields: Record<string, unknown> = {}): Promise<string | undefined> {
  return buildKey(await open(dir, rev), specPath, `./${specPath}`, fields)
}

describe('homelab diff build cache key', () => {
  it('is the same for an identical folder (commit against commit, and against the working tree) and differs when the folder changes', async () => {
    const dir = repo()
    write(dir, 'apps/bar/bar.yaml', configMap('bar', '2'))
    commit(dir, 'bar changed')
    const foo = await keyOf(dir, 'HEAD~1', 'apps/foo')
    expect(foo).toMatch(/^[\da-f]{64}$/)
    expect(await keyOf(dir, 'HEAD', 'apps/foo')).toBe(foo)
    expect(await keyOf(dir, undefined, 'apps/foo')).toBe(foo)
    expect(await keyOf(dir, 'HEAD', 'apps/bar')).not.toBe(await keyOf(dir, 'HEAD~1', 'apps/bar'))
    expect(await keyOf(dir, 'HEAD', 'apps/bar')).toBe(await keyOf(dir, undefined, 'apps/bar'))
    // The controller's own fields are part of the key.
    expect(await keyOf(dir, 'HEAD', 'apps/foo', {targetNamespace: 'other'})).not.toBe(foo)
  })

  it('changes when a folder reached by ../ changes, followed recursively (commit and working tree)', async () => {
    const dir = repo()
    const before = await keyOf(dir, 'HEAD', 'apps/foo')
    write(dir, 'shared/labels/labels.yaml', configMap('labels', '2'))
    expect(await keyOf(dir, undefined, 'apps/foo')).not.toBe(before)
    commit(dir, 'labels changed')
    const afterLabels = await keyOf(dir, 'HEAD', 'apps/foo')
    expect(afterLabels).not.toBe(before)
    write(dir, 'base/web/web.yaml', configMap('web', '2'))
    commit(dir, 'web changed')
    expect(await keyOf(dir, 'HEAD', 'apps/foo')).not.toBe(afterLabels)
    // A file added next to the folder, but not reached, changes nothing.
    write(dir, 'base/other/x.yaml', configMap('x', '1'))
    commit(dir, 'unrelated')
    expect(await keyOf(dir, 'HEAD', 'apps/foo')).toBe(await keyOf(dir, 'HEAD~1', 'apps/foo'))
  })

  it('gives no key for what it cannot vouch for (a remote base, an absolute path, a symlink, outside the repository); a multi-line ../ keys on the whole repository', async () => {
    const dir = repo()
    write(dir, 'apps/remote/kustomization.yaml', kustomization('https://github.com/example/repo//base?ref=v1'))
    write(dir, 'apps/outside/kustomization.yaml', kustomization('../../../elsewhere'))
    write(dir, 'apps/absolute/kustomization.yaml', kustomization('/srv/manifests'))
    write(dir, 'apps/inline/kustomization.yaml', `${kustomization('own.yaml')}patches:\n  - patch: |-\n      - op: add\n        path: /data/from\n        value: ../../base/web\n    target:\n      kind: ConfigMap\n`)
    write(dir, 'apps/inline/own.yaml', configMap('inline', '1'))
    commit(dir, 'odd ones')
    for (const p of ['apps/remote', 'apps/outside', 'apps/absolute']) {
      expect(await keyOf(dir, 'HEAD', p), p).toBeUndefined()
      expect(await keyOf(dir, undefined, p), p).toBeUndefined()
    }

    const inline = await keyOf(dir, 'HEAD', 'apps/inline')
    expect(inline).toBeDefined()
    expect(await keyOf(dir, undefined, 'apps/inline')).toBeUndefined() // the whole working tree has no identity
    write(dir, 'README', 'anything, anywhere\n')
    commit(dir, 'readme')
    expect(await keyOf(dir, 'HEAD', 'apps/inline')).not.toBe(inline)

    write(dir, 'apps/linked/kustomization.yaml', kustomization('x.yaml'))
    symlinkSync('../bar/bar.yaml', path.join(dir, 'apps/linked/x.yaml'))
    commit(dir, 'a symlink')
    expect(await keyOf(dir, 'HEAD', 'apps/linked')).toBeUndefined()
    expect(await keyOf(dir, undefined, 'apps/linked')).toBeUndefined()
    // A symlink anywhere: the whole repository has no identity either.
    expect(await keyOf(dir, 'HEAD', 'apps/inline')).toBeUndefined()
    expect(await keyOf(dir, 'HEAD', 'apps/bar')).toBeDefined()
  })

  it('builds a Kustomization once when both revisions give it the same inputs, and again when a ../ folder changed', async () => {
    const dir = repo()
    const bin = mkdtempSync(path.join(os.tmpdir(), 'homelab-diff-key-bin-'))
    dirs.push(bin)
    const log = path.join(bin, 'runs.log')
    // Real kubectl, each run's target logged.
    writeFileSync(path.join(bin, 'kubectl'), `#!/bin/sh\nfor a; do last=$a; done\nprintf '%s\\n' "$last" >> '${log}'\nexec '${kubectl}' "$@"\n`)
    chmodSync(path.join(bin, 'kubectl'), 0o755)
    const runs = () => readFileSync(log, 'utf8').trim().split('\n').map((t) => t.replace(/^.*?\/(apps|cluster)/, '$1'))

    const buildBoth = async (from: string, to: string | undefined) => {
      writeFileSync(log, '')
      const cache = new Map<string, Promise<BuildOutput>>()
      const common = {cache, clusterPath: 'cluster', kubectl: path.join(bin, 'kubectl'), secrets: new SecretValues([])}
      const [a, b] = await Promise.all([buildRevision({...common, revision: await open(dir, from)}), buildRevision({...common, revision: await open(dir, to)})])
      return {a, b, runs: runs().sort()}
    }

    write(dir, 'apps/bar/bar.yaml', configMap('bar', '2'))
    commit(dir, 'bar changed')
    let built = await buildBoth('HEAD~1', 'HEAD')
    // cluster and apps/foo built once; apps/bar (changed) twice.
    expect(built.runs).toEqual(['apps/bar', 'apps/bar', 'apps/foo', 'cluster'])
    expect(built.b.kustomizations.get('flux-system/bar')!.objects.get('/ConfigMap/default/bar')!.value).toMatchObject({data: {value: '2'}})

    write(dir, 'shared/labels/labels.yaml', configMap('labels', '3'))
    built = await buildBoth('HEAD', undefined)
    // HEAD against the working tree: only apps/foo (its ../../base/web reaches the changed shared/labels) twice.
    expect(built.runs).toEqual(['apps/bar', 'apps/foo', 'apps/foo', 'cluster'])
    expect(built.a.kustomizations.get('flux-system/foo')!.objects.get('/ConfigMap/default/labels')!.value).toMatchObject({data: {value: '1'}})
    expect(built.b.kustomizations.get('flux-system/foo')!.objects.get('/ConfigMap/default/labels')!.value).toMatchObject({data: {value: '3'}})

    // And the report sees it (a stale build would show nothing).
    const report = await diffCluster({clusterPath: 'cluster', identities: [], path: `${bin}:${process.env.PATH}`, root: dir})
    expect(report.errors).toEqual([])
    expect(report.objects.map((o) => `${o.action} ${o.kustomization} ${o.object}`)).toEqual(['changed flux-system/foo ConfigMap/default/labels'])
  }, 180_000)
})

describe('parseBuildOutput', () => {
  it('parses each document of kubectl kustomize output once per text, keeps block scalars whole, and parses other document markers whole', () => {
    const a = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  script: |\n    echo ---\n    x\n'
    const b = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n'
    const parsed = new Map<string, Record<string, unknown> | undefined>()
    const first = parseBuildOutput(`${a}---\n${b}`, parsed)
    expect(first.map((o) => (o.metadata as {name: string}).name)).toEqual(['a', 'b'])
    expect(first[0]).toMatchObject({data: {script: 'echo ---\nx\n'}})
    const second = parseBuildOutput(`${b}---\n${a}`, parsed)
    expect(second[1]).toBe(first[0]) // the same text: the same (never mutated) object
    expect(parsed.size).toBe(2)
    // A document start with content on its line: parsed whole, same result.
    expect(parseBuildOutput(`--- ${b}`.replace('--- apiVersion', '--- !!map\napiVersion'), new Map())).toEqual([{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'b'}}])
  })
})
