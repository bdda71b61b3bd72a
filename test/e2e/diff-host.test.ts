// `homelab diff` (cluster and host) and `homelab deploy --diff-only` end to end on the e2e test
// host: real sshd, real sudo with a password, real git (the host's root fetches the homelab input
// over SSH from the forge), real nix 2.8 (`nix store diff-closures`, `nix path-info -S` on real
// store paths), real kubectl kustomize for the cluster side. Stand-ins: nixos-rebuild (builds a
// tiny system with unit files; with --override-input it builds the given rev and, like nix,
// WRITES flake.lock unless --no-write-lock-file), nixos-version, k3s/kubectl (the Flux objects:
// the root Kustomization's lastAppliedRevision).
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../src/lib/age/identities.js'
import {decryptSopsFile, setSopsValues} from '../../src/lib/sops/index.js'
import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const APPS = 'flux/clusters/azalab-0/manifests/apps'
let host: TestHost
let repo: TestRepo
let applied: string

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
  // Flux last applied the first commit (the root Kustomization's status.lastAppliedRevision).
  applied = await repo.git(['rev-parse', 'HEAD'])
  const objects = path.join(host.hostRoot, 'flux-objects.json')
  await fs.writeFile(objects, azalabFixture('healthy', {commit: applied}))
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
}, 240_000)
afterAll(async () => host?.stop())

const env = () => ({...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword, SOPS_AGE_KEY_FILE: KEY_FILE, XDG_CONFIG_HOME: '/nonexistent'})
const diff = (args: string[], options: {input?: string; env?: Record<string, string | undefined>} = {}) => runCli(['diff', '--repo', repo.dir, ...args], {env: options.env ?? env(), input: options.input, timeout: 240_000})

/** What must not change on the host: flake.lock bytes, the system profile and its generations, the running system, the flake dir's entries. */
async function hostState() {
  const lock = createHash('sha256').update(await fs.readFile(path.join(repo.flakeDir, 'flake.lock'))).digest('hex')
  return {
    flakeDir: (await fs.readdir(repo.flakeDir)).sort(),
    lock,
    profile: await host.runOnHost('readlink /nix/var/nix/profiles/system; ls /nix/var/nix/profiles'),
    running: await host.runOnHost('readlink -f /run/current-system'),
  }
}

type HostJson = {host: string; status: string; commit: string; overrideUrl: string; packages: Array<{name: string; from: string[]; to: string[]}>; sizeDeltaBytes: number; units: {added: string[]; removed: string[]; changed: string[]}; message?: string}
type ReportJson = {schemaVersion: number; ok: boolean; changed: boolean; fromSource: string; from: {commit?: string; label: string}; objects: Array<{object: string; action: string}>; hosts: HostJson[]}

