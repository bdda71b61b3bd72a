// `homelab host add` / `host remove` as a person runs them, on committed copies of the bundled
// homelab with the demo identity and an empty HOME (no ~/.ssh/config): the files, --json (runCli
// checks it against schemas/host-add.schema.json / host-remove.schema.json), validate on the
// result, the no-TTY refusals, an unreachable server (exit 2, nothing written), and the node
// affinity `app new --node` gives a PersistentVolume on the new host (real `kubectl kustomize`).
import {execa} from 'execa'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {haveTool} from '../../helpers/have-tool.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const CI = process.env.CI === 'true'
const temps: string[] = []
let home = ''
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'homelab-host-add-home-'))
  temps.push(home)
})

const env = () => ({CI: 'true', GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', HOME: home, SOPS_AGE_KEY_FILE: DEMO_KEY, SSH_AUTH_SOCK: undefined})

async function repo(): Promise<string> {
  const dir = copyBundledHomelab('homelab-host-add-cmd-')
  temps.push(dir)
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'bundled homelab']]) await execa('git', args, {cwd: dir, env: env()})
  return dir
}

const status = async (dir: string) => (await execa('git', ['status', '--porcelain'], {cwd: dir})).stdout
const ADD = ['host', 'add', 'azalab-1', '--ssh', 'aiden@10.0.0.21', '--node-interface', 'enp2s0', '--server-node-interface', 'enp1s0', '--labels', 'homelab.dev/gpu=true', '--tags', 'ml']

