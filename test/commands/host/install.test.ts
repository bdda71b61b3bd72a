import {execa} from 'execa'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../../src/lib/age/identities.js'
import {encryptDecrypted} from '../../../src/lib/sops/engine.js'
import {decryptSopsFile} from '../../../src/lib/sops/files.js'
import {verifyPassword} from '../../../src/lib/host/install/password-hash.js'
import {runCli, REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const STAND_IN = path.join(REPO_ROOT, 'test/e2e/stand-ins/nixos-anywhere')
const SECRETS = 'nixos/secrets/host-secrets.sops.yaml'
const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

const GIT_ENV = {GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't'}

/**
 * A committed copy of the bundled homelab, an empty HOME (no sops key file, no ~/.ssh/config),
 * and a bin folder holding only the nixos-anywhere stand-in, first on PATH.
 */
async function sandbox(): Promise<{repo: string; env: Record<string, string | undefined>; standinRoot: string}> {
  const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'homelab-host-install-')))
  temps.push(base)
  const repo = copyBundledHomelab('homelab-host-install-repo-')
  temps.push(repo)
  // The bundled host secrets may already hold these (a demo hash and deploy key): start without them,
  // so the test sees install create them. A reference flake.lock would be one more extra file.
  const [demo] = await parseIdentities(readFileSync(DEMO_KEY, 'utf8'), DEMO_KEY)
  const secrets = await decryptSopsFile({file: path.join(repo, SECRETS), identities: [demo]})
  secrets.documents[0].delete('admin')
  secrets.documents[0].delete('git')
  writeFileSync(path.join(repo, SECRETS), encryptDecrypted(secrets, {inPlace: true}))
  rmSync(path.join(repo, 'nixos/flake.lock'), {force: true})
  await execa('git', ['init', '-q', '-b', 'main'], {cwd: repo})
  await execa('git', ['add', '-A'], {cwd: repo})
  await execa('git', ['commit', '-qm', 'homelab'], {cwd: repo, env: GIT_ENV})
  const bin = path.join(base, 'bin')
  mkdirSync(bin)
  copyFileSync(STAND_IN, path.join(bin, 'nixos-anywhere'))
  mkdirSync(path.join(base, 'home'))
  const standinRoot = path.join(base, 'installed')
  return {
    env: {...GIT_ENV, HOME: path.join(base, 'home'), PATH: `${bin}:${process.env.PATH}`, SOPS_AGE_KEY: undefined, SOPS_AGE_KEY_FILE: undefined, STANDIN_ROOT: standinRoot, XDG_CONFIG_HOME: undefined},
    repo,
    standinRoot,
  }
}

function snapshot(repo: string): Record<string, string> {
  return Object.fromEntries(['known_hosts', SECRETS].map((f) => [f, readFileSync(path.join(repo, f), 'utf8')]))
}

