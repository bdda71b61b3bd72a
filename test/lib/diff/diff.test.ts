/**
 * `homelab diff` (cluster side) on temporary git repositories: a copy of the bundled homelab,
 * committed, then changed. Real git, real kubectl (kubectl kustomize), the real SOPS engine with
 * the demo age key the bundled secrets are encrypted to.
 */
import {execFileSync} from 'node:child_process'
import {appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../../src/lib/age/identities.js'
import type {AgeIdentity} from '../../../src/lib/age/identities.js'
import {diffCluster, type DiffReport} from '../../../src/lib/diff/index.js'
import {decryptSopsFile, setSopsValues} from '../../../src/lib/sops/index.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {expectMatchesSchema} from '../../helpers/json-schema.js'
import {haveTool} from '../../helpers/have-tool.js'

const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const CLUSTER = 'flux/clusters/azalab-0'
const APPS = `${CLUSTER}/manifests/apps`
let identities: AgeIdentity[]

beforeAll(async () => {
  if (process.env.CI && !haveTool('kubectl')) throw new Error('kubectl is required under CI (homelab diff builds with kubectl kustomize)')
  identities = await parseIdentities(readFileSync(KEY_FILE, 'utf8'), KEY_FILE)
})

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

function git(dir: string, args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {cwd: dir, encoding: 'utf8'})
}

/** A copy of the bundled homelab in a new git repository with one commit. */
function repo(): string {
  const dir = copyBundledHomelab('homelab-diff-test-')
  dirs.push(dir)
  git(dir, ['init', '-q', '-b', 'main'])
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-q', '-m', 'initial'])
  return dir
}

function edit(dir: string, rel: string, from: string | RegExp, to: string): void {
  const file = path.join(dir, rel)
  const text = readFileSync(file, 'utf8')
  expect(text).toMatch(from)
  writeFileSync(file, text.replace(from, to))
}

function write(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
  writeFileSync(path.join(dir, rel), text)
}

function diff(dir: string, options: {from?: string; to?: string} = {}): Promise<DiffReport> {
  return diffCluster({clusterPath: CLUSTER, identities, path: process.env.PATH, root: dir, ...options})
}

/** `action kustomization object` lines of a report. */
function actions(report: DiffReport): string[] {
  return report.objects.map((o) => `${o.action} ${o.kustomization} ${o.object}`)
}

const NEW_APP = (name: string) => `apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${name}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: ${name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
    spec:
      containers:
        - name: ${name}
          image: ghcr.io/example/${name}:\${ECHO_TAG:=1.0.0}
`

