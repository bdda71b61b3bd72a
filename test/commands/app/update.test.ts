import {execa} from 'execa'
import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {expectMatchesSchema} from '../../helpers/json-schema.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'

const APPS = 'flux/clusters/azalab-0/manifests/apps'
const PVS = 'flux/clusters/azalab-0/manifests/cluster/persistent-volumes.yaml'
let root: string

const git = (...args: string[]) => execa('git', ['-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args], {cwd: root})
const read = (rel: string) => fs.readFile(path.join(root, rel), 'utf8')
/** The error line oclif prints. */
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.includes('Error:'))?.replace(/^.*Error:\s*/, '') ?? stderr

beforeAll(async () => {
  // A git repository: homelab diff compares HEAD with the working tree.
  root = copyBundledHomelab('homelab-app-update-')
  await git('init', '-q')
  await git('add', '-A')
  await git('commit', '-qm', 'bundled homelab')
}, 60_000)

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
})

describe('homelab app update', () => {
  it('edits image, env, port, storage and hostname in place, validates, shows homelab diff; --json matches its schema', {timeout: 180_000}, async () => {
    const deploymentBefore = await read(`${APPS}/vaultwarden/deployment.yaml`)
    const result = await runCli(
      ['app', 'update', 'vaultwarden', '--repo', root, '--json', '--image', 'docker.io/vaultwarden/server:1.35.0', '--env', 'SIGNUPS_ALLOWED=true', '--env', 'LOG_LEVEL=warn', '--port', '8081', '--storage', '8Gi', '--hostname', 'vw.aza.network'],
      {env: {CI: 'true'}},
    )
    expect(result.exitCode, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    await expectMatchesSchema('app update', out)
    expect(out.changes.map((c: {what: string; from: string | null; to: string}) => `${c.what} ${c.from} ${c.to}`)).toEqual([
      'image docker.io/vaultwarden/server:1.34.3 docker.io/vaultwarden/server:1.35.0',
      'env false true',
      'env null warn',
      'port 8080 8081',
      'storage 5Gi 8Gi',
      'hostname vault.aza.network vw.aza.network',
    ])
    expect(out.validation).toEqual({errors: 0, warnings: 0})
    expect(out.clusterDiff.objects).toEqual(
      expect.arrayContaining([
        {action: 'changed', kustomization: 'flux-system/apps', object: 'Deployment/vaultwarden/vaultwarden'},
        {action: 'changed', kustomization: 'flux-system/apps', object: 'ConfigMap/cloudflared/cloudflared'},
        {action: 'changed', kustomization: 'flux-system/apps', object: 'Deployment/cloudflared/cloudflared'},
        {action: 'changed', kustomization: 'flux-system/infrastructure', object: 'PersistentVolume/vaultwarden-data'},
      ]),
    )
    expect(out.notes.join('\n')).toMatch(/claim vaultwarden\/vaultwarden-data keeps its request 5Gi: Kubernetes resizes only dynamically provisioned claims/)

    // Only the values changed: git diff --numstat counts the lines.
    const numstat = (await git('diff', '--numstat')).stdout
    expect(numstat.split('\n').sort()).toEqual(
      [
        `2\t2\t${APPS}/cloudflared/configmap.yaml`,
        `1\t1\t${APPS}/cloudflared/deployment.yaml`,
        `5\t3\t${APPS}/vaultwarden/deployment.yaml`,
        `1\t1\t${PVS}`,
      ].sort(),
    )
    const after = await read(`${APPS}/vaultwarden/deployment.yaml`)
    // Comments, quoting and order kept; the new variable after the last one, same indentation.
    expect(after).toContain('            # secret.sops.yaml) and `kubectl -n vaultwarden port-forward deploy/vaultwarden 8080`.\n            - name: SIGNUPS_ALLOWED\n              value: "true"\n            - name: LOG_LEVEL\n              value: warn\n          ports:\n')
    expect(after.replace('1.35.0', '1.34.3').replace('"true"', '"false"').replace('containerPort: 8081', 'containerPort: 8080').replace('            - name: LOG_LEVEL\n              value: warn\n', '')).toBe(deploymentBefore)
    expect(await read(`${APPS}/vaultwarden/pvc.yaml`)).toMatch(/storage: 5Gi/)
    await git('checkout', '--', '.')
  })

  it('text output: the changes, the validation and homelab diff', {timeout: 180_000}, async () => {
    const result = await runCli(['app', 'update', 'libsql', '--repo', root, '--image', 'ghcr.io/tursodatabase/libsql-server:v0.24.33'], {env: {CI: 'true'}})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^✓ updated app libsql$/m)
    expect(result.stdout).toMatch(/^ {2}image {4}Deployment\/libsql container libsql: ghcr\.io\/tursodatabase\/libsql-server:v0\.24\.32 → ghcr\.io\/tursodatabase\/libsql-server:v0\.24\.33/m)
    expect(result.stdout).toMatch(/^homelab validate: 0 errors, 0 warnings$/m)
    expect(result.stdout).toMatch(/^ {2}~ Deployment\/libsql\/libsql {2}changed$/m)
    expect(result.stdout).toMatch(/^ok: 0 added, 1 changed, 0 pruned; 0 errors$/m)
    expect(result.stderr).toBe('')
    await git('checkout', '--', '.')
  })

  const refused: [string, string[], RegExp, number][] = [
    ['a shrink below the PersistentVolume', ['vaultwarden', '--storage', '4Gi'], /^--storage 4Gi is smaller than PersistentVolume vaultwarden-data's capacity 5Gi \(flux\/clusters\/azalab-0\/manifests\/cluster\/persistent-volumes\.yaml\): Kubernetes cannot shrink a volume; give 5Gi or more$/, 3],
    ['a shrink in other units', ['libsql', '--storage', '9000Mi'], /^--storage 9000Mi is smaller than PersistentVolume libsql-data's capacity 10Gi/, 3],
    ['--storage 0', ['libsql', '--storage', '0'], /^--storage 0: a volume cannot be taken away with app update/, 3],
    ['an env var from a Secret', ['libsql', '--env', 'SQLD_AUTH_JWT_KEY=x'], /^--env SQLD_AUTH_JWT_KEY: flux\/clusters\/azalab-0\/manifests\/apps\/libsql\/deployment\.yaml sets it from valueFrom/, 3],
    ['a hostname routed to another app', ['libsql', '--hostname', 'vault.aza.network'], /^hostname vault\.aza\.network is already routed to http_status:404 in /, 3],
    ['an unknown app', ['wiki', '--image', 'x:1'], /^app wiki not found: flux\/clusters\/azalab-0\/manifests\/apps\/kustomization\.yaml does not list it$/, 3],
    ['nothing to change', ['libsql'], /^nothing to update for libsql: give --image, --env, --port, --storage or --hostname$/, 3],
    ['a bad image', ['libsql', '--image', 'Not An Image'], /^--image "Not An Image" is not an image reference/, 3],
  ]
  it.each(refused)('refuses %s in one line and changes nothing', {timeout: 120_000}, async (_label, args, message, code) => {
    const before = await treeSnapshot(root)
    const result = await runCli(['app', 'update', '--repo', root, ...args], {env: {CI: 'true'}})
    expect(result.exitCode).toBe(code)
    expect(errorLine(result.stderr)).toMatch(message)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('refuses a shrink below the claim\'s request, naming the claim', {timeout: 120_000}, async () => {
    // The claim asks more than its 5Gi volume holds: 6Gi is above the volume but below the claim.
    const pvc = `${APPS}/vaultwarden/pvc.yaml`
    const text = await read(pvc)
    await fs.writeFile(path.join(root, pvc), text.replace('storage: 5Gi', 'storage: 7Gi'))
    try {
      const result = await runCli(['app', 'update', 'vaultwarden', '--repo', root, '--storage', '6Gi'], {env: {CI: 'true'}})
      expect(result.exitCode).toBe(3)
      expect(errorLine(result.stderr)).toBe(`--storage 6Gi is smaller than claim vaultwarden/vaultwarden-data's request 7Gi (${pvc}): Kubernetes cannot shrink a claim; give 7Gi or more`)
    } finally {
      await fs.writeFile(path.join(root, pvc), text)
    }
  })

  it('undoes the write when homelab validate finds an error in a changed file', {timeout: 180_000}, async () => {
    const file = `${APPS}/tuwunel/deployment.yaml`
    const broken = (await read(file)).replace('replicas: 1', 'replicas: one')
    await fs.writeFile(path.join(root, file), broken)
    try {
      const before = await treeSnapshot(root)
      const result = await runCli(['app', 'update', 'tuwunel', '--repo', root, '--image', 'ghcr.io/matrix-construct/tuwunel:v1.6.0', '--no-diff'], {env: {CI: 'true'}})
      expect(result.exitCode).toBe(1)
      expect(errorLine(result.stderr)).toMatch(new RegExp(`^homelab validate refuses the change: ${file.replaceAll('.', '\\.')}:\\d+: .*replicas.*; nothing was changed$`))
      expect(await treeSnapshot(root)).toEqual(before)
      expect(await fs.readdir(path.join(root, '.homelab-state')).catch(() => [])).not.toContain('journal.json')
    } finally {
      await git('checkout', '--', '.')
    }
  })

  it('on an app written by app new: env: [] becomes a list, a route is renamed, --no-diff', {timeout: 180_000}, async () => {
    const made = await runCli(['app', 'new', 'whoami', '--repo', root, '--image', 'traefik/whoami:v1.10', '--port', '80', '--storage', '1Gi', '--yes'], {env: {CI: 'true'}})
    expect(made.exitCode, made.stderr).toBe(0)
    try {
      const result = await runCli(['app', 'update', 'whoami', '--repo', root, '--env', 'WHOAMI_NAME=lab', '--env', 'PORT=80', '--hostname', 'who.aza.network', '--storage', '2Gi', '--no-diff', '--json'], {env: {CI: 'true'}})
      expect(result.exitCode, result.stderr).toBe(0)
      const out = JSON.parse(result.stdout)
      await expectMatchesSchema('app update', out)
      expect(out).toMatchObject({clusterDiff: null, diffSkipped: '--no-diff'})
      const deployment = await read(`${APPS}/whoami/deployment.yaml`)
      expect(deployment).toMatch(/^ {10}env:\n {12}- name: WHOAMI_NAME\n {14}value: lab\n {12}- name: PORT\n {14}value: "80"\n/m)
      const config = await read(`${APPS}/cloudflared/configmap.yaml`)
      expect(config).toContain('- hostname: who.aza.network\n        service: http://whoami.whoami.svc.cluster.local:80')
      expect(config).not.toContain('whoami.aza.network')
      const validate = await runCli(['validate', '--repo', root], {env: {CI: 'true'}})
      expect(validate.exitCode, validate.stdout).toBe(0)
    } finally {
      await git('checkout', '--', '.')
      await git('clean', '-fdq')
    }
  })
})
