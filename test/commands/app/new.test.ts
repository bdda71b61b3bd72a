import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'

let root: string
const APPS = 'flux/clusters/azalab-0/manifests/apps'

beforeAll(() => {
  root = copyBundledHomelab('homelab-app-cmd-')
})

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
})

/** The error line oclif prints (the first stderr line naming the error). */
function errorLine(stderr: string): string {
  return stderr.split('\n').find((l) => l.includes('Error:'))?.replace(/^.*Error:\s*/, '') ?? stderr
}

describe('homelab app new: bad input is one line and changes no file', () => {
  const cases: [string, string[], RegExp, string?][] = [
    ['upper-case name', ['Wiki', '--image', 'nginx:1.27'], /^app name "Wiki" must be a DNS-1123 label/],
    ['name with _', ['my_app', '--image', 'nginx:1.27'], /^app name "my_app" must be a DNS-1123 label/],
    ['name starting with -', ['--image', 'nginx:1.27', '--', '-app'], /^app name "-app" must be a DNS-1123 label/],
    ['64-character name', ['a'.repeat(64), '--image', 'nginx:1.27'], /^app name "a{64}" is longer than 63 characters/],
    ['existing app', ['libsql', '--image', 'nginx:1.27', '--port', '80'], /^app libsql exists already \(flux\/clusters\/azalab-0\/manifests\/apps\/libsql\)$/],
    ['unknown --kind', ['wiki', '--image', 'nginx:1.27', '--kind', 'daemonset'], /Expected --kind=daemonset to be one of: deployment, statefulset/],
    ['bad --storage', ['wiki', '--image', 'nginx:1.27', '--storage', 'lots'], /^--storage "lots" is not a size: give a Kubernetes quantity like 10Gi/],
    ['bad --storage that starts with 0', ['wiki', '--image', 'nginx:1.27', '--storage', '0XB'], /^--storage "0XB" is not a size: give a Kubernetes quantity like 10Gi or 500Mi/],
    ['bad --port', ['wiki', '--image', 'nginx:1.27', '--port', '70000'], /^--port 70000 must be 1-65535/],
    ['bad --env', ['wiki', '--image', 'nginx:1.27', '--env', 'NOVALUE'], /^--env "NOVALUE" must be NAME=VALUE$/],
    ['bad --image', ['wiki', '--image', 'nginx:latest extra'], /^--image "nginx:latest extra" is not an image reference/],
    ['missing --image without a terminal', ['wiki'], /^--image is required when not running in a terminal$/],
    ['duplicate hostname', ['wiki', '--image', 'nginx:1.27', '--port', '80', '--hostname', 'db.aza.network'], /^hostname db\.aza\.network is already routed to http:\/\/libsql\.libsql\.svc\.cluster\.local:8080 in /],
    ['hostname without a port', ['wiki', '--image', 'nginx:1.27', '--hostname', 'wiki.aza.network'], /^--hostname wiki\.aza\.network needs --port/],
    ['secret without a value source', ['wiki', '--image', 'nginx:1.27', '--secret', 'TOKEN'], /^--secret TOKEN needs a value: pass --secrets-from-stdin/],
    // Reserved names and namespaces: an app's folder declares its Namespace, and app remove (Flux prune: true) would delete it.
    ['Flux namespace as the name', ['flux-system', '--image', 'x:1'], /^app name flux-system is reserved: the Flux controllers' namespace$/],
    ['kube-system as the name', ['kube-system', '--image', 'x:1', '--storage', '0'], /^app name kube-system is reserved: a Kubernetes system namespace$/],
    ['kube-public as the name', ['kube-public', '--image', 'x:1'], /^app name kube-public is reserved: a Kubernetes system namespace$/],
    ['kube-node-lease as the name', ['kube-node-lease', '--image', 'x:1'], /^app name kube-node-lease is reserved: a Kubernetes system namespace$/],
    ['a kube- prefixed name', ['kube-dashboard', '--image', 'x:1'], /^app name kube-dashboard is reserved: the kube- prefix is kept for Kubernetes system namespaces$/],
    ['default as the name', ['default', '--image', 'x:1'], /^app name default is reserved: the Kubernetes default namespace$/],
    ['platform namespace as the name', ['cloudflared', '--image', 'x:1'], /^app name cloudflared is reserved: a namespace declared outside the apps folder, in flux\/clusters\/azalab-0\/manifests\/cluster\/namespaces\.yaml$/],
    ['--namespace flux-system', ['web', '--image', 'x:1', '--namespace', 'flux-system'], /^--namespace flux-system is reserved: the Flux controllers' namespace$/],
    ['--namespace kube-system', ['web', '--image', 'x:1', '--namespace', 'kube-system'], /^--namespace kube-system is reserved: a Kubernetes system namespace$/],
    ['--namespace default', ['web', '--image', 'x:1', '--namespace', 'default'], /^--namespace default is reserved: the Kubernetes default namespace$/],
    ['--namespace of the platform', ['web', '--image', 'x:1', '--namespace', 'cloudflared'], /^--namespace cloudflared is reserved: a namespace declared outside the apps folder, in flux\/clusters\/azalab-0\/manifests\/cluster\/namespaces\.yaml$/],
  ]

  it.each(cases)('%s', async (_label, args, message) => {
    const before = await treeSnapshot(root)
    const result = await runCli(['app', 'new', '--repo', root, ...args], {env: {CI: 'true'}})
    expect(result.exitCode).not.toBe(0)
    if (_label.includes('--storage')) expect(result.exitCode).toBe(3)
    expect(errorLine(result.stderr)).toMatch(message)
    expect(result.stdout).toBe('')
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('storage path collision: a folder removed by hand whose /srv entry is still in storage.json', async () => {
    const copy = copyBundledHomelab('homelab-app-collide-')
    try {
      await fs.rm(path.join(copy, APPS, 'zeroclaw'), {recursive: true})
      const k = path.join(copy, APPS, 'kustomization.yaml')
      await fs.writeFile(k, (await fs.readFile(k, 'utf8')).replace('  - zeroclaw\n', ''))
      const before = await treeSnapshot(copy)
      const result = await runCli(['app', 'new', 'zeroclaw', '--image', 'ghcr.io/zeroclaw-labs/zeroclaw:v0.7.5', '--repo', copy])
      expect(result.exitCode).toBe(3)
      expect(errorLine(result.stderr)).toBe('storage path /srv/zeroclaw is already used by zeroclaw in nixos/storage.json')
      expect(await treeSnapshot(copy)).toEqual(before)
    } finally {
      rmSync(copy, {force: true, recursive: true})
    }
  })

  it('missing creation rule for the Secret', async () => {
    const copy = copyBundledHomelab('homelab-app-norule-')
    try {
      const sops = path.join(copy, '.sops.yaml')
      const text = await fs.readFile(sops, 'utf8')
      await fs.writeFile(sops, text.slice(0, text.indexOf('  # Cluster secrets')))
      const before = await treeSnapshot(copy)
      const result = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1.27', '--port', '80', '--secret', 'TOKEN', '--secrets-from-stdin', '--repo', copy], {input: 'TOKEN=abc\n'})
      expect(result.exitCode).toBe(3)
      expect(errorLine(result.stderr)).toBe(`no creation rule in .sops.yaml matches ${APPS}/wiki/secret.sops.yaml; cannot encrypt the app's Secret`)
      expect(result.stderr).not.toContain('abc')
      expect(await treeSnapshot(copy)).toEqual(before)
    } finally {
      rmSync(copy, {force: true, recursive: true})
    }
  })

  it('reserves the namespaces the tree declares or uses outside the apps folder, read from the tree', async () => {
    const copy = copyBundledHomelab('homelab-app-reserved-')
    try {
      const cluster = path.join(copy, 'flux/clusters/azalab-0/manifests/cluster')
      await fs.appendFile(path.join(cluster, 'namespaces.yaml'), '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n')
      // Only used (no Namespace object here): a ConfigMap in namespace ops, in a file under the cluster folder outside the apps.
      await fs.mkdir(path.join(cluster, 'extra'))
      await fs.writeFile(path.join(cluster, 'extra', 'ops.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ops\n')
      const before = await treeSnapshot(copy)
      const cases: [string[], string][] = [
        [['monitoring'], 'app name monitoring is reserved: a namespace declared outside the apps folder, in flux/clusters/azalab-0/manifests/cluster/namespaces.yaml'],
        [['grafana', '--namespace', 'monitoring'], '--namespace monitoring is reserved: a namespace declared outside the apps folder, in flux/clusters/azalab-0/manifests/cluster/namespaces.yaml'],
        [['ops'], 'app name ops is reserved: a namespace used outside the apps folder, in flux/clusters/azalab-0/manifests/cluster/extra/ops.yaml'],
      ]
      for (const [args, message] of cases) {
        const result = await runCli(['app', 'new', ...args, '--image', 'x:1', '--port', '80', '--repo', copy])
        expect(result.exitCode).toBe(3)
        expect(errorLine(result.stderr)).toBe(message)
        expect(result.stdout).toBe('')
      }

      expect(await treeSnapshot(copy)).toEqual(before)
      // An app namespace (declared in the apps folder) may still be shared.
      expect((await runCli(['app', 'new', 'libsql-admin', '--image', 'x:1', '--namespace', 'libsql', '--storage', '0', '--dry-run', '--repo', copy])).exitCode).toBe(0)
    } finally {
      rmSync(copy, {force: true, recursive: true})
    }
  })

  it('keeps the exit code under --json', async () => {
    const result = await runCli(['app', 'new', 'libsql', '--image', 'nginx:1.27', '--json', '--repo', root])
    expect(result.exitCode).toBe(3)
    expect(JSON.parse(result.stdout).error.message).toBe('app libsql exists already (flux/clusters/azalab-0/manifests/apps/libsql)')
  })
})

describe('homelab app new --dry-run', () => {
  it('prints a unified diff and writes nothing', async () => {
    const before = await treeSnapshot(root)
    const result = await runCli(['app', 'new', 'whoami', '--image', 'traefik/whoami:v1.10', '--port', '80', '--storage', '1Gi', '--dry-run', '--repo', root])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain(`--- /dev/null\n+++ b/${APPS}/whoami/deployment.yaml\n@@ -0,0 +1,`)
    expect(result.stdout).toContain(`--- a/nixos/storage.json\n+++ b/nixos/storage.json`)
    expect(result.stdout).toContain('+    { "name": "whoami", "path": "/srv/whoami", "uid": 1000, "gid": 1000, "mode": "0750", "node": "azalab-0" }')
    expect(result.stdout).toContain('+      - hostname: whoami.aza.network\n+        service: http://whoami.whoami.svc.cluster.local:80\n       - service: http_status:404')
    expect(result.stdout).toMatch(/Dry run: 5 files would be created, 5 changed; nothing was written\.$/)
    expect(await treeSnapshot(root)).toEqual(before)
  })
})

describe('homelab app new --env', () => {
  it('writes each value as a double-quoted string (yes, on, 0755, 1.0, true, null, 2024-01-01)', async () => {
    const values = ['yes', 'on', '0755', '1.0', 'true', 'null', '2024-01-01']
    const env = values.flatMap((v, i) => ['--env', `V${i}=${v}`])
    const result = await runCli(['app', 'new', 'web', '--image', 'x:1', '--storage', '0', '--no-hostname', ...env, '--dry-run', '--repo', root])
    expect(result.exitCode).toBe(0)
    const lines = values.flatMap((v, i) => [`+            - name: V${i}`, `+              value: "${v}"`])
    expect(result.stdout).toContain(`+          env:\n${lines.join('\n')}\n`)
  })
})

describe('homelab app new, list and remove through the CLI', () => {
  it('writes the app (JSON shape), lists it, removes it with --yes and restores the tree', async () => {
    const copy = copyBundledHomelab('homelab-app-json-')
    try {
      const before = await treeSnapshot(copy)
      const created = await runCli(['app', 'new', 'whoami', '--image', 'traefik/whoami:v1.10', '--port', '80', '--storage', '0', '--env', 'WHOAMI_NAME=azalab', '--json', '--repo', copy])
      expect(created.exitCode).toBe(0)
      expect(JSON.parse(created.stdout)).toEqual({
        schemaVersion: 1,
        changed: [`${APPS}/kustomization.yaml`, `${APPS}/cloudflared/configmap.yaml`, `${APPS}/cloudflared/deployment.yaml`],
        created: [`${APPS}/whoami/kustomization.yaml`, `${APPS}/whoami/namespace.yaml`, `${APPS}/whoami/deployment.yaml`, `${APPS}/whoami/service.yaml`],
        dryRun: false,
        hostname: 'whoami.aza.network',
        backup: null,
        hostPath: null,
        image: 'traefik/whoami:v1.10',
        kind: 'deployment',
        name: 'whoami',
        namespace: 'whoami',
        next: 'homelab deploy',
        port: 80,
        secretKeys: [],
        storage: null,
        tunnel: '3f6c2a1e-9b4d-4e2a-8c7f-5d1b0e9a4c21',
      })

      const list = await runCli(['app', 'list', '--json', '--repo', copy])
      expect(list.exitCode).toBe(0)
      const apps = JSON.parse(list.stdout).apps as {name: string}[]
      expect(apps.map((a) => a.name)).toEqual(['cloudflared', 'libsql', 'immich', 'kopia', 'vaultwarden', 'tuwunel', 'zeroclaw', 'whoami'])
      expect(apps.at(-1)).toEqual({backedUp: false, hostnames: ['whoami.aza.network'], image: 'traefik/whoami:v1.10', kind: 'Deployment', name: 'whoami', namespace: 'whoami', port: 80, secret: false, volume: null})

      const table = await runCli(['app', 'list', '--repo', copy])
      expect(table.stdout.split('\n')[0]).toMatch(/^NAME +NAMESPACE +IMAGE +PORT +VOLUME +HOSTNAME +BACKED UP +SECRET$/)
      expect(table.stdout).toMatch(/\nwhoami +whoami +traefik\/whoami:v1\.10 +80 +- +whoami\.aza\.network +- +no/)

      const refused = await runCli(['app', 'remove', 'whoami', '--repo', copy])
      expect(refused.exitCode).toBe(3)
      expect(errorLine(refused.stderr)).toBe('removing whoami needs --yes when not running in a terminal')

      const removed = await runCli(['app', 'remove', 'whoami', '--yes', '--repo', copy])
      expect(removed.exitCode).toBe(0)
      expect(removed.stdout).toContain('Routes removed: whoami.aza.network')
      expect(await treeSnapshot(copy)).toEqual(before)

      const missing = await runCli(['app', 'remove', 'whoami', '--yes', '--repo', copy])
      expect(missing.exitCode).toBe(3)
      expect(errorLine(missing.stderr)).toBe(`no app whoami in ${APPS}`)
    } finally {
      rmSync(copy, {force: true, recursive: true})
    }
  })

  it('remove says the host data is kept and how to delete it', async () => {
    const copy = copyBundledHomelab('homelab-app-keep-')
    try {
      const before = await treeSnapshot(copy)
      expect((await runCli(['app', 'new', 'notes', '--image', 'ghcr.io/example/notes:1.0', '--port', '8080', '--no-hostname', '--repo', copy])).exitCode).toBe(0)
      const removed = await runCli(['app', 'remove', 'notes', '--yes', '--repo', copy])
      expect(removed.exitCode).toBe(0)
      expect(removed.stdout).toContain('Data kept: /srv/notes on the host is not deleted and is no longer backed up after the deploy.')
      expect(removed.stdout).toContain('To delete it for good (after homelab deploy): ssh aiden@azalab-0 sudo rm -rf /srv/notes')
      expect(await treeSnapshot(copy)).toEqual(before)
    } finally {
      rmSync(copy, {force: true, recursive: true})
    }
  })
})
