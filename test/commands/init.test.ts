import {execa} from 'execa'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {decryptSops} from 'sops-age'
import {afterAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

/** A temp HOME (no ~/.ssh, no sops config) and a path for the new repository inside a temp folder. */
function sandbox(): {home: string; repo: string; env: Record<string, string | undefined>} {
  const base = mkdtempSync(path.join(tmpdir(), 'homelab-init-'))
  temps.push(base)
  const home = path.join(base, 'home')
  mkdirSync(home)
  return {env: {HOME: home, SOPS_AGE_KEY_FILE: undefined, XDG_CONFIG_HOME: undefined}, home, repo: path.join(base, 'x')}
}

const ACCEPTANCE = ['--yes', '--host', 'h', '--user', 'u', '--ssh', 'u@h', '--domain', 'example.org', '--cluster', 'c']

/** Every file under `dir` except .git, repository-relative. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), {withFileTypes: true}).flatMap((e) => {
    const child = rel ? `${rel}/${e.name}` : e.name
    if (e.name === '.git') return []
    return e.isDirectory() ? walk(dir, child) : [child]
  })
}

describe('homelab init', () => {
  it('creates a repository that passes homelab validate, with the identity 0600 outside it (acceptance)', async () => {
    const {env, home, repo} = sandbox()
    const result = await runCli(['init', repo, ...ACCEPTANCE], {env})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^✓ Created homelab h in ${repo} \\(\\d+ files, git branch main\\)$`, 'm'))

    const keyFile = path.join(home, '.config/sops/age/keys.txt')
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect(statSync(path.dirname(keyFile)).mode & 0o777).toBe(0o700)
    const keys = readFileSync(keyFile, 'utf8')
    const identity = /^AGE-SECRET-KEY-1[0-9A-Z]+$/m.exec(keys)![0]
    const recipient = /^# public key: (age1[0-9a-z]+)$/m.exec(keys)![1]

    // The recipient is in .sops.yaml (both rules); the identity is nowhere in the repository.
    expect(readFileSync(path.join(repo, '.sops.yaml'), 'utf8').split(recipient)).toHaveLength(3)
    for (const rel of walk(repo)) expect(readFileSync(path.join(repo, rel), 'utf8'), rel).not.toMatch(/AGE-SECRET-KEY-1/)

    // git init on main.
    const head = await execa('git', ['symbolic-ref', 'HEAD'], {cwd: repo})
    expect(head.stdout).toBe('refs/heads/main')

    // The SOPS files decrypt with the new identity (sops-age, an independent implementation).
    const host = await decryptSops(readFileSync(path.join(repo, 'nixos/secrets/host-secrets.sops.yaml'), 'utf8'), {fileType: 'yaml', secretKey: identity})
    expect(host.kopia.repository_password).toMatch(/^[\w-]{43}$/)
    expect(host.r2).toEqual({access_key_id: '', account_id: '', secret_access_key: ''})
    const tunnel = await decryptSops(readFileSync(path.join(repo, 'flux/clusters/c/manifests/apps/secrets.sops.yaml'), 'utf8'), {fileType: 'yaml', secretKey: identity})
    expect(tunnel).toMatchObject({kind: 'Secret', metadata: {name: 'tunnel-credentials', namespace: 'cloudflared'}})

    // Host-specific values landed where the homelab reads them.
    expect(readFileSync(path.join(repo, 'homelab.yaml'), 'utf8')).toMatch(/name: h\b[\s\S]*ssh: u@h[\s\S]*path: flux\/clusters\/c\n/)
    expect(readFileSync(path.join(repo, 'nixos/configuration.nix'), 'utf8')).toContain('hostName = lib.mkDefault "h";')
    expect(readFileSync(path.join(repo, 'nixos/flake.nix'), 'utf8')).toContain('url = "git+ssh://git@github.com/u/homelab?ref=main";')
    expect(JSON.parse(readFileSync(path.join(repo, 'nixos/storage.json'), 'utf8'))).toMatchObject({apps: [], extraBackupSources: ['/etc/nixos']})
    // Root's access to the repository (nixos/git-access.nix reads it), and the host fixes of issue 12.
    expect(JSON.parse(readFileSync(path.join(repo, 'nixos/git-access.json'), 'utf8'))).toMatchObject({forge: 'github.com', forgeHostKeys: expect.arrayContaining([expect.stringMatching(/^ssh-ed25519 /)]), method: 'deploy-key'})
    expect(readFileSync(path.join(repo, 'nixos/git-access.json'), 'utf8')).not.toContain('DEMO')
    expect(readFileSync(path.join(repo, 'nixos/git-access.nix'), 'utf8')).toContain('Match host ${forge} localuser root')
    expect(readFileSync(path.join(repo, 'nixos/flake.nix'), 'utf8')).toContain('inputs.sops-nix.follows = "sops-nix";')
    expect(readFileSync(path.join(repo, 'nixos/configuration.nix'), 'utf8')).not.toMatch(/imports\s*=/)
    expect(statSync(path.join(repo, 'scripts/kopia-backup.sh')).mode & 0o111).not.toBe(0)

    const validate = await runCli(['validate', '--repo', repo], {env})
    expect(validate.stdout).toMatch(/^valid: 9 checks, 9 passed, 0 failed; 0 errors, 0 warnings/m)
    expect(validate.exitCode).toBe(0)
  })

  it('gives a homelab that homelab app new extends and that still validates', async () => {
    const {env, repo} = sandbox()
    expect((await runCli(['init', repo, ...ACCEPTANCE], {env})).exitCode).toBe(0)
    const app = await runCli(['app', 'new', 'wiki', '--image', 'ghcr.io/requarks/wiki:2.5', '--port', '3000', '--storage', '5Gi', '--yes'], {cwd: repo, env})
    expect(app.exitCode, app.stderr).toBe(0)
    const validate = await runCli(['validate'], {cwd: repo, env})
    expect(validate.stdout).toMatch(/^valid: 9 checks, 9 passed/m)
    expect(validate.exitCode).toBe(0)
  })

  it('appends to $SOPS_AGE_KEY_FILE, keeping the identities already there, and --json reports the result', async () => {
    const {env, repo} = sandbox()
    const keyFile = path.join(path.dirname(repo), 'keys', 'operator.txt')
    mkdirSync(path.dirname(keyFile))
    writeFileSync(keyFile, '# an older homelab\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ', {mode: 0o644})
    const result = await runCli(['init', repo, ...ACCEPTANCE, '--json'], {env: {...env, SOPS_AGE_KEY_FILE: keyFile}})
    expect(result.exitCode, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout)
    // The file was 0644: narrowed to 0600, and --json says from what.
    expect(Object.keys(json).sort()).toEqual(['branch', 'dir', 'files', 'keyFile', 'keyFileModeWas', 'recipient', 'schemaVersion', 'sshKeyFound'])
    expect(json).toMatchObject({branch: 'main', dir: repo, keyFile, keyFileModeWas: '0644', sshKeyFound: false})
    expect(json.files).toContain('nixos/secrets/host-secrets.sops.yaml')
    const keys = readFileSync(keyFile, 'utf8')
    expect(keys.startsWith('# an older homelab\nAGE-SECRET-KEY-1QQQQ')).toBe(true)
    expect(keys.match(/^AGE-SECRET-KEY-1/gm)).toHaveLength(2)
    expect(keys).toContain(`# public key: ${json.recipient}\n`)
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
  })

  it('uses $XDG_CONFIG_HOME, takes defaults with --yes, and puts the SSH public key from ~/.ssh in the host config', async () => {
    const {env, home, repo} = sandbox()
    const xdg = path.join(home, 'xdg')
    mkdirSync(path.join(home, '.ssh'))
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMMqW5WHMZJKDZbL10wKiW4oBMbSBTBlQqwISreseWvt me@laptop'
    writeFileSync(path.join(home, '.ssh/id_ed25519.pub'), `${pub}\n`)
    const result = await runCli(['init', repo, '--yes', '--host', 'lab-1', '--domain', 'example.net', '--user', 'me'], {env: {...env, XDG_CONFIG_HOME: xdg}})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toBe('')
    expect(existsSync(path.join(xdg, 'sops/age/keys.txt'))).toBe(true)
    expect(readFileSync(path.join(repo, 'homelab.yaml'), 'utf8')).toMatch(/ssh: me@lab-1[\s\S]*name: lab-1\n {2}path: flux\/clusters\/lab-1/)
    expect(readFileSync(path.join(repo, 'nixos/configuration.nix'), 'utf8')).toContain(`"${pub}"`)
  })

  it('refuses a non-empty folder and touches nothing', async () => {
    const {env, home, repo} = sandbox()
    mkdirSync(repo)
    writeFileSync(path.join(repo, 'notes.txt'), 'mine\n')
    const result = await runCli(['init', repo, ...ACCEPTANCE], {env})
    expect(result.stderr).toContain(`${repo} is not empty (1 entry); homelab init only fills an empty or new folder`)
    expect(result.exitCode).toBe(3)
    expect(readdirSync(repo)).toEqual(['notes.txt'])
    expect(existsSync(path.join(home, '.config'))).toBe(false)
  })

  it('without a terminal, names the missing flag instead of prompting', async () => {
    const {env, repo} = sandbox()
    const result = await runCli(['init', repo, '--host', 'h', '--user', 'u', '--ssh', 'u@h', '--cluster', 'c'], {env})
    expect(result.stderr).toContain('--domain is required when not running in a terminal')
    expect(result.exitCode).toBe(3)
    expect(existsSync(repo)).toBe(false)
  })

  it('rejects an invalid value naming its flag, also under --json', async () => {
    const {env, repo} = sandbox()
    const result = await runCli(['init', repo, ...ACCEPTANCE.map((a) => (a === 'h' ? 'Not_A_Host' : a)), '--json'], {env})
    expect(result.exitCode).toBe(3)
    expect(JSON.parse(result.stdout).error.message).toMatch(/^--host "Not_A_Host": must be a DNS-1123 label/)
  })

  it('refuses a key file inside the new repository', async () => {
    const {env, repo} = sandbox()
    const result = await runCli(['init', repo, ...ACCEPTANCE], {env: {...env, SOPS_AGE_KEY_FILE: path.join(repo, 'keys.txt')}})
    expect(result.stderr).toContain(`the sops key file ${path.join(repo, 'keys.txt')} would be inside the new repository ${repo}`)
    expect(result.exitCode).toBe(3)
    expect(existsSync(repo)).toBe(false)
  })

  it('refuses a SOPS_AGE_KEY_FILE inside a git work tree (as the demo key is) before asking or writing anything', async () => {
    const {env, home, repo} = sandbox()
    const other = path.join(path.dirname(repo), 'other-repo')
    mkdirSync(path.join(other, 'test/fixtures/keys'), {recursive: true})
    await execa('git', ['init', '-q'], {cwd: other})
    const keyFile = path.join(other, 'test/fixtures/keys/demo.agekey')
    const demo = '# demo\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n'
    writeFileSync(keyFile, demo, {mode: 0o644})
    const expected = `Error: SOPS_AGE_KEY_FILE=${keyFile} is inside the git work tree ${other}; a new private key is never written where it could be committed`

    const [full, noFlags, json] = await Promise.all([
      runCli(['init', repo, ...ACCEPTANCE], {env: {...env, SOPS_AGE_KEY_FILE: keyFile}}),
      // No flags and no terminal: the key file is refused first, not a missing --host.
      runCli(['init', repo], {env: {...env, SOPS_AGE_KEY_FILE: keyFile}}),
      // A key file whose folder does not exist yet, under --json.
      runCli(['init', repo, ...ACCEPTANCE, '--json'], {env: {...env, SOPS_AGE_KEY_FILE: path.join(other, 'secrets/keys.txt')}}),
    ])
    expect(full.exitCode).toBe(3)
    expect(full.stderr.split('\n')).toEqual([expected, '  → point SOPS_AGE_KEY_FILE at a file outside any repository, e.g. ~/.config/sops/age/keys.txt (copy into it any identity you still need)'])
    expect(noFlags.exitCode).toBe(3)
    expect(noFlags.stderr.split('\n')[0]).toBe(expected)
    expect(json.exitCode).toBe(3)
    expect(JSON.parse(json.stdout).error).toMatchObject({exitCode: 3, message: expect.stringMatching(/^SOPS_AGE_KEY_FILE=.*\/other-repo\/secrets\/keys\.txt is inside the git work tree /)})

    // All or nothing: the key file as it was, no new repository, nothing in HOME or the other repo.
    expect(readFileSync(keyFile, 'utf8')).toBe(demo)
    expect(existsSync(repo)).toBe(false)
    expect(readdirSync(home)).toEqual([])
    expect(existsSync(path.join(other, 'secrets'))).toBe(false)
    expect((await execa('git', ['status', '--porcelain', '--untracked-files=all'], {cwd: other})).stdout).toBe('?? test/fixtures/keys/demo.agekey')
  })
})