describe('homelab diff with the host side', {timeout: 300_000}, () => {
  let pushed: string
  let plaintext: string

  it('shows the cluster against what Flux last applied, then the host built from HEAD; flake.lock and profile unchanged byte for byte', async () => {
    // The new commit: an app's Secret value and a ConfigMap change (cluster), a newer hello, a
    // unit added, one removed, one with a new drop-in (host, through the stand-in's scenario).
    const identities = await parseIdentities(await fs.readFile(KEY_FILE, 'utf8'), KEY_FILE)
    const file = path.join(repo.dir, APPS, 'immich/secret.sops.yaml')
    const old = String((await decryptSopsFile({file, identities})).documents[0].toJS().stringData.DB_PASSWORD)
    plaintext = 'HostDiffPlaintextPassw0rd'
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': plaintext}})
    await repo.git(['add', '-A'])
    await repo.git(['commit', '-q', '-m', 'rotate the immich database password'])
    pushed = await repo.git(['rev-parse', 'HEAD'])
    await repo.git(['push', '-q', 'origin', 'main'])
    await host.setScenario({
      STANDIN_HELLO_SIZE: '300000',
      STANDIN_HELLO_VERSION: '2.12.2',
      STANDIN_KUBECTL_OBJECTS: path.join(host.hostRoot, 'flux-objects.json'),
      STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state'),
      STANDIN_UNITS: 'k3s.service:1 k3s.service.d/overrides.conf:2 kopia-snapshot.timer:1',
    })
    const before = await hostState()

    const text = await diff([])
    expect(text.exitCode, `${text.stdout}\n${text.stderr}`).toBe(0)
    const out = text.stdout
    expect(out).toContain(`cluster flux/clusters/azalab-0: Flux last applied (${applied.slice(0, 7)}) → working tree`)
    expect(out).toContain('  ~ Secret/immich/immich-secret  changed\n      stringData.DB_PASSWORD: value changed\n')
    expect(out).toContain(`host azalab-0: running system → ${pushed.slice(0, 7)}\n`)
    expect(out).toMatch(/ {2}hello: 2\.12\.1 → 2\.12\.2, \+195\.3 KiB\n/) // real nix store diff-closures
    expect(out).toMatch(/ {2}closure size \+19[0-9]\.\d KiB\n/) // real nix path-info -S: 200000 bytes more hello, plus the other changes
    expect(out).toContain('  - sshd.service  removed (stopped)\n  + kopia-snapshot.timer  added (started)\n  ~ k3s.service  changed (restarted or reloaded)')
    expect(out.indexOf('cluster flux/')).toBeLessThan(out.indexOf('host azalab-0'))
    expect(await hostState()).toEqual(before)

    const json = await diff(['--json'])
    expect(json.exitCode, json.stderr).toBe(0)
    const report = JSON.parse(json.stdout) as ReportJson
    await expectMatchesSchema('diff', report)
    expect(report).toMatchObject({changed: true, from: {commit: applied}, fromSource: 'flux', ok: true, schemaVersion: 1})
    expect(report.hosts).toEqual([
      expect.objectContaining({
        commit: pushed,
        host: 'azalab-0',
        overrideUrl: `${repo.inputUrl}&rev=${pushed}`,
        packages: expect.arrayContaining([{from: ['2.12.1'], name: 'hello', sizeKiB: 195.3, to: ['2.12.2']}]),
        status: 'changed',
        units: {added: ['kopia-snapshot.timer'], changed: ['k3s.service'], removed: ['sshd.service']},
      }),
    ])
    expect(report.hosts[0].sizeDeltaBytes).toBeGreaterThan(200_000 - 10_000)
    for (const o of [text.stdout, text.stderr, json.stdout, json.stderr]) {
      expect(o).not.toContain(plaintext)
      expect(o).not.toContain(old)
    }

    // --exit-code counts the host's changes too: the cluster side alone (--to HEAD~0 against itself) has none.
    const hostOnly = await diff(['--from', 'HEAD', '--to', 'HEAD', '--exit-code'])
    expect(hostOnly.stdout).toContain('ok: no changes; 0 errors')
    expect(hostOnly.stdout).toContain('+ kopia-snapshot.timer  added')
    expect(hostOnly.exitCode).toBe(1)
    expect(await hostState()).toEqual(before)
  })

  it('a commit not on the remote yet: the host part is skipped in one line, nothing built', async () => {
    const local = await repo.commit('docs/diff-host.md', 'not pushed\n', 'a commit not pushed yet')
    const before = await hostState()
    const r = await diff(['--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout) as ReportJson
    await expectMatchesSchema('diff', report)
    expect(report.hosts[0]).toMatchObject({commit: local, status: 'skipped'})
    expect(report.hosts[0].message).toBe(`commit ${local.slice(0, 7)} is not on origin/main yet (its head is ${pushed.slice(0, 7)}): git push first, or give --to a pushed commit; host part skipped`)
    const text = await diff([])
    expect(text.stdout).toContain(`host azalab-0: running system → ${local.slice(0, 7)}\n  skipped: commit ${local.slice(0, 7)} is not on origin/main yet`)
    // --to a pushed commit builds that one (sudo password from stdin this time).
    const to = JSON.parse((await diff(['--to', pushed, '--json', '--sudo-password-stdin'], {env: {...env(), HOMELAB_SUDO_PASSWORD: undefined}, input: `${host.sudoPassword}\n`})).stdout) as ReportJson
    expect(to.hosts[0]).toMatchObject({commit: pushed, status: 'changed'})
    expect(await hostState()).toEqual(before)
  })

  it('--offline never connects: cluster side against origin/main, host part skipped', async () => {
    const connections = await host.connections()
    const r = await diff(['--offline', '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout) as ReportJson
    await expectMatchesSchema('diff', report)
    expect(report).toMatchObject({from: {label: expect.stringMatching(/^origin\/main/)}, fromSource: 'remote'})
    expect(report.hosts).toEqual([expect.objectContaining({host: 'azalab-0', message: '--offline: not connected', status: 'skipped'})])
    expect(await host.connections()).toBe(connections)
  })

  it('homelab deploy --diff-only shows the same report and stops: nothing pushed, flake.lock and profile unchanged', async () => {
    await repo.git(['push', '-q', 'origin', 'main']) // HEAD is on the remote: the host part is built
    const head = await repo.git(['rev-parse', 'HEAD'])
    const before = await hostState()
    const r = await runCli(['deploy', '--repo', repo.dir, '--diff-only', '--no-validate', '--sudo-password-stdin'], {env: env(), input: `${host.sudoPassword}\n`, timeout: 240_000})
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain(`host azalab-0: running system → ${head.slice(0, 7)}\n`)
    expect(r.stdout).toContain('  + kopia-snapshot.timer  added (started)')
    expect(r.stdout).toContain(`diff only: nothing was pushed, no host was changed`)
    expect(r.stdout).not.toContain('▸ flake-update')
    expect(await hostState()).toEqual(before)
    // The same report again: its kustomize builds come from the build cache the first run filled (runCli's temp XDG_CACHE_HOME).
    const again = await runCli(['deploy', '--repo', repo.dir, '--diff-only', '--no-validate', '--sudo-password-stdin', '--json'], {env: env(), input: `${host.sudoPassword}\n`, timeout: 240_000})
    expect(again.exitCode, again.stderr).toBe(0)
    const builds = (JSON.parse(again.stdout) as {diff: {builds: {cached: number; run: number}}}).diff.builds
    expect(builds.run).toBe(0)
    expect(builds.cached).toBeGreaterThan(0)

    // And without it, deploy shows the host section before it activates (the cluster half only when it asks: not with --yes).
    const commit = await repo.commit('docs/diff-host-2.md', 'deploy\n', 'deploy it')
    const d = await runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--sudo-password-stdin', '--confirm-timeout', '30'], {env: env(), input: `${host.sudoPassword}\n`, timeout: 240_000})
    expect(d.exitCode, `${d.stdout}\n${d.stderr}`).toBe(0)
    expect(d.stdout).toMatch(new RegExp(`host azalab-0: running system → ${commit.slice(0, 7)}\\n(.*\\n)*  \\+ kopia-snapshot\\.timer  added \\(started\\)\\n(.*\\n)*▸ arm-rollback`))
  })
})
