import {promises as fs} from 'node:fs'
import path from 'node:path'
import {expect} from 'vitest'

import {startTestHost, type TestHost, type TestRepo} from './test-host.js'

/** A k3s server and an agent as two test hosts, reached by one operator. */
export interface TwoHosts {
  /** azalab-0: stand-ins for nixos-rebuild, nixos-version, k3s, kubectl and systemctl. */
  server: TestHost
  /** azalab-1: stand-ins for nixos-rebuild, nixos-version and systemctl (no k3s kubectl: an agent has no API). */
  agent: TestHost
  /** The homelab repository (server.homelabRepo) whose homelab.yaml lists only azalab-0 yet. */
  repo: TestRepo
  /** The agent's host bootstrap flake folder, pinning the repository's remote. */
  agentFlake: string
}

/**
 * Starts two e2e test hosts (each its own sshd, mount namespace, host key, forge and generations)
 * for a server and an agent, and makes them one operator's: the server's HOME (its ssh key and
 * ~/.ssh/config) reaches both, with one sudo password. Adding the agent to homelab.yaml is left
 * to the test (by hand, or with `homelab host add`).
 */
export async function startServerAndAgent(): Promise<TwoHosts> {
  const [server, agent] = await Promise.all([
    startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']}),
    startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'systemctl']}),
  ])
  const repo = await server.homelabRepo({hostName: 'azalab-0'})
  const {flakeDir: agentFlake} = await agent.hostFlake({hostName: 'azalab-1', remote: repo.remote})
  await fs.appendFile(agent.authorizedKeys, await fs.readFile(path.join(server.home, '.ssh/id_ed25519.pub'), 'utf8'))
  await fs.appendFile(path.join(server.home, '.ssh/config'), `Host ${agent.alias}\n  HostName 127.0.0.1\n  Port ${agent.sshPort}\n  User ${agent.user}\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n`)
  await agent.runOnHost(`echo '${agent.user}:${server.sudoPassword}' | chpasswd`)
  return {agent, agentFlake, repo, server}
}

/** The activations a host's STANDIN_ACTIVATION_LOG recorded: `[{at (epoch s), what: start|end, system}]` (stand-in nixos-rebuild). */
export async function activations(file: string): Promise<{at: number; what: string; system: string}[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => {
    const [at, what, system] = l.split(' ')
    return {at: Number(at), system, what}
  })
}

/** Asserts from both hosts' activation logs: each switched once, the agent only after the server's switch ended. */
export async function expectServerThenAgent(serverLog: string, agentLog: string): Promise<void> {
  const [s, a] = [await activations(serverLog), await activations(agentLog)]
  expect(s.map((x) => x.what)).toEqual(['start', 'end'])
  expect(a.map((x) => x.what)).toEqual(['start', 'end'])
  // The agent's switch started after the server's ended (2 s each: no overlap by chance).
  expect(a[0].at).toBeGreaterThan(s[1].at)
}
