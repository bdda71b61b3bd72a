// Confirming a switch cancels the magic-rollback timer, and that must not depend on when ended
// processes are reaped. Here sshd, and so every detached run on the host, sits under a SLOW
// REAPER (test-host `reaperDelaySeconds`): the timer's processes, once killed, stay zombies for
// 8 s, which `kill -0 -PGID` still counts as alive. The confirmation must still be quick, the
// deploy succeed, and the rollback never happen. Real sshd, sudo, git and nix; nixos-rebuild and
// nixos-version are stand-ins; no systemd, so the timer runs with setsid.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

const REAPER_DELAY_S = 8
let host: TestHost
let repo: TestRepo

beforeAll(async () => {
  host = await startTestHost({reaperDelaySeconds: REAPER_DELAY_S, standIns: ['nixos-rebuild', 'nixos-version']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
})
afterAll(async () => host?.stop())

/** `pid comm state` of the slow reaper's children that are zombies (ended, not reaped yet). */
async function zombieChildren(): Promise<string[]> {
  const found: string[] = []
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    const m = /^\d+ \((.*)\) (\S) (\d+) /s.exec(stat)
    if (m && m[2] === 'Z' && Number(m[3]) === host.reaperPid) found.push(`${entry} ${m[1]}`)
  }

  return found
}

describe('confirming a switch under a slow reaper', () => {
  it('cancels the rollback timer at once although its killed processes stay zombies; the rollback never happens', async () => {
    const commit = await repo.commit('nixos/README-deploy-test.md', 'slow reaper\n', 'change under a slow reaper')
    const before = await host.runOnHost('readlink -f /run/current-system')
    const confirmTimeout = 6
    const started = Date.now()
    const r = await runCli(['deploy', '--repo', repo.dir, '--yes', '--no-validate', '--json', '--confirm-timeout', String(confirmTimeout), '--sudo-password-stdin'], {
      env: host.env,
      input: `${host.sudoPassword}\n`,
    })
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const h = (JSON.parse(r.stdout) as {hosts: Array<{magicRollback: string; configurationRevision: string; steps: Array<{step: string; ms: number}>}>}).hosts[0]
    expect(h).toMatchObject({configurationRevision: commit, magicRollback: 'armed-and-confirmed'})
    const confirmMs = h.steps.find((s) => s.step === 'confirm')!.ms
    console.log(`confirm step under a ${REAPER_DELAY_S} s reaper: ${confirmMs} ms`)
    expect(confirmMs).toBeLessThan(4000) // a new connection + 3 remote commands; waiting on the zombies took ≥ 5 s and failed

    // The timer's killed processes are still zombies of the reaper: that is what the old check counted as alive.
    const [timer] = (await host.runOnHost('ls /run/homelab')).split('\n').filter((f) => f.startsWith('homelab-rollback-') && f.endsWith('.log')).map((f) => f.slice(0, -4))
    expect(await zombieChildren()).toEqual(expect.arrayContaining([expect.stringMatching(/ (sh|sleep)$/)]))
    const files = (await host.runOnHost('ls /run/homelab')).split('\n')
    expect(files).toContain(`${timer}.cancelled`)
    expect(files).not.toContain(`${timer}.pending`)
    expect(files).not.toContain(`${timer}.pid`)

    // Past the confirm timeout, the host still runs the deployed system; the timer never fired.
    const deployed = await host.runOnHost('readlink -f /run/current-system')
    expect(deployed).not.toBe(before)
    await new Promise((res) => setTimeout(res, Math.max(0, started + (confirmTimeout + 3) * 1000 - Date.now())))
    expect(await host.runOnHost('readlink -f /run/current-system')).toBe(deployed)
    expect(await host.runOnHost(`cat /run/homelab/${timer}.log; ls /run/homelab`)).not.toMatch(new RegExp(`magic rollback|${timer}\\.(fired|exit)`))
    expect(await fs.readFile(path.join(repo.flakeDir, 'flake.lock'), 'utf8')).toContain(commit)
  })
})