describe('homelab host install', () => {
  it('its nixos-anywhere stand-in says so and passes shellcheck', async () => {
    expect(readFileSync(STAND_IN, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n# stand-in for nixos-anywhere /)
    const r = await execa('shellcheck', ['--severity=style', STAND_IN], {reject: false})
    expect(r.stdout + r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
  })

  it('--dry-run prints the exact nixos-anywhere command line and the files, and changes nothing', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const before = snapshot(repo)
    const r = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--dry-run', '--age-key-file', DEMO_KEY, '--repo', repo], {env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.replaceAll(REPO_ROOT, '<repo>').replaceAll(repo, '<copy>')).toBe(
      [
        'dry run: nothing changed. Installing azalab-0 on root@192.168.1.50 would ERASE /dev/nvme0n1.',
        'nixos-anywhere command (<workdir> is a private 0700 temp folder):',
        "  nixos-anywhere --flake '<workdir>/build#azalab-0' --target-host root@192.168.1.50 --generate-hardware-config nixos-generate-config '<workdir>/extra/etc/nixos/hardware-configuration.nix' --extra-files '<workdir>/extra'",
        "built from: <workdir>/build/flake.nix, the host's /etc/nixos flake with input homelab = git+file://<copy> (this work tree, uncommitted changes included)",
        'extra files copied to the host:',
        '  /var/lib/sops-nix/key.txt              0600  root:root  age identity from <repo>/test/fixtures/keys/demo.agekey:6',
        '  /etc/ssh/ssh_host_ed25519_key          0600  root:root  generated ed25519 SSH host key (its public half pinned in known_hosts)',
        '  /etc/ssh/ssh_host_ed25519_key.pub      0644  root:root  generated ed25519 SSH host key, public half',
        '  /etc/nixos/flake.nix                   0644  root:root  nixos/flake.nix',
        '  /etc/nixos/hardware-configuration.nix  0644  root:root  generated on the target by nixos-generate-config --show-hardware-config --no-filesystems',
        'admin password hash: asked (hidden, or --password-stdin), stored as admin/password_hash',
        'deploy key: generated, stored as git/deploy_key',
        'known_hosts: the new host key is pinned for the host before nixos-anywhere runs',
      ].join('\n'),
    )
    expect(r.stdout).not.toMatch(/AGE-SECRET-KEY/)
    expect(snapshot(repo)).toEqual(before)
    expect(existsSync(`${standinRoot}.argv`)).toBe(false)

    const json = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--dry-run', '--age-key-file', DEMO_KEY, '--repo', repo, '--json'], {env})
    expect(json.exitCode, json.stderr).toBe(0)
    const result = JSON.parse(json.stdout)
    expect(result).toMatchObject({deployKey: 'generate', disk: '/dev/nvme0n1', dryRun: true, host: 'azalab-0', installed: false, passwordHash: 'missing', target: 'root@192.168.1.50'})
    expect(result.argv[0]).toBe('nixos-anywhere')
    expect(result.extraFiles[0]).toEqual({mode: '0600', owner: 'root:root', path: '/var/lib/sops-nix/key.txt', source: `age identity from ${DEMO_KEY}:6`})

    // Without --target: root at the host's ssh address of homelab.yaml.
    const byDefault = await runCli(['host', 'install', 'azalab-0', '--dry-run', '--age-key-file', DEMO_KEY, '--repo', repo, '--json'], {env})
    expect(JSON.parse(byDefault.stdout)).toMatchObject({target: 'root@azalab-0'})
  })

  it('a token-method homelab without git/access_tokens: one line saying how to set it, exit 1, nothing changed', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const accessFile = path.join(repo, 'nixos/git-access.json')
    writeFileSync(accessFile, JSON.stringify({...JSON.parse(readFileSync(accessFile, 'utf8')), method: 'token'}))
    const before = snapshot(repo)
    const r = await runCli(['host', 'install', 'azalab-0', '--yes', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo], {env, input: 'pw\n'})
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim()).toBe(
      `Error: ${SECRETS} has no git.access_tokens (nixos/git-access.json method token): set it with printf %s 'github.com=TOKEN' | homelab secrets set ${SECRETS} git.access_tokens --value-stdin, then run again; nothing was erased`,
    )
    expect(snapshot(repo)).toEqual(before)
    expect(existsSync(`${standinRoot}.argv`)).toBe(false)
  })

  it('without a terminal and without --yes: exit 3 before anything changes', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const before = snapshot(repo)
    const r = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo], {env, input: 'pw\n'})
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('Error: --yes is required when not running in a terminal: installing azalab-0 on root@192.168.1.50 erases /dev/nvme0n1; nothing was changed')
    const json = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo, '--json'], {env, input: 'pw\n'})
    expect(json.exitCode).toBe(3)
    expect(JSON.parse(json.stdout).error).toMatchObject({exitCode: 3, name: 'UsageError'})
    expect(snapshot(repo)).toEqual(before)
    expect(existsSync(`${standinRoot}.argv`)).toBe(false)
  })

  it('without a terminal, no stored hash and no --password-stdin: exit 3 naming the flag', async () => {
    const {env, repo} = await sandbox()
    const r = await runCli(['host', 'install', 'azalab-0', '--yes', '--age-key-file', DEMO_KEY, '--repo', repo], {env})
    expect(r.exitCode).toBe(3)
    expect(r.stderr.split('\n')[0]).toMatch(/^Error: --password-stdin is required when not running in a terminal/)
  })

  it('an identity that cannot decrypt the host secrets: one line, exit 1, nothing changed', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const other = path.join(path.dirname(standinRoot), 'other.agekey')
    const {stdout} = await execa('age-keygen')
    writeFileSync(other, `${stdout}\n`, {mode: 0o600})
    const before = snapshot(repo)
    const r = await runCli(['host', 'install', 'azalab-0', '--yes', '--password-stdin', '--age-key-file', other, '--repo', repo], {env, input: 'pw\n'})
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim()).toBe(`Error: no identity from --age-key-file ${other} decrypts ${SECRETS}: the host's sops-nix could not read its secrets; pass --age-key-file with the homelab's identity`)
    expect(snapshot(repo)).toEqual(before)
    expect(existsSync(`${standinRoot}.argv`)).toBe(false)
  })

  it('installs through nixos-anywhere: extra files, pinned host key, password hash and deploy key in the host secrets', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const password = 'hunter2 with spaces'
    const r = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--yes', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo], {env, input: `${password}\n`})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain('About to install azalab-0 on root@192.168.1.50: this ERASES /dev/nvme0n1 on that machine.')
    expect(r.stderr).toContain('### Copying extra files ###')
    expect(`${r.stdout}${r.stderr}`).not.toContain(password)

    // The argv nixos-anywhere got (the stand-in asserted its shape and the modes).
    const argv = readFileSync(`${standinRoot}.argv`, 'utf8').trim().split('\n')
    expect(argv[3]).toBe('root@192.168.1.50')
    expect(argv[8]).toMatch(/\/homelab-install-[^/]+\/extra$/)
    expect(existsSync(argv[8])).toBe(false) // the private work folder is removed

    // key.txt: exactly the identity, 0600.
    const keyTxt = readFileSync(path.join(standinRoot, 'var/lib/sops-nix/key.txt'), 'utf8')
    const [demo] = await parseIdentities(readFileSync(DEMO_KEY, 'utf8'), DEMO_KEY)
    expect((await parseIdentities(keyTxt, 'key.txt')).map((i) => i.identity)).toEqual([demo.identity])
    expect(statSync(path.join(standinRoot, 'var/lib/sops-nix/key.txt')).mode & 0o777).toBe(0o600)
    expect(statSync(path.join(standinRoot, 'etc/ssh/ssh_host_ed25519_key')).mode & 0o777).toBe(0o600)
    expect(readFileSync(path.join(standinRoot, 'etc/nixos/flake.nix'), 'utf8')).toBe(readFileSync(path.join(repo, 'nixos/flake.nix'), 'utf8'))
    expect(readFileSync(path.join(standinRoot, 'etc/nixos/hardware-configuration.nix'), 'utf8')).toContain("generated by 'nixos-generate-config'")

    // The host key: a real OpenSSH key pair whose public half is pinned in known_hosts for azalab-0.
    const keyFile = path.join(standinRoot, 'etc/ssh/ssh_host_ed25519_key')
    const derived = (await execa('ssh-keygen', ['-y', '-f', keyFile])).stdout.trim().split(' ').slice(0, 2).join(' ')
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
    expect(derived).toBe(pub)
    expect(readFileSync(path.join(repo, 'known_hosts'), 'utf8')).toContain(`\nazalab-0 ${pub}\n`)
    const fp = (await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyFile}.pub`])).stdout.split(' ')[1]
    expect(r.stdout).toContain(`host key ${fp} pinned in known_hosts`)

    // The host secrets: the hash verifies the password; the deploy key is an OpenSSH private key whose public half was printed.
    const secrets = await decryptSopsFile({file: path.join(repo, SECRETS), identities: [demo]})
    const values = secrets.values[0] as {admin: {password_hash: string}; git: {deploy_key: string}}
    expect(await verifyPassword(password, values.admin.password_hash)).toBe(true)
    const openssl = await execa('openssl', ['passwd', '-6', '-salt', values.admin.password_hash.split('$')[2], '-stdin'], {input: `${password}\n`})
    expect(openssl.stdout.trim()).toBe(values.admin.password_hash)
    expect(values.git.deploy_key).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/)
    const deployKeyFile = path.join(path.dirname(standinRoot), 'deploy_key')
    writeFileSync(deployKeyFile, values.git.deploy_key, {mode: 0o600})
    const deployPub = (await execa('ssh-keygen', ['-y', '-f', deployKeyFile])).stdout.trim().split(' ').slice(0, 2).join(' ')
    expect(r.stdout).toContain(deployPub)
    expect(r.stdout).toContain('GitHub: repository Settings → Deploy keys → Add deploy key')
    expect(r.stdout).toContain('homelab deploy')

    // Committed: only known_hosts and the host secrets, so the first deploy finds a clean tree.
    const log = await execa('git', ['log', '-1', '--format=%s', '--name-only'], {cwd: repo})
    expect(log.stdout.split('\n').filter(Boolean)).toEqual(['Install azalab-0: pin its SSH host key, store admin/password_hash, store git/deploy_key', 'known_hosts', SECRETS])
    expect((await execa('git', ['status', '--porcelain'], {cwd: repo})).stdout).toBe('')
    expect(r.stdout).toMatch(/^committed known_hosts and nixos\/secrets\/host-secrets\.sops\.yaml \([0-9a-f]{12}\); homelab deploy pushes it$/m)

    // A second run keeps the stored hash and deploy key, and replaces the pinned key (the machine was erased again).
    const again = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--yes', '--age-key-file', DEMO_KEY, '--repo', repo, '--json'], {env})
    expect(again.exitCode, again.stderr).toBe(0)
    const result = JSON.parse(again.stdout)
    expect(result).toMatchObject({deployKey: 'present', installed: true, passwordHash: 'kept'})
    const after = (await decryptSopsFile({file: path.join(repo, SECRETS), identities: [demo]})).values[0] as typeof values
    expect(after.admin.password_hash).toBe(values.admin.password_hash)
    expect(after.git.deploy_key).toBe(values.git.deploy_key)
    const pins = readFileSync(path.join(repo, 'known_hosts'), 'utf8').split('\n').filter((l) => l.startsWith('azalab-0 '))
    expect(pins).toHaveLength(1)
    expect(pins[0]).not.toContain(pub.split(' ')[1])
    expect(result.changedFiles).toEqual(['known_hosts'])
    expect((await execa('git', ['log', '-1', '--format=%s'], {cwd: repo})).stdout).toBe('Install azalab-0: pin its SSH host key')
  })

  it('nixos-anywhere failing: exit 1 with one line naming the host and the disk', async () => {
    const {env, repo} = await sandbox()
    const r = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--yes', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo], {env: {...env, STANDIN_EXIT: '1'}, input: 'pw\n'})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('Error: nixos-anywhere failed (exit 1) installing azalab-0 on root@192.168.1.50; its output is above. /dev/nvme0n1 may be partly written')
    // Nothing committed: a failed install is run again, which pins a new key.
    expect((await execa('git', ['log', '--format=%s'], {cwd: repo})).stdout).toBe('homelab')
  })

  it('SIGTERM while nixos-anywhere runs: forwarded to it, the private folder with the keys removed, exit 143', async () => {
    const {env, repo, standinRoot} = await sandbox()
    const r = await runCli(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--yes', '--password-stdin', '--age-key-file', DEMO_KEY, '--repo', repo], {
      env: {...env, STANDIN_SIGNAL_PARENT: 'TERM'},
      input: 'pw\n',
    })
    expect(r.exitCode, r.stderr).toBe(143)
    expect(r.stderr).toContain('Error: interrupted by SIGTERM: nixos-anywhere was ended while installing azalab-0; /dev/nvme0n1 on root@192.168.1.50 may be partly written')
    const argv = readFileSync(`${standinRoot}.argv`, 'utf8').trim().split('\n')
    expect(existsSync(path.dirname(argv[8]))).toBe(false)
  })
})
