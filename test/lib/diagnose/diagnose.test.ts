import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {loadHomelab} from '../../../src/lib/config/load.js'
import {UsageError} from '../../../src/lib/errors.js'
import {execCommand, journalctlCommand, parseUnitList} from '../../../src/lib/diagnose/host.js'
import {appLogsCommand, appWorkloads, kubectlLogsCommand} from '../../../src/lib/diagnose/logs.js'
import {assertRemoteName, parseSince} from '../../../src/lib/diagnose/names.js'
import {parseDf} from '../../../src/lib/diagnose/doctor/host.js'
import {offlineChecks} from '../../../src/lib/diagnose/doctor/offline.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

/** Runs a command line in a real sh and returns its argv as printed one per line (what the host's shell would pass on). */
async function argvOf(command: string): Promise<string[]> {
  const r = await execa('sh', ['-c', command.replace(/^KUBECONFIG=\S+ /, ''), 'sh'], {env: {PATH: `${await fakeBin()}:${process.env.PATH}`}})
  return r.stdout.split('\n')
}

let bin: string | undefined
/** A folder with `k3s`, `journalctl` and `printf-args` that print their arguments, one per line. */
async function fakeBin(): Promise<string> {
  if (bin) return bin
  bin = await fs.mkdtemp(path.join(os.tmpdir(), 'diagnose-bin-'))
  for (const name of ['k3s', 'journalctl']) await fs.writeFile(path.join(bin, name), `#!/bin/sh\nprintf '%s\\n' ${name} "$@"\n`, {mode: 0o755})
  return bin
}

describe('remote names', () => {
  it('accepts real unit, app, container and namespace names', () => {
    for (const unit of ['k3s', 'k3s.service', 'kopia-backup-source@srv-immich.service', 'getty@tty1.service', String.raw`foo\x2dbar.mount`]) expect(assertRemoteName('unit', unit, 'UNIT')).toBe(unit)
    expect(assertRemoteName('app', 'immich', 'APP')).toBe('immich')
    expect(assertRemoteName('container', 'server-1', '--container')).toBe('server-1')
    expect(assertRemoteName('namespace', 'flux-system', 'NS')).toBe('flux-system')
  })

  it('refuses shell metacharacters, spaces, option-looking and empty names with a usage error (exit 3)', () => {
    for (const bad of ['k3s;id', 'k3s service', '$(id)', '`id`', 'a|b', 'a&b', "a'b", '-f', '--since=1', '', 'a\nb', 'x>y'])
      expect(() => assertRemoteName('unit', bad, 'UNIT')).toThrow(UsageError)
    for (const bad of ['Immich', 'a_b', 'a.b', '-a', 'a-', 'x'.repeat(64)]) expect(() => assertRemoteName('app', bad, 'APP')).toThrow(/not a valid app name/)
    try {
      assertRemoteName('unit', 'k3s;id', 'UNIT')
    } catch (error) {
      expect((error as UsageError).exitCode).toBe(3)
      expect((error as UsageError).message).toBe('UNIT "k3s;id" is not a valid unit name: only letters, digits and :-_.\\@ (a systemd unit name) are allowed')
    }
  })

  it('--since: kubectl and journalctl forms; anything else is a usage error', () => {
    expect(parseSince('1h')).toEqual({journalctl: '-1h', kubectl: '1h', seconds: 3600})
    expect(parseSince('15m')).toEqual({journalctl: '-15min', kubectl: '15m', seconds: 900})
    expect(parseSince('2d')).toEqual({journalctl: '-2d', kubectl: '48h', seconds: 172_800})
    for (const bad of ['1', 'h', '1w', '-1h', '0s', '1h;id', '1.5h']) expect(() => parseSince(bad)).toThrow(UsageError)
  })
})