describe('homelab diff, cluster side', () => {
  it('reports nothing when the working tree is the last commit', async () => {
    const dir = repo()
    const report = await diff(dir)
    expect(report).toMatchObject({changed: false, errors: [], objects: [], ok: true})
    expect(report.kustomizations.map((k) => `${k.id} ${k.status}`)).toEqual(['flux-system/flux-system unchanged', 'flux-system/apps unchanged', 'flux-system/infrastructure unchanged'])
  }, 120_000)

  it('adds, removes (pruned) and changes apps, deletions first, with a unified YAML diff', async () => {
    const dir = repo()
    write(dir, `${APPS}/echo/app.yaml`, NEW_APP('echo'))
    write(dir, `${APPS}/echo/kustomization.yaml`, 'resources:\n  - app.yaml\n')
    edit(dir, `${APPS}/kustomization.yaml`, '  - cloudflared\n', '  - echo\n')
    edit(dir, `${APPS}/vaultwarden/deployment.yaml`, /image: (\S+):(\S+)/, 'image: $1:9.9.9')
    const report = await diff(dir)
    expect(actions(report)).toEqual([
      'pruned flux-system/apps ConfigMap/cloudflared/cloudflared',
      'pruned flux-system/apps Deployment/cloudflared/cloudflared',
      'added flux-system/apps Deployment/echo/echo',
      'added flux-system/apps Namespace/echo',
      'changed flux-system/apps Deployment/vaultwarden/vaultwarden',
    ])
    const changed = report.objects.find((o) => o.action === 'changed')!
    expect(changed.diff).toMatch(/^--- HEAD\/Deployment\/vaultwarden\/vaultwarden\n\+\+\+ working tree\/Deployment\/vaultwarden\/vaultwarden\n@@ /)
    expect(changed.diff).toMatch(/\n-\s+image: \S+:(?!9\.9\.9)\S+\n\+\s+image: \S+:9\.9\.9/)
    // The ${ECHO_TAG:=1.0.0} of the new app is not substituted: apps has no postBuild.
    expect(report.objects.find((o) => o.object === 'Deployment/echo/echo')!.diff).toContain('${ECHO_TAG:=1.0.0}')
    expect(report).toMatchObject({changed: true, errors: [], ok: true})
  }, 120_000)

  it('sees a postBuild.substituteFrom value held in a ConfigMap change (and honours $${var} and substitute: disabled)', async () => {
    const dir = repo()
    write(dir, `${CLUSTER}/manifests/cluster/vars.yaml`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-vars\n  namespace: flux-system\ndata:\n  ECHO_TAG: "1.2.3"\n')
    edit(dir, `${CLUSTER}/manifests/cluster/kustomization.yaml`, '  - persistent-volumes.yaml\n', '  - persistent-volumes.yaml\n  - vars.yaml\n')
    edit(dir, `${CLUSTER}/apps.yaml`, '  decryption:', '  postBuild:\n    substitute:\n      REPLICAS: "2"\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-vars\n      - kind: Secret\n        name: not-there\n        optional: true\n  decryption:')
    write(dir, `${APPS}/echo/app.yaml`, `${NEW_APP('echo')}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  namespace: echo
data:
  run.sh: echo $\${HOME} \${ECHO_TAG}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: raw
  namespace: echo
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  tag: \${ECHO_TAG}
`)
    write(dir, `${APPS}/echo/kustomization.yaml`, 'resources:\n  - app.yaml\n')
    appendFileSync(path.join(dir, `${APPS}/kustomization.yaml`), '  - echo\n')
    git(dir, ['add', '-A'])
    git(dir, ['commit', '-q', '-m', 'echo with vars'])

    const base = await diff(dir, {from: 'HEAD~1', to: 'HEAD'})
    const value = (object: string) => base.objects.find((o) => o.object === object)?.diff ?? JSON.stringify(base, null, 1)
    expect(value('Deployment/echo/echo')).toContain('image: ghcr.io/example/echo:1.2.3')
    expect(value('ConfigMap/echo/script')).toContain('run.sh: echo ${HOME} 1.2.3')
    expect(value('ConfigMap/echo/raw')).toContain('tag: ${ECHO_TAG}')
    expect(base.warnings.join('\n')).toContain('postBuild.substituteFrom Secret flux-system/not-there is not in the tree (optional: true')

    // Only the ConfigMap (another Kustomization's object) changes: the Deployment of apps changes with it.
    edit(dir, `${CLUSTER}/manifests/cluster/vars.yaml`, '"1.2.3"', '"1.3.0"')
    const report = await diff(dir)
    expect(actions(report)).toEqual([
      'changed flux-system/apps ConfigMap/echo/script',
      'changed flux-system/apps Deployment/echo/echo',
      'changed flux-system/infrastructure ConfigMap/flux-system/cluster-vars',
    ])
    expect(report.objects.find((o) => o.object === 'Deployment/echo/echo')!.diff).toMatch(/-\s+- image: ghcr.io\/example\/echo:1.2.3\n\+\s+- image: ghcr.io\/example\/echo:1.3.0/)
  }, 180_000)

  it('a whole Flux Kustomization removed: its objects are pruned when it had prune on, orphaned when not; a pruned PersistentVolume is an error', async () => {
    const dir = repo()
    write(dir, `${CLUSTER}/extras.yaml`, 'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: extras\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./flux/extras\n  prune: true\n  targetNamespace: extras\n  namePrefix: x-\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n')
    write(dir, `${CLUSTER}/keep.yaml`, 'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: keep\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./flux/keep\n  prune: false\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n')
    // extras has no kustomization.yaml: Flux generates one from the manifests.
    write(dir, 'flux/extras/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: note\ndata:\n  a: "1"\n')
    // keep is created by a Kustomization of a Kustomization: followed recursively.
    write(dir, 'flux/keep/kustomization.yaml', 'resources:\n  - nested.yaml\n')
    write(dir, 'flux/keep/nested.yaml', 'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: nested\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./flux/nested\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n')
    write(dir, 'flux/nested/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n  namespace: default\ndata:\n  a: "1"\n')
    edit(dir, `${CLUSTER}/kustomization.yaml`, '  - apps.yaml\n', '  - apps.yaml\n  - extras.yaml\n  - keep.yaml\n')
    git(dir, ['add', '-A'])
    git(dir, ['commit', '-q', '-m', 'extras'])

    const added = await diff(dir, {from: 'HEAD~1', to: 'HEAD'})
    expect(added.kustomizations.filter((k) => k.status === 'added').map((k) => k.id)).toEqual(['flux-system/extras', 'flux-system/keep', 'flux-system/nested'])
    expect(actions(added)).toContain('added flux-system/extras ConfigMap/extras/x-note')
    expect(actions(added)).toContain('added flux-system/nested ConfigMap/default/deep')

    edit(dir, `${CLUSTER}/kustomization.yaml`, '  - infrastructure.yaml\n', '')
    edit(dir, `${CLUSTER}/kustomization.yaml`, '  - extras.yaml\n  - keep.yaml\n', '')
    const report = await diff(dir)
    const lines = actions(report)
    expect(lines).toContain('pruned flux-system/flux-system Kustomization/flux-system/extras')
    expect(lines).toContain('pruned flux-system/extras ConfigMap/extras/x-note')
    expect(lines).toContain('pruned flux-system/infrastructure PersistentVolume/immich-data')
    // keep (prune: false) is deleted by its parent, but leaves its objects, and nested keeps running.
    expect(lines).toContain('orphaned flux-system/keep Kustomization/flux-system/nested')
    expect(lines.some((l) => l.includes('ConfigMap/default/deep'))).toBe(false)
    expect(report.kustomizations.find((k) => k.id === 'flux-system/nested')).toMatchObject({orphaned: true, status: 'removed'})
    expect(report.kustomizations.find((k) => k.id === 'flux-system/extras')!.status).toBe('removed')
    expect(report.ok).toBe(false)
    expect(report.errors.map((e) => e.message)).toContain('PersistentVolume/immich-data: would be deleted (pruned): a PersistentVolume holds an app\'s data; keep it in the tree, or annotate it kustomize.toolkit.fluxcd.io/prune: disabled before removing it')
  }, 180_000)

  it('identities given as a loader: called once the builds run, used to decrypt; a failing loader fails the diff with its error', async () => {
    const dir = repo()
    const file = path.join(dir, `${APPS}/immich/secret.sops.yaml`)
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': 'LoaderPassw0rd'}})
    let calls = 0
    const report = await diffCluster({clusterPath: CLUSTER, identities: async () => (calls++, identities), path: process.env.PATH, root: dir})
    expect(calls).toBe(1)
    expect(report.objects).toEqual([expect.objectContaining({object: 'Secret/immich/immich-secret', secretKeys: [{change: 'value changed', key: 'stringData.DB_PASSWORD'}]})])
    expect(report.warnings).toEqual([])

    const failing = diffCluster({clusterPath: CLUSTER, identities: () => Promise.reject(new Error('cannot read SOPS_AGE_KEY_FILE /x: ENOENT')), path: process.env.PATH, root: dir})
    await expect(failing).rejects.toThrow('cannot read SOPS_AGE_KEY_FILE /x: ENOENT')
  }, 120_000)

  it('a Kustomization that does not build is an error naming it', async () => {
    const dir = repo()
    edit(dir, `${APPS}/kustomization.yaml`, '  - zeroclaw\n', '  - zeroclaw\n  - missing-app\n')
    const report = await diff(dir)
    expect(report.ok).toBe(false)
    expect(report.errors).toEqual([{kustomization: 'flux-system/apps', message: expect.stringMatching(/^working tree: kubectl kustomize \.\/flux\/clusters\/azalab-0\/manifests\/apps failed: .*missing-app/)}])
  }, 120_000)
})

describe('homelab diff (the command)', () => {
  const env = {CI: process.env.CI, SOPS_AGE_KEY_FILE: KEY_FILE, XDG_CONFIG_HOME: '/nonexistent'}

  it('a SOPS value change names the key and never prints a value (stdout, stderr, --json)', async () => {
    const dir = repo()
    const file = path.join(dir, `${APPS}/immich/secret.sops.yaml`)
    const old = String((await decryptSopsFile({file, identities})).documents[0].toJS().stringData.DB_PASSWORD)
    const plaintext = 'NewPlaintextPassw0rdXyz'
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': plaintext}})
    const text = await runCli(['diff', '--repo', dir, '--offline'], {env})
    const json = await runCli(['diff', '--repo', dir, '--offline', '--json'], {env})
    expect(text.exitCode).toBe(0)
    expect(text.stdout).toContain('  ~ Secret/immich/immich-secret  changed\n      stringData.DB_PASSWORD: value changed\n')
    const report = JSON.parse(json.stdout) as DiffReport
    await expectMatchesSchema('diff', report)
    // --offline: no connection; the old side is HEAD (this repository has no origin/main) and the host part is skipped.
    expect(report).toMatchObject({fromSource: 'head', hosts: [expect.objectContaining({host: 'azalab-0', message: '--offline: not connected', status: 'skipped'})], schemaVersion: 1})
    expect(report.objects).toEqual([expect.objectContaining({action: 'changed', diff: '', object: 'Secret/immich/immich-secret', secretKeys: [{change: 'value changed', key: 'stringData.DB_PASSWORD'}]})])
    for (const out of [text.stdout, text.stderr, json.stdout, json.stderr]) {
      expect(out).not.toContain(plaintext)
      expect(out).not.toContain(old)
      expect(out).not.toContain('ENC[')
    }

    // Re-encrypted with the same value: ciphertexts change, values do not: no change.
    git(dir, ['checkout', '-q', '--', '.'])
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': `${old}x`}})
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': old}})
    expect(readFileSync(file, 'utf8')).not.toBe(git(dir, ['show', `HEAD:${APPS}/immich/secret.sops.yaml`]))
    const same = await runCli(['diff', '--repo', dir, '--offline', '--exit-code'], {env})
    expect(same.stdout).toContain('ok: no changes; 0 errors')
    expect(same.exitCode).toBe(0)
  }, 180_000)

  it('a shrunk PersistentVolumeClaim is an error line and exit 1, also without --exit-code; --name-only and --exit-code', async () => {
    const dir = repo()
    edit(dir, `${APPS}/immich/pvc.yaml`, 'storage: 500Gi', 'storage: 100Gi')
    const result = await runCli(['diff', '--repo', dir, '--offline'], {env})
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toContain('error: Kustomization flux-system/apps: PersistentVolumeClaim/immich/immich-data: spec.resources.requests.storage 500Gi → 100Gi: a claim can only grow, Kubernetes refuses to shrink it; keep the old size')
    expect(result.stderr).toBe('')

    edit(dir, `${APPS}/immich/pvc.yaml`, 'storage: 100Gi', 'storage: 600Gi')
    const names = await runCli(['diff', '--repo', dir, '--name-only', '--offline'], {env})
    expect(names).toMatchObject({exitCode: 0, stdout: 'flux-system/apps\tPersistentVolumeClaim/immich/immich-data'})
    expect((await runCli(['diff', '--repo', dir, '--offline', '--name-only', '--exit-code'], {env})).exitCode).toBe(1)

    // An unreadable key file is one line and exit 1, as before the identities loaded during the builds.
    const badKey = await runCli(['diff', '--repo', dir, '--offline'], {env: {...env, SOPS_AGE_KEY_FILE: path.join(dir, 'missing.agekey')}})
    expect(badKey).toMatchObject({exitCode: 1, stdout: ''})
    expect(badKey.stderr).toContain(`cannot read SOPS_AGE_KEY_FILE ${path.join(dir, 'missing.agekey')}: ENOENT`)
    expect(badKey.stderr).not.toMatch(/\n\s+at /)

    const unknown = await runCli(['diff', '--repo', dir, '--offline', '--from', 'nope'], {env})
    expect(unknown).toMatchObject({exitCode: 3, stderr: expect.stringContaining('--from nope: no such commit in')})
  }, 180_000)
})
