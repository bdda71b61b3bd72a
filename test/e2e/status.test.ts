import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {writeGoodBackups} from './host/backup-state.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab status` and `homelab reconcile` as the CLI against the e2e test host: real sshd and
 * sudo, real nix-built generations (nixos-rebuild stand-in), Flux state from the kubectl
 * stand-in replaying test/fixtures/flux/azalab-0/*.json.
 */
let host: TestHost
let repo: TestRepo
let first: string
const objectsFile = () => path.join(host.hostRoot, 'flux-objects.json')
const stateDir = () => path.join(host.hostRoot, 'kubectl-state')
const cliEnv = () => ({...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword})

/** Puts fixture `name` on the host, rendered with the commits, and sets the scenario. */
async function scenario(name: string, values: {commit: string; previous?: string}, env: Record<string, string> = {}) {
  await fs.rm(stateDir(), {force: true, recursive: true})
  await fs.writeFile(objectsFile(), azalabFixture(name, {commit: values.commit, previous: values.previous ?? values.commit}))
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: stateDir(), ...env})
}

async function calls(): Promise<string[][]> {
  const text = await fs.readFile(path.join(stateDir(), 'calls.log'), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {argv: string[]}).argv)
}


beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']})
  repo = await host.homelabRepo({nixos: true})
  first = await repo.git(['rev-parse', 'HEAD'])
  // The bundled storage.json stores every app on azalab-0; here the one host (the server) is testhost.
  const storageFile = path.join(repo.dir, 'nixos/storage.json')
  const storage = JSON.parse(await fs.readFile(storageFile, 'utf8')) as {apps: {node?: string}[]}
  for (const app of storage.apps) app.node = repo.hostName
  await fs.writeFile(storageFile, JSON.stringify(storage, null, 2))
  await writeGoodBackups(host, repo, {moveStorageRoot: true})
}, 180_000)

afterAll(async () => {
  await host?.stop()
})

