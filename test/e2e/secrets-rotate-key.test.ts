import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../src/lib/age/index.js'
import {decryptSopsFile, loadSopsConfig, readSopsMetadata} from '../../src/lib/sops/index.js'
import {listSopsFiles} from '../../src/lib/sops/repo.js'
import {runCli} from '../helpers/cli.js'
import {DEMO_KEY, DEMO_RECIPIENT, ensureHostSecrets} from '../commands/secrets/helpers.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab secrets rotate-key` against the e2e test host: real sshd and sudo, real `age` on the
 * host to prove it decrypts a file, /var/lib/sops-nix a private bind mount in the host's mount
 * namespace, and the cluster Secret kept by the kubectl-sops-age stand-in (installed as kubectl).
 * The run is killed after the host step (HOMELAB_TEST_CRASH_AFTER) and resumed.
 */
let host: TestHost
let repo: TestRepo
let keyFile: string
let stateHome: string

beforeAll(async () => {
  host = await startTestHost({standIns: ['k3s', 'kubectl-sops-age']})
  await fs.rename(path.join(host.binDir, 'kubectl-sops-age'), path.join(host.binDir, 'kubectl'))
  await host.setScenario({STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
  const sopsNix = path.join(host.hostRoot, 'sops-nix')
  await fs.mkdir(sopsNix, {mode: 0o755})
  await host.runOnHost(`mkdir -p /var/lib/sops-nix && mount --bind ${sopsNix} /var/lib/sops-nix`)
  repo = await host.homelabRepo({nixos: false})
  await ensureHostSecrets(repo.dir)
  keyFile = path.join(host.home, 'keys.txt')
  await fs.copyFile(DEMO_KEY, keyFile)
  await fs.chmod(keyFile, 0o600)
  stateHome = path.join(host.home, 'state')
}, 300_000)

afterAll(async () => {
  await host?.stop()
})

describe('homelab secrets rotate-key (e2e)', () => {
  const cli = (extra: Record<string, string> = {}) =>
    runCli(['secrets', 'rotate-key', '--yes', '--json'], {
      cwd: repo.dir,
      env: {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword, SOPS_AGE_KEY: '', SOPS_AGE_KEY_FILE: keyFile, XDG_STATE_HOME: stateHome, ...extra},
      timeout: 240_000,
    })

  it('killed after the host step, it resumes and finishes: host key, cluster Secret, files and .sops.yaml', async () => {
    const crashed = await cli({HOMELAB_TEST_CRASH_AFTER: 'host'})
    expect(crashed.signal).toBe('SIGKILL')
    expect(await host.runOnHost('stat -c "%U %a" /var/lib/sops-nix/key.txt')).toBe('root 600')
    const stateFiles = await fs.readdir(path.join(stateHome, 'homelab'))
    expect(stateFiles).toHaveLength(1)
    const state = JSON.parse(await fs.readFile(path.join(stateHome, 'homelab', stateFiles[0]), 'utf8'))
    expect(state.done).toEqual(['identity', 'sops-config-both', 'files-both', 'host'])
    // Mid-rotation every file is encrypted to both recipients.
    for (const rel of await listSopsFiles(repo.dir)) {
      const file = path.join(repo.dir, rel)
      expect(readSopsMetadata(await fs.readFile(file, 'utf8'), file)?.recipients).toEqual([DEMO_RECIPIENT, state.newRecipient])
    }

    const finished = await cli()
    expect(finished.exitCode).toBe(0)
    const result = JSON.parse(finished.stdout)
    expect(result).toMatchObject({complete: true, newRecipient: state.newRecipient, oldRecipients: [DEMO_RECIPIENT], resumed: true, steps: ['cluster', 'sops-config-new', 'files-new']})
    expect(await fs.readdir(path.join(stateHome, 'homelab'))).toEqual([])

    // The host key file holds the new identity (and the old one, for what is deployed now).
    const hostKey = await host.runOnHost('cat /var/lib/sops-nix/key.txt')
    const hostIds = await parseIdentities(hostKey, 'host key.txt')
    expect(hostIds.map((i) => i.recipient)).toEqual([state.newRecipient, DEMO_RECIPIENT])
    // The cluster Secret flux-system/sops-age holds the same key text.
    const secret = JSON.parse(await fs.readFile(path.join(host.hostRoot, 'kubectl-state/secrets/flux-system/sops-age.json'), 'utf8'))
    expect(Buffer.from(secret.data['age.agekey'], 'base64').toString()).toBe(`${hostKey}\n`)
    // .sops.yaml and every file: the new recipient only; the new identity alone decrypts them.
    const config = await loadSopsConfig({dir: repo.dir})
    for (const rule of config.rules) expect(rule.recipients).toEqual([state.newRecipient])
    const newOnly = hostIds.filter((i) => i.recipient === state.newRecipient)
    for (const rel of await listSopsFiles(repo.dir)) {
      const file = path.join(repo.dir, rel)
      expect(readSopsMetadata(await fs.readFile(file, 'utf8'), file)?.recipients).toEqual([state.newRecipient])
      await decryptSopsFile({file, identities: newOnly})
    }

    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600)
    expect(finished.stdout + finished.stderr + crashed.stdout + crashed.stderr).not.toContain('AGE-SECRET-KEY-')
  })
})
