// The e2e test host itself (test/e2e/host/test-host.ts): stop() leaves nothing running. Real
// sshd, sudo and setsid; the leftovers are what deploys leave on a host (a magic-rollback timer
// in its own session with a `sleep` child, a detached root process, a session of the test user).
import {randomBytes} from 'node:crypto'
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {startTestHost} from './host/test-host.js'

/** Live, non-zombie processes whose command line contains `needle`. */
async function processesWith(needle: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const status = await fs.readFile(`/proc/${entry}/status`, 'utf8').catch(() => '')
    if (status === '' || /^State:\s+Z/m.test(status)) continue
    const cmdline = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')
    if (cmdline.includes(needle)) found.push(`${entry} ${cmdline}`)
  }

  return found
}

describe('the e2e test host', () => {
  it('stop() ends every process it started: rollback process groups, root processes in its namespace, the user\'s processes', async () => {
    const host = await startTestHost()
    // Unique sleep durations make the processes findable by command line.
    const n = 3000 + Number.parseInt(randomBytes(2).toString('hex'), 16)
    const [timer, detached, user] = [`${n}.1`, `${n}.2`, `${n}.3`]
    try {
      // A magic-rollback timer as deploy arms it: setsid+nohup, its pid file under /run/homelab.
      await host.runOnHost(
        `mkdir -p /run/homelab && cd / && { setsid nohup sh -c 'sleep ${timer}; echo nixos-rebuild switch --rollback' < /dev/null > /dev/null 2>&1 & echo $! > /run/homelab/homelab-rollback-test.pid; }`,
      )
      // A root process in the host's namespace that recorded no pid anywhere.
      await host.runOnHost(`setsid nohup sleep ${detached} < /dev/null > /dev/null 2>&1 &`)
      // A process of the test user (as an SSH session would leave it).
      await host.runOnHost(`setsid nohup su -s /bin/sh -c 'sleep ${user}' ${host.user} < /dev/null > /dev/null 2>&1 &`)
      const deadline = Date.now() + 10_000
      while ((await processesWith(`sleep ${user}`)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      for (const d of [timer, detached, user]) expect(await processesWith(`sleep ${d}`), d).not.toEqual([])
    } finally {
      await host.stop()
    }

    for (const d of [timer, detached, user]) expect(await processesWith(`sleep ${d}`), d).toEqual([])
    expect(await processesWith(host.hostRoot)).toEqual([])
  })

  it('nix as root over SSH and sudo (environment reset, no NIX_CONFIG) builds with the host\'s nix.conf: no nixbld group, no sandbox needed', async () => {
    const host = await startTestHost()
    try {
      // A derivation never built before (unique name), so nix really runs its builder.
      const name = `hl-conf-${randomBytes(4).toString('hex')}`
      const expr = `derivation { name = "${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ok > $out" ]; }`
      const r = await execa(
        'ssh',
        ['-p', String(host.sshPort), '-i', path.join(host.home, '.ssh/id_ed25519'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', `${host.user}@127.0.0.1`, `sudo -S -p '' nix-build --no-out-link -E '${expr}'`],
        {env: {NIX_CONFIG: undefined}, extendEnv: true, input: `${host.sudoPassword}\n`, reject: false},
      )
      expect(r.stderr).not.toContain('nixbld')
      expect(r.exitCode, r.stderr).toBe(0)
      expect(r.stdout).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-${name}$`))
    } finally {
      await host.stop()
    }
  })
})
