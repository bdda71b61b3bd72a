// The bundled azalab-0 homelab: it passes, and a copy broken once per check gives exactly the
// finding expected (file:line and message), lines looked up in the files as they are.
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type CheckId, validateRepo, type ValidateReport} from '../../../src/lib/validate/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const copies: string[] = []
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, {force: true, recursive: true})
})

const CLUSTER = 'flux/clusters/azalab-0'

function copy(): string {
  const dir = copyBundledHomelab('homelab-validate-ref-')
  copies.push(dir)
  return dir
}

/** 1-based line of the first line of `rel` in `dir` that contains `needle`. */
function lineOf(dir: string, rel: string, needle: string | RegExp): number {
  const lines = readFileSync(path.join(dir, rel), 'utf8').split('\n')
  const index = lines.findIndex((l) => (typeof needle === 'string' ? l.includes(needle) : needle.test(l)))
  expect(index, `${rel} has a line with ${String(needle)}`).toBeGreaterThanOrEqual(0)
  return index + 1
}

function edit(dir: string, rel: string, change: (text: string) => string): void {
  const file = path.join(dir, rel)
  const before = readFileSync(file, 'utf8')
  const after = change(before)
  expect(after, `${rel} changed`).not.toBe(before)
  writeFileSync(file, after)
}

function found(report: ValidateReport, check: CheckId): string[] {
  return report.checks.find((c) => c.id === check)!.findings.map((f) => `${f.file}:${f.line}: ${f.message}`)
}

const validate = (dir: string) => validateRepo({path: process.env.PATH, root: dir})

describe('the bundled homelab', () => {
  it('passes every check with kubectl and nix', async () => {
    const report = await validateRepo({path: process.env.PATH, root: REPO_ROOT})
    expect(report.checks.flatMap((c) => c.findings.filter((f) => f.severity === 'error')).map((f) => `${f.file}:${f.line}: ${f.message}`)).toEqual([])
    expect(report.checks.map((c) => `${c.id}:${c.status}`)).toEqual(['yaml', 'kustomize', 'storage', 'backup', 'sops', 'nix', 'config', 'schema', 'map'].map((id) => `${id}:passed`))
    // Every object has a schema (no "not checked" notes) and matches it strictly.
    expect(found(report, 'schema')).toEqual([])
  })
})

describe('a broken copy of the bundled homelab', () => {
  it('1 yaml: an object without kind', async () => {
    const dir = copy()
    const rel = `${CLUSTER}/manifests/cluster/namespaces.yaml`
    edit(dir, rel, (t) => t.replace('kind: Namespace', 'kinds: Namespace'))
    expect(found(await validate(dir), 'yaml')).toEqual([`${rel}:${lineOf(dir, rel, /^apiVersion:/)}: object cloudflared: missing kind`])
  })

  it('2 kustomize: a dependsOn that names no Kustomization', async () => {
    const dir = copy()
    const rel = `${CLUSTER}/apps.yaml`
    edit(dir, rel, (t) => t.replace('- name: infrastructure', '- name: infra'))
    expect(found(await validate(dir), 'kustomize')).toEqual([
      `${rel}:${lineOf(dir, rel, '- name: infra')}: Kustomization flux-system/apps: dependsOn flux-system/infra matches no Kustomization in the tree`,
    ])
  })

  it('3 storage: a claim larger than its PersistentVolume', async () => {
    const dir = copy()
    const rel = `${CLUSTER}/manifests/apps/immich/pvc.yaml`
    edit(dir, rel, (t) => t.replace(/storage: \S+/, 'storage: 100Ti'))
    expect(found(await validate(dir), 'storage')).toEqual([
      `${rel}:${lineOf(dir, rel, 'storage: 100Ti')}: PersistentVolumeClaim immich/immich-data: requests 100Ti but PersistentVolume immich-data holds 500Gi`,
    ])
  })

  it('4 backup: an app path missing from the storage file', async () => {
    const dir = copy()
    edit(dir, 'nixos/storage.json', (t) => t.replace(/\n\s*\{ "name": "vaultwarden"[^\n]*\},?/, ''))
    const rel = `${CLUSTER}/manifests/cluster/persistent-volumes.yaml`
    expect(found(await validate(dir), 'backup')).toEqual([
      `${rel}:${lineOf(dir, rel, 'path: /srv/vaultwarden')}: PersistentVolume vaultwarden-data: hostPath /srv/vaultwarden is not a backup source (add it to nixos/storage.json)`,
    ])
  })

  it('5 sops: a host secrets file in plaintext', async () => {
    const dir = copy()
    const rel = 'nixos/secrets/host-secrets.sops.yaml'
    writeFileSync(path.join(dir, rel), 'kopia:\n  repository_password: hunter2\n')
    expect(found(await validate(dir), 'sops')).toEqual([
      `${rel}:1: not SOPS-encrypted, but creation rule 1 (.sops.yaml:${lineOf(dir, '.sops.yaml', '- path_regex: ^nixos/')}) matches ${rel}: encrypt it (homelab secrets set writes SOPS files; or sops -e -i)`,
    ])
  })

  it('6 nix: a syntax error', async () => {
    const dir = copy()
    edit(dir, 'nixos/disko.nix', (t) => `{ a = ; }\n${t}`)
    expect(found(await validate(dir), 'nix')).toEqual(["nixos/disko.nix:1: syntax error, unexpected ';'"])
  })

  it('7 config: a cluster path that does not exist', async () => {
    const dir = copy()
    edit(dir, 'homelab.yaml', (t) => t.replace('path: flux/clusters/azalab-0', 'path: flux/clusters/azalab-1'))
    expect(found(await validate(dir), 'config')).toEqual([`homelab.yaml:${lineOf(dir, 'homelab.yaml', 'path: flux/clusters/azalab-1')}: cluster.path flux/clusters/azalab-1 does not exist`])
  })

  it('7 config: a host configuration whose domain differs from homelab.yaml', async () => {
    const dir = copy()
    const rel = 'nixos/configuration.nix'
    edit(dir, rel, (t) => t.replace('domain = "aza.network";', 'domain = "example.org";'))
    expect(found(await validate(dir), 'config')).toEqual([`${rel}:${lineOf(dir, rel, 'domain = "example.org";')}: homelab.domain "example.org" differs from homelab.yaml domain aza.network`])
  })

  it('8 schema: a misspelt containerPort in the cloudflared Deployment', async () => {
    const dir = copy()
    const rel = `${CLUSTER}/manifests/apps/cloudflared/deployment.yaml`
    edit(dir, rel, (t) => t.replace('containerPort: 2000', 'contianerPort: 2000'))
    expect(found(await validate(dir), 'schema')).toEqual([
      `${rel}:${lineOf(dir, rel, '- name: metrics')}: Deployment cloudflared/cloudflared: spec.template.spec.containers[0].ports[0]: missing required field "containerPort"`,
      `${rel}:${lineOf(dir, rel, 'contianerPort: 2000')}: Deployment cloudflared/cloudflared: unknown field "spec.template.spec.containers[0].ports[0].contianerPort" (not in the apps/v1 Deployment schema)`,
    ])
  })
})