describe('homelab status (e2e)', () => {
  it('healthy and in sync: exit 0, one SSH login, one kubectl call, drift all up to date', async () => {
    await scenario('healthy', {commit: first})
    const before = {connections: await host.connections(), logins: await host.logins()}
    const r = await runCli(['status'], {cwd: repo.dir, env: cliEnv()})
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    // Exactly one SSH handshake (sshd's "Connection from" lines) and one login for the whole run.
    expect(await host.connections()).toBe(before.connections + 1)
    expect(await host.logins()).toBe(before.logins + 1)
    const short = first.slice(0, 7)
    expect(r.stdout).toContain(`${repo.hostName} (${host.alias}): healthy`)
    expect(r.stdout).toContain(`Source  GitRepository flux-system/flux-system serves main@${short}: in sync with origin/main`)
    expect(r.stdout).toContain(`Drift   origin/main ${short}  ·  Flux applied ${short} (up to date)  ·  host built from ${short} (up to date)`)
    expect(r.stdout).toMatch(/✓ +Kustomization +flux-system\/apps +True +ReconciliationSucceeded +main@/)
    expect(r.stdout).toMatch(/generation +1, built \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/)
    expect(r.stdout).toContain(`flake.lock   homelab pinned ${short} (HEAD)`)
    expect(r.stdout).toContain('failed units none')
    expect(r.stdout).toContain('k3s node     azalab-0 Ready (v1.33.5+k3s1)')
    expect(r.stdout).toMatch(/storage +\/\S+\/srv \d+% used/)
    expect(r.stdout).toMatch(/✓ +\/srv\/libsql +ok +1h 0m ago/)
    expect(r.stdout).toMatch(/✓ +R2 sync +ok +1h 0m ago +azalab-kopia\/kopia\//)
    expect((await calls()).filter((a) => a[0] === 'get')).toHaveLength(1)
    // The fixture's node is azalab-0 and the host is testhost: both flagged, neither degrades.
    expect(r.stdout).toMatch(/✓ +azalab-0 +Ready +\d+d \d+h ago +control-plane +v1\.33\.5\+k3s1 +no host in homelab\.yaml/)
    expect(r.stdout).toMatch(new RegExp(`! +testhost +server +1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +homelab ${short} += main; no k3s node of this name`))
  })

  it('behind: names the commits Flux and the host have not got, exit 0', async () => {
    const b = await repo.commit('docs/one.md', 'one\n', 'Add vaultwarden')
    const c = await repo.commit('docs/two.md', 'two\n', 'Bump immich to 1.140')
    await repo.git(['push', '-q', 'origin', 'main'])
    await scenario('healthy', {commit: first})
    const r = await runCli(['status'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain(`serves main@${first.slice(0, 7)}: behind origin/main by 2 commits`)
    expect(r.stdout).toContain(`${c.slice(0, 7)} Bump immich to 1.140`)
    expect(r.stdout).toContain(`${b.slice(0, 7)} Add vaultwarden`)
    expect(r.stdout).toContain(`Drift   origin/main ${c.slice(0, 7)}  ·  Flux applied ${first.slice(0, 7)} (2 behind)  ·  host built from ${first.slice(0, 7)} (2 behind)`)
    expect(r.stdout).toContain(`flake.lock   homelab pinned ${first.slice(0, 7)} (2 behind HEAD)`)
  })

  it('degraded: stalled Kustomization first, failed units; --json keeps exit 1 and the documented shape', async () => {
    const head = await repo.git(['rev-parse', 'HEAD'])
    await scenario('stalled', {commit: head, previous: first}, {STANDIN_FAILED_UNITS: 'kopia-backup.service'})
    const text = await runCli(['status', '--no-fetch'], {cwd: repo.dir, env: cliEnv()})
    expect(text.exitCode).toBe(1)
    expect(text.stdout).toContain('degraded')
    expect(text.stdout).toContain('✗ Kustomization flux-system/infrastructure: stalled (BuildFailed)')
    expect(text.stdout).toContain('✗ failed units: kopia-backup.service')
    const rows = text.stdout.split('\n').filter((l) => /^\S +Kustomization +flux-system\//.test(l))
    expect(rows[0]).toMatch(/✗ +Kustomization +flux-system\/infrastructure +False +BuildFailed/)

    const r = await runCli(['status', '--json', '--no-fetch'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(1)
    const report = JSON.parse(r.stdout)
    expect(Object.keys(report).sort()).toEqual(['backups', 'checkedAt', 'drift', 'errors', 'host', 'hosts', 'nodes', 'objects', 'problems', 'schemaVersion', 'source', 'system', 'verdict'])
    expect(report).toMatchObject({schemaVersion: 1, verdict: 'degraded'})
    expect(report.objects[0]).toMatchObject({health: 'stalled', kind: 'Kustomization', name: 'infrastructure', ready: 'False', reason: 'BuildFailed', suspended: false})
    expect(report.system.failedUnits).toEqual(['kopia-backup.service'])
    expect(report.system.generation).toMatchObject({number: 1})
    expect(report.drift).toMatchObject({branchRef: 'origin/main', fluxApplied: {behind: 0, commit: head}, hostConfiguration: {behind: 2, commit: first}, remote: {behind: 0, commit: head}})
    expect(Object.keys(report.source).sort()).toEqual(['behind', 'branch', 'commit', 'localHead', 'message', 'name', 'namespace', 'ready', 'reason', 'remoteHead', 'revision', 'state', 'url'])
  })

  it('fetch failure and kubectl unreachable are shown with their messages', async () => {
    const head = await repo.git(['rev-parse', 'HEAD'])
    await scenario('fetch-failure', {commit: head})
    const r = await runCli(['status', '--no-fetch'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('fetch failing: failed to checkout and determine revision')

    await scenario('healthy', {commit: head}, {STANDIN_KUBECTL_UNREACHABLE: '1'})
    const down = await runCli(['status', '--no-fetch'], {cwd: repo.dir, env: cliEnv()})
    expect(down.exitCode).toBe(1)
    expect(down.stdout).toContain('flux: k3s kubectl get nodes,gitrepositories,kustomizations,helmreleases on the host failed: The connection to the server 127.0.0.1:6443 was refused')
    expect(down.stdout).toContain('The connection to the server 127.0.0.1:6443 was refused')
    expect(down.stdout).toMatch(/uptime +\d/)
  })

  it('--watch refreshes over the same connection until interrupted', async () => {
    const head = await repo.git(['rev-parse', 'HEAD'])
    await scenario('healthy', {commit: head})
    const before = await host.logins()
    // As runCli does, but keeping the subprocess to interrupt it.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const entry = process.env.HOMELAB_TEST_BUILT === '1' ? [path.join(REPO_ROOT, 'bin/run.js')] : ['--import', tsx, path.join(REPO_ROOT, 'bin/dev.js')]
    const run = execa(process.execPath, [...entry, 'status', '--watch', '--interval', '1', '--no-fetch'], {
      cwd: repo.dir, env: {NO_COLOR: '1', ...cliEnv()}, reject: false, timeout: 60_000,
    })
    let out = ''
    run.stdout!.on('data', (d: Buffer) => {
      out += String(d)
      if ((out.match(/refreshed /g) ?? []).length === 2) run.kill('SIGINT')
    })
    const r = await run
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect((String(r.stdout).match(/^testhost \(hl-[0-9a-f]+\): healthy$/gm) ?? []).length).toBeGreaterThanOrEqual(2)
    expect(String(r.stdout)).toContain('every 1s; Ctrl-C to stop')
    expect(await host.logins()).toBe(before + 1)
    expect((await calls()).filter((a) => a[0] === 'get').length).toBeGreaterThanOrEqual(2)
  })

  it('host unreachable: exit 2, also under --json', async () => {
    const config = path.join(host.home, '.ssh/config')
    const saved = await fs.readFile(config, 'utf8')
    await fs.writeFile(config, saved.replace(/Port \d+/, 'Port 1'))
    try {
      const r = await runCli(['status'], {cwd: repo.dir, env: cliEnv()})
      expect(r.exitCode).toBe(2)
      expect(r.stderr).toContain(host.alias)
      const j = await runCli(['status', '--json'], {cwd: repo.dir, env: cliEnv()})
      expect(j.exitCode).toBe(2)
    } finally {
      await fs.writeFile(config, saved)
    }
  })
})

describe('homelab reconcile (e2e)', () => {
  it('--with-source: patches the GitRepository then the Kustomization, waits for Ready, exit 0', async () => {
    const old = await repo.git(['rev-parse', 'HEAD'])
    const next = await repo.commit('docs/three.md', 'three\n', 'Add tuwunel')
    await repo.git(['push', '-q', 'origin', 'main'])
    await scenario('healthy', {commit: old}, {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_REMOTE: repo.remote})
    const before = await host.logins()
    const r = await runCli(['reconcile', 'apps', '--with-source'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(0)
    expect(await host.logins()).toBe(before + 1)
    expect(r.stdout).toMatch(/✓ GitRepository flux-system\/flux-system: Ready, stored artifact for revision 'main@sha1:[0-9a-f]{40}' \(\d+\.\ds\)/)
    expect(r.stdout).toContain(`✓ Kustomization flux-system/apps: Ready, Applied revision: main@sha1:${next}`)
    const patches = (await calls()).filter((a) => a[0] === 'patch')
    expect(patches.map((a) => `${a[1].split('.')[0]}/${a[2]}`)).toEqual(['gitrepositories/flux-system', 'kustomizations/apps'])
    const patch = JSON.parse(patches[0][patches[0].indexOf('-p') + 1])
    expect(patch.metadata.annotations['reconcile.fluxcd.io/requestedAt']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    expect(patches[0]).toContain('merge')
  })

  it('a failing Kustomization exits 1 with its message; --json keeps the exit code', async () => {
    const head = await repo.git(['rev-parse', 'HEAD'])
    await scenario('healthy', {commit: first}, {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_FAIL: 'apps', STANDIN_FLUX_REMOTE: repo.remote})
    const r = await runCli(['reconcile', 'apps', 'infrastructure', '--with-source', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(1)
    const result = JSON.parse(r.stdout)
    expect(result.ok).toBe(false)
    expect(result.results.map((o: {name: string; outcome: string}) => `${o.name}:${o.outcome}`)).toEqual(['flux-system:ready', 'apps:failed', 'infrastructure:ready'])
    expect(result.results[1].message).toContain('BuildFailed: kustomize build failed')
    expect(result.results[2].revision).toBe(`main@sha1:${head}`)
  })

  it('--timeout: an object that never handles the request times out; no progress lines on a pipe', async () => {
    await scenario('healthy', {commit: first}, {STANDIN_FLUX_CONTROLLERS: '1', STANDIN_FLUX_IGNORE: 'apps'})
    const r = await runCli(['reconcile', '--all', '--timeout', '3s'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(1)
    // Progress is for a terminal (issue 17): on this pipe, none; the outcome lines say it all.
    expect(r.stderr).not.toContain('request not handled yet')
    expect(r.stdout).toContain('✗ Kustomization flux-system/apps: timed out: request not handled yet')
    expect(r.stdout).toContain('✓ Kustomization flux-system/infrastructure: Ready')
  })

  it('refuses unknown and suspended names (exit 3) and no names without --all', async () => {
    await scenario('suspended', {commit: first})
    const unknown = await runCli(['reconcile', 'nope'], {cwd: repo.dir, env: cliEnv()})
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('nope: no such Kustomization or HelmRelease in the cluster')
    const suspended = await runCli(['reconcile', 'apps'], {cwd: repo.dir, env: cliEnv()})
    expect(suspended.exitCode).toBe(3)
    expect(suspended.stderr).toContain('Kustomization flux-system/apps is suspended')
    const none = await runCli(['reconcile'], {cwd: repo.dir, env: cliEnv()})
    expect(none.exitCode).toBe(3)
    expect(none.stderr).toContain('--all')
  })
})