describe('remote commands are built from quoted words', () => {
  it('host exec: the host shell receives exactly the words given', async () => {
    const words = ['printf', '%s\\n', 'a b', '$HOME', "it's", '*', ';id', '']
    const r = await execa('sh', ['-c', execCommand(words)])
    expect(r.stdout).toBe(['a b', '$HOME', "it's", '*', ';id', ''].join('\n'))
  })

  it('journalctl: unit, since, priority, lines and follow as separate words', async () => {
    const command = journalctlCommand({follow: true, lines: 5, priority: 'err', since: '-1h', unit: 'kopia-backup-source@srv-immich.service'})
    expect(await argvOf(command)).toEqual(['journalctl', '--no-pager', '-o', 'short-iso', '-u', 'kopia-backup-source@srv-immich.service', '--since=-1h', '-p', 'err', '-n', '5', '-f'])
    expect(() => journalctlCommand({follow: false, unit: 'x;id'})).toThrow(UsageError)
  })

  it('kubectl logs of one workload; a selector with spaces and parentheses stays one word', async () => {
    const command = kubectlLogsCommand({kind: 'Deployment', name: 'a', namespace: 'ns', selector: 'app in (a,b),tier'}, {follow: true, previous: false, since: '1h', tail: -1})
    expect(command.startsWith('KUBECONFIG=/etc/rancher/k3s/k3s.yaml ')).toBe(true)
    expect(await argvOf(command)).toEqual(['k3s', 'kubectl', 'logs', '-n', 'ns', '-l', 'app in (a,b),tier', '--prefix', '--ignore-errors', '--max-log-requests=50', '--tail=-1', '--all-containers', '--since=1h', '-f'])
    expect(() => kubectlLogsCommand({kind: 'Deployment', name: 'a', namespace: 'ns', selector: 'a=b'}, {container: 'x y', follow: false, previous: false, tail: 1})).toThrow(UsageError)
  })

  it("the bundled immich app: its three workloads' selectors from the manifests, one kubectl each", async () => {
    const homelab = await loadHomelab({cwd: REPO_ROOT})
    const workloads = await appWorkloads(homelab, 'immich')
    expect(workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`).sort()).toHaveLength(3)
    expect(workloads.every((w) => w.namespace === 'immich' && w.selector.includes('='))).toBe(true)
    const command = appLogsCommand(workloads, {follow: false, previous: false, tail: 10})
    expect(command.match(/k3s kubectl logs/g)).toHaveLength(3)
    await expect(appWorkloads(homelab, 'nope')).rejects.toThrow(/no app "nope" in flux\/clusters\/azalab-0\/manifests\/apps \(apps: .*immich/)
    await expect(appWorkloads(homelab, 'a;b')).rejects.toThrow(UsageError)
  })
})

describe('parsers', () => {
  it('systemctl list-units --failed --plain --no-legend', () => {
    expect(parseUnitList('')).toEqual([])
    expect(parseUnitList('kopia-backup.service loaded failed failed Kopia snapshot of every backup source\n● k3s.service loaded failed failed k3s service\n')).toEqual([
      {active: 'failed', description: 'Kopia snapshot of every backup source', load: 'loaded', sub: 'failed', unit: 'kopia-backup.service'},
      {active: 'failed', description: 'k3s service', load: 'loaded', sub: 'failed', unit: 'k3s.service'},
    ])
  })

  it('df -Pk', () => {
    const df = 'Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda2      100000000 95000000  5000000      95% /srv\n/dev/sda1         523248    61484    461764      12% /boot\n'
    expect(parseDf(df)).toEqual([
      {availableBytes: 5_000_000 * 1024, mount: '/srv', usedPercent: 95},
      {availableBytes: 461_764 * 1024, mount: '/boot', usedPercent: 12},
    ])
  })
})

describe('doctor offline checks', () => {
  const demo = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')

  it('the bundled homelab with the demo key at mode 0600: all ✓', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-key-'))
    const key = path.join(dir, 'keys.txt')
    await fs.copyFile(demo, key)
    await fs.chmod(key, 0o600)
    const checks = await offlineChecks({env: {SOPS_AGE_KEY_FILE: key}, homeDir: dir, homelab: await loadHomelab({cwd: REPO_ROOT})})
    expect(checks.map((c) => [c.id, c.status])).toEqual([['sops-key-file', 'ok'], ['sops-key-mode', 'ok'], ['sops-decrypt', 'ok'], ['sops-recipients', 'ok']])
  })

  it('no key file, then a broken copy (.sops.yaml asks for a recipient the host secrets lack): each ✗ with a fix', async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-home-'))
    const none = await offlineChecks({env: {}, homeDir: home, homelab: await loadHomelab({cwd: REPO_ROOT})})
    expect(none.map((c) => [c.id, c.status])).toEqual([['sops-key-file', 'fail'], ['sops-key-mode', 'skip'], ['sops-decrypt', 'fail'], ['sops-recipients', 'ok']])
    expect(none[0].fix).toContain('SOPS_AGE_KEY_FILE')
    expect(none[2].detail).toContain('none of your identities is a recipient')

    const copy = copyBundledHomelab()
    const sopsYaml = path.join(copy, '.sops.yaml')
    await fs.writeFile(sopsYaml, (await fs.readFile(sopsYaml, 'utf8')).replace(/age: age1\S+\n(?=\s*# Cluster)/, 'age: age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6,age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n'))
    const broken = await offlineChecks({env: {SOPS_AGE_KEY_FILE: demo}, homeDir: home, homelab: await loadHomelab({cwd: copy})})
    const recipients = broken.find((c) => c.id === 'sops-recipients')!
    expect(recipients.status).toBe('fail')
    expect(recipients.detail).toContain('missing age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p')
  })
})
