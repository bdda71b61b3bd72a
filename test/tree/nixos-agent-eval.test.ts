// The module set evaluated for an agent host, the same method as test/tree/nixos-module-eval.test.ts
// (real nix-instantiate, test/helpers/nixos-eval/eval.nix, stub lib): a copy of the bundled homelab
// gets a second host from the real `host add` planner (src/lib/host/add/plan.ts), then both hosts
// are evaluated. A missing nix-instantiate skips locally and FAILS under CI=true.
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {expectedHostsFile} from '../../src/lib/config/hosts-file.js'
import {loadHomelab} from '../../src/lib/config/load.js'
import {planHostAdd} from '../../src/lib/host/add/plan.js'
import {runCli} from '../helpers/cli.js'
import {copyBundledHomelab} from '../helpers/copy-homelab.js'
import {haveTool} from '../helpers/have-tool.js'
import {withTestNixConfig} from '../helpers/nix-config.js'

const HARNESS = path.resolve(import.meta.dirname, '../helpers/nixos-eval/eval.nix')
const CI = process.env.CI === 'true'
const present = haveTool('nix-instantiate')
const repo = copyBundledHomelab('homelab-agent-eval-')
afterAll(() => rmSync(repo, {force: true, recursive: true}))

function evaluate(configuration: string): any {
  const out = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', HARNESS, '--arg', 'repo', repo, '--argstr', 'configuration', configuration], {
    encoding: 'utf8',
    env: {...process.env, NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)},
    maxBuffer: 16 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return JSON.parse(out)
}

describe('an agent host (host add planner + module evaluation)', () => {
  it.skipIf(!present && !CI)('the agent joins the server with the shared token; node ports only on the named interface', async () => {
    if (!present) throw new Error('nix-instantiate is not installed (scripts/install-test-tools.sh installs it)')
    const homelab = await loadHomelab({cwd: repo, repo})
    const plan = await planHostAdd(homelab, {address: undefined, diskDevice: '/dev/sda', labels: {'homelab.dev/gpu': 'true', 'node-role.kubernetes.io/worker': 'true', 'node.kubernetes.io/pool': 'ml'}, name: 'azalab-1', nodeInterfaces: ['enp2s0'], role: 'agent', ssh: 'aiden@10.0.0.21', tags: ['ml']})
    for (const c of plan.changes) {
      mkdirSync(path.dirname(c.path), {recursive: true})
      writeFileSync(c.path, c.after!)
    }

    const agent = evaluate('nixos/hosts/azalab-1/configuration.nix')
    expect(agent.hostConfigurations).toEqual(['azalab-0', 'azalab-1'])
    expect(agent.summary.failedAssertions).toEqual([])
    expect(agent.summary.hostName).toBe('azalab-1')
    expect(agent.summary.diskDevice).toBe('/dev/sda')
    expect(agent.summary.k3s).toMatchObject({disable: [], extraFlags: ['--flannel-iface=enp2s0', '--node-label=homelab.dev/gpu=true', '--node-label=node.kubernetes.io/pool=ml'], nodeName: 'azalab-1', role: 'agent', serverAddr: 'https://azalab-0:6443', tokenFile: '/run/secrets/k3s/token'})
    expect(agent.summary.sops.secrets['k3s/token']).toMatchObject({key: 'k3s/token'})
    expect(agent.summary.firewall.interfaces).toEqual({enp2s0: {allowedTCPPorts: [10250], allowedUDPPorts: [8472]}})
    expect(agent.summary.firewall.allowedTCPPorts).toEqual([22, 6443])
    // Its own Kopia repository goes to its own sibling prefix and marker, never the server's.
    expect(agent.summary.offsiteSync).toEqual({bucket: 'azalab-kopia', markerKey: 'homelab/offsite-protection-azalab-1.json', prefix: 'kopia-azalab-1/'})
    // every bundled app is pinned to azalab-0: the agent creates no app folder
    expect(agent.summary.tmpfiles).toEqual(['d /srv 0755 root root -'])

    const server = evaluate('nixos/configuration.nix')
    expect(server.summary.failedAssertions).toEqual([])
    expect(server.summary.k3s).toMatchObject({disable: ['traefik'], role: 'server', serverAddr: '', tokenFile: '/run/homelab/k3s-server-token'})
    // The server starts with the password part of the full token agents join with (a rebuilt
    // server's new CA would not match the hash of a full token): the unit's script, run for real.
    const unit = server.summary.k3sServerToken as {script: string; requiredBy: string[]; before: string[]; serviceConfig: Record<string, unknown>}
    expect(unit).toMatchObject({before: ['k3s.service'], requiredBy: ['k3s.service'], serviceConfig: {RemainAfterExit: true, Type: 'oneshot', UMask: '0077'}})
    const dir = mkdtempSync(path.join(tmpdir(), 'homelab-k3s-token-'))
    try {
      for (const [token, expected] of [['K10' + 'ab12'.repeat(16) + '::server:s3cr3t-Pass\n', 's3cr3t-Pass\n'], ['0f9e8d7c6b5a\n', '0f9e8d7c6b5a\n']]) {
        writeFileSync(path.join(dir, 'secret'), token)
        const script = unit.script.replaceAll('/run/secrets/k3s/token', path.join(dir, 'secret')).replaceAll('/run/homelab', path.join(dir, 'run'))
        execFileSync('bash', ['-euo', 'pipefail', '-c', script])
        expect(readFileSync(path.join(dir, 'run/k3s-server-token'), 'utf8')).toBe(expected)
      }
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }

    expect(server.summary.k3s.extraFlags).toEqual(['--write-kubeconfig-mode=0600', '--secrets-encryption'])
    expect(server.summary.tmpfiles).toContain('d /srv/immich 0750 1000 1000 -')
    // The server keeps backup.json's prefix and the original marker (no migration).
    expect(server.summary.offsiteSync).toEqual({bucket: 'azalab-kopia', markerKey: 'homelab/offsite-protection.json', prefix: 'kopia/'})
  }, 180_000)

  it('validate: with two hosts every host names its node interfaces, and nixos/hosts.json follows homelab.yaml', async () => {
    // Runs after the test above added azalab-1 (with enp2s0) to the copy; azalab-0 names none.
    const findings = async () => {
      const r = await runCli(['validate', '--json', '--repo', repo])
      return (JSON.parse(r.stdout) as {checks: Array<{id: string; findings: Array<{file: string; message: string; severity: string}>}>}).checks.find((c) => c.id === 'config')!.findings.filter((f) => f.severity === 'error').map((f) => `${f.file}: ${f.message}`)
    }

    expect(await findings()).toEqual([
      "homelab.yaml: host azalab-0: nodeInterfaces is empty; with more than one host, name the LAN interface the nodes reach each other on (e.g. nodeInterfaces: [enp1s0]): k3s's node ports open only there",
    ])
    const yamlFile = path.join(repo, 'homelab.yaml')
    const doc = parseDocument(readFileSync(yamlFile, 'utf8'))
    doc.setIn(['hosts', 0, 'nodeInterfaces'], doc.createNode(['enp1s0']))
    writeFileSync(yamlFile, doc.toString())
    // hosts.json not rewritten: out of sync.
    expect((await findings()).join('\n')).toContain("nixos/hosts.json: out of sync with homelab.yaml hosts: (a host's role, address, labels, interfaces or configuration file differ)")
    const homelab = await loadHomelab({cwd: repo, repo})
    writeFileSync(path.join(repo, 'nixos/hosts.json'), expectedHostsFile(homelab))
    expect(await findings()).toEqual([])
  }, 180_000)
})