describe('homelab host add / remove (command)', () => {
  it('--no-pin --new-token: writes the host and its files, says the next step; validate passes; app new --node pins a PV there', {timeout: 300_000}, async () => {
    const dir = await repo()
    const r = await runCli([...ADD, '--no-pin', '--new-token', '--json', '--repo', dir], {env: env()})
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json).toMatchObject({
      ageRecipient: null,
      changed: ['homelab.yaml', 'nixos/hosts.json', 'nixos/secrets/host-secrets.sops.yaml'],
      created: ['nixos/hosts/azalab-1/configuration.nix', 'nixos/hosts/azalab-1/flake.nix'],
      host: 'azalab-1',
      hostKey: {fingerprint: null, pinned: false},
      next: 'homelab host install azalab-1, then homelab deploy',
      nixos: null,
      role: 'agent',
      schemaVersion: 1,
      token: {file: 'nixos/secrets/host-secrets.sops.yaml', secret: 'k3s/token', server: 'azalab-0', source: 'generated'},
    })
    expect(r.stderr).toBe('')
    const got = await runCli(['secrets', 'get', 'nixos/secrets/host-secrets.sops.yaml', 'k3s.token'], {cwd: dir, env: env()})
    expect(got.stdout.trim()).toMatch(/^[0-9a-f]{64}$/)
    expect(r.stdout).not.toContain(got.stdout.trim())

    const valid = await runCli(['validate', '--repo', dir], {env: env()})
    expect(valid.exitCode, valid.stdout).toBe(0)

    // The node affinity of an app whose storage is on the new host, as kubectl builds the tree.
    if (!haveTool('kubectl') && !CI) return
    const app = await runCli(['app', 'new', 'wiki', '--image', 'ghcr.io/requarks/wiki:2.5', '--port', '3000', '--storage', '1Gi', '--node', 'azalab-1', '--yes', '--repo', dir], {env: env()})
    expect(app.exitCode, app.stderr).toBe(0)
    const built = parseAllDocuments(execFileSync('kubectl', ['kustomize', path.join(dir, 'flux/clusters/azalab-0/manifests/cluster')], {encoding: 'utf8', maxBuffer: 64 << 20})).map((d) => d.toJS())
    const pv = built.find((o) => o.kind === 'PersistentVolume' && o.spec?.hostPath?.path === '/srv/wiki')
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms).toEqual([{matchExpressions: [{key: 'kubernetes.io/hostname', operator: 'In', values: ['azalab-1']}]}])
    const immich = built.find((o) => o.kind === 'PersistentVolume' && o.spec?.hostPath?.path === '/srv/immich')
    expect(immich.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['azalab-0'])
    expect(JSON.parse(readFileSync(path.join(dir, 'nixos/storage.json'), 'utf8')).apps.find((a: {name: string}) => a.name === 'wiki').node).toBe('azalab-1')

    // Now the host holds wiki's storage: remove refuses, naming the app.
    const refused = await runCli(['host', 'remove', 'azalab-1', '--no-drain', '--yes', '--repo', dir], {env: env()})
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(/^Error: azalab-1 holds the storage of wiki/)
    expect(refused.stderr).toContain('homelab app remove wiki')
  })

  it('the next step, homelab host install NAME, installs the new host\'s own bootstrap flake and disk', {timeout: 180_000}, async () => {
    const dir = await repo()
    expect((await runCli([...ADD, '--disk', '/dev/sdb', '--no-pin', '--new-token', '--repo', dir], {env: env()})).exitCode).toBe(0)
    const r = await runCli(['host', 'install', 'azalab-1', '--target', 'root@10.0.0.99', '--dry-run', '--json', '--repo', dir], {env: env()})
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json.disk).toBe('/dev/sdb')
    expect(json.extraFiles.find((f: {path: string}) => f.path === '/etc/nixos/flake.nix').source).toBe('nixos/hosts/azalab-1/flake.nix')
    expect(json.argv.join(' ')).toContain('#azalab-1 ')
    // The first host still installs from nixos/flake.nix and nixos/configuration.nix.
    const first = JSON.parse((await runCli(['host', 'install', 'azalab-0', '--target', 'root@10.0.0.98', '--dry-run', '--json', '--repo', dir], {env: env()})).stdout)
    expect(first.disk).toBe('/dev/nvme0n1')
    expect(first.extraFiles.find((f: {path: string}) => f.path === '/etc/nixos/flake.nix').source).toBe('nixos/flake.nix')
  })

  it('host remove --no-drain --yes takes out everything add wrote; without --yes and a terminal it asks for --yes', {timeout: 180_000}, async () => {
    const dir = await repo()
    const before = {hostsJson: readFileSync(path.join(dir, 'nixos/hosts.json'), 'utf8')}
    expect((await runCli([...ADD, '--no-pin', '--new-token', '--repo', dir], {env: env()})).exitCode).toBe(0)
    await execa('git', ['add', '-A'], {cwd: dir})
    await execa('git', ['commit', '-qm', 'add azalab-1'], {cwd: dir, env: env()})
    const noYes = await runCli(['host', 'remove', 'azalab-1', '--repo', dir], {env: env()})
    expect(noYes.exitCode).toBe(3)
    expect(noYes.stderr).toMatch(/^Error: host remove needs --yes when not running in a terminal: it drains azalab-1 on azalab-0/)
    expect(await status(dir)).toBe('')
    const server = await runCli(['host', 'remove', 'azalab-0', '--yes', '--repo', dir], {env: env()})
    expect(server.exitCode).toBe(3)
    expect(server.stderr).toMatch(/azalab-0 is the k3s server/)

    const r = await runCli(['host', 'remove', 'azalab-1', '--no-drain', '--yes', '--json', '--repo', dir], {env: env()})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ageRecipient: null, deleted: ['nixos/hosts/azalab-1/configuration.nix', 'nixos/hosts/azalab-1/flake.nix'], drained: false, host: 'azalab-1', offsiteCopy: 's3://azalab-kopia/kopia-azalab-1/', tokenRemoved: true})
    const yaml = readFileSync(path.join(dir, 'homelab.yaml'), 'utf8')
    expect(yaml).not.toContain('azalab-1')
    // The server keeps the interface it was given; hosts.json lists it alone again.
    expect(JSON.parse(readFileSync(path.join(dir, 'nixos/hosts.json'), 'utf8')).hosts.map((h: {name: string}) => h.name)).toEqual(JSON.parse(before.hostsJson).hosts.map((h: {name: string}) => h.name))
    const got = await runCli(['secrets', 'get', 'nixos/secrets/host-secrets.sops.yaml', 'k3s.token'], {cwd: dir, env: env()})
    expect(got.exitCode).not.toBe(0)
    expect((await runCli(['validate', '--repo', dir], {env: env()})).exitCode).toBe(0)
  })

  it('refusals before anything is written: no terminal without --accept-new-host-key (exit 3), an unreachable server (exit 2), a bad recipient (exit 3)', {timeout: 180_000}, async () => {
    const dir = await repo()
    const noTty = await runCli([...ADD, '--repo', dir], {env: env()})
    expect(noTty.exitCode).toBe(3)
    expect(noTty.stderr.trimEnd()).toBe('Error: --accept-new-host-key is required when not running in a terminal: host add pins azalab-1\'s SSH host key (or pass --no-pin for a machine not running yet); nothing was changed')
    // The server azalab-0 is not reachable from here: without --new-token its token cannot be read.
    const unreachable = await runCli([...ADD, '--accept-new-host-key', '--connect-timeout', '5', '--repo', dir], {env: env()})
    expect(unreachable.exitCode, unreachable.stderr).toBe(2)
    expect(unreachable.stderr.split('\n')[0]).toMatch(/^Error: azalab-0: /)
    expect(unreachable.stderr).not.toMatch(/^\s+at /m)
    const badRecipient = await runCli([...ADD, '--no-pin', '--new-token', '--age-recipient', 'age1nope', '--repo', dir], {env: env()})
    expect(badRecipient.exitCode).toBe(3)
    expect(badRecipient.stderr).toMatch(/--age-recipient age1nope: not an age recipient/)
    expect(await status(dir)).toBe('')
  })
})
