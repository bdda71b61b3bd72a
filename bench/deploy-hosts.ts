#!/usr/bin/env -S node --import tsx
/**
 * bench/deploy-hosts: `homelab deploy` with nothing new to 1, 2 and 4 hosts: four e2e test hosts
 * (each its own sshd, mount namespace, host key, forge and generations; stand-ins for
 * nixos-rebuild/nixos-version/systemctl and, on the server, k3s kubectl), one repository listing
 * them as a k3s server and three agents. With nothing new nothing is activated, so the run is the
 * build phase: connect, lock, fetch check, push, inspect, flake input update, nixos-rebuild build
 * and the closure diff, on every selected host in parallel. Prints the medians and the ratio
 * 4 hosts / 1 host (target <= 1.5x). Hosts are chosen with `--on`.
 *
 * Usage: bench/deploy-hosts [--runs N]   (needs root, like the e2e tests)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'

import {startTestHost, type TestHost} from '../test/e2e/host/test-host.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 3)
const NAMES = ['azalab-0', 'azalab-1', 'azalab-2', 'azalab-3']
const hosts: TestHost[] = await Promise.all(NAMES.map((_, i) => startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'systemctl', ...(i === 0 ? ['k3s', 'kubectl'] : [])]})))
try {
  const [server, ...agents] = hosts
  const [repo, built] = await Promise.all([server.homelabRepo({hostName: NAMES[0]}), buildCli()])
  const doc = parseDocument(await fs.readFile(path.join(repo.dir, 'homelab.yaml'), 'utf8'))
  doc.setIn(['hosts', 0, 'role'], 'server')
  const serverKey = await fs.readFile(path.join(server.home, '.ssh/id_ed25519.pub'), 'utf8')
  await Promise.all(
    agents.map(async (agent, i) => {
      const {flakeDir} = await agent.hostFlake({hostName: NAMES[i + 1], remote: repo.remote})
      await fs.appendFile(agent.authorizedKeys, serverKey)
      await agent.runOnHost(`echo '${agent.user}:${server.sudoPassword}' | chpasswd`)
      return {agent, flakeDir, name: NAMES[i + 1]}
    }),
  ).then(async (joined) => {
    for (const {agent, flakeDir, name} of joined) {
      doc.addIn(['hosts'], doc.createNode({flakeDir, flakeInput: 'homelab', name, role: 'agent', ssh: agent.alias}))
      await fs.appendFile(path.join(server.home, '.ssh/config'), `Host ${agent.alias}\n  HostName 127.0.0.1\n  Port ${agent.sshPort}\n  User ${agent.user}\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n`)
      await fs.appendFile(path.join(repo.dir, 'known_hosts'), `${agent.knownHostsLine}\n`)
    }
  })
  await fs.writeFile(path.join(repo.dir, 'homelab.yaml'), doc.toString())
  await repo.git(['commit', '-q', '-am', 'bench: a server and three agents'])

  const env = {...server.env, NO_COLOR: '1'}
  const deploy = async (on: string) => {
    const r = await execa(process.execPath, [built.bin, 'deploy', '--yes', '--no-validate', '--no-gate', '--sudo-password-stdin', '--json', '--on', on], {cwd: repo.dir, env, input: `${server.sudoPassword}\n`, reject: false})
    if (r.exitCode !== 0) throw new Error(`homelab deploy --on ${on} exited ${r.exitCode}: ${r.stderr}\n${r.stdout}`)
    return JSON.parse(r.stdout) as {hosts: {host: string; changed: boolean}[]}
  }

  // First deploy everywhere: the commit above is new to every host; afterwards nothing is.
  await deploy(NAMES.join(','))
  const measure = (count: number) => async () => {
    const {ms, value} = await timed(() => deploy(NAMES.slice(0, count).join(',')))
    if (value.hosts.length !== count || value.hosts.some((h) => h.changed !== false)) throw new Error(`expected ${count} hosts with nothing new: ${JSON.stringify(value.hosts)}`)
    return ms
  }

  const m = await interleavedMedians(runs, {four: measure(4), one: measure(1), two: measure(2)})
  console.log(`bench/deploy-hosts: homelab deploy with nothing new (the build phase), median of ${runs} runs`)
  console.log(`  1 host  (server)              ${m.one.toFixed(0).padStart(7)} ms`)
  console.log(`  2 hosts (server + 1 agent)    ${m.two.toFixed(0).padStart(7)} ms   ratio 2/1: ${(m.two / m.one).toFixed(2)}x`)
  console.log(`  4 hosts (server + 3 agents)   ${m.four.toFixed(0).padStart(7)} ms`)
  console.log(`  ratio 4 hosts / 1 host: ${formatRatio(m.four / m.one, {atMost: 1.5})}`)
  await built.remove()
} finally {
  await Promise.all(hosts.map((h) => h.stop()))
}
