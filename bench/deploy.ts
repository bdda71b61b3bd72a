#!/usr/bin/env -S node --import tsx
/**
 * bench/deploy: `homelab deploy` with nothing new against the e2e test host (real sshd, sudo with
 * a password, git, nix; stand-ins for nixos-rebuild/nixos-version), measured three ways in the
 * same run:
 *   - the CLI's wall time (built CLI, bin/run.js, `--yes --no-validate --sudo-password-stdin`);
 *   - the remote commands' own time: the same commands run on the host directly (as root in its
 *     namespace, no SSH), in sequence, plus the local `git push`;
 *   - the same flow done by hand as separate `ssh host CMD` invocations, one per step, in sequence.
 * Prints the medians, the CLI overhead (wall minus remote commands; target <= 1.0 s) and the ratio
 * CLI / separate invocations (target <= 0.5x). Validation is left out on both sides (--no-validate).
 *
 * Usage: bench/deploy [--runs N]   (needs root, like the e2e tests)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {NIX_FLAGS} from '../src/lib/deploy/nix.js'
import {buildCommand, CURRENT_SYSTEM, DETECT_SYSTEMD, lockPath} from '../src/lib/deploy/remote.js'
import {shellJoin} from '../src/lib/ssh/shell.js'
import {startTestHost} from '../test/e2e/host/test-host.js'
import {buildCli, formatRatio, interleavedMedians, median, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 5)

const host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version']})
try {
  const [repo, built] = await Promise.all([host.homelabRepo({nixos: true}), buildCli()])
  const env = {...host.env, NO_COLOR: '1'}
  const knownHosts = path.join(host.home, '.ssh/known_hosts')
  // OpenSSH looks the key up under HostName ([127.0.0.1]:port); the CLI pins it under the alias.
  await fs.writeFile(knownHosts, `${host.knownHostsLine.replace(`[${host.alias}]`, "[127.0.0.1]")}\n`)
  const flake = repo.flakeDir
  const lock = lockPath(flake)

  // The remote commands of a deploy with nothing new, in the CLI's order (root ones marked).
  const steps: Array<{cmd: string; root?: boolean}> = [
    {cmd: `flock -n ${lock} true`},
    {cmd: 'nix --version'},
    {cmd: `cat ${flake}/flake.lock`},
    {cmd: 'nixos-rebuild list-generations --json'},
    {cmd: CURRENT_SYSTEM},
    {cmd: DETECT_SYSTEMD},
    {cmd: 'true', root: true}, // the sudo password check
    {cmd: `cp -p ${flake}/flake.lock ${flake}/flake.lock.bench && ${shellJoin(['nix', ...NIX_FLAGS, 'flake', 'lock', '--update-input', 'homelab', flake])}`, root: true},
    {cmd: `cat ${flake}/flake.lock`},
    {cmd: buildCommand(flake, repo.hostName), root: true},
    {cmd: `${shellJoin(['nix', ...NIX_FLAGS, 'store', 'diff-closures'])} $(readlink -f /run/current-system) $(readlink -f /run/current-system)`, root: true},
  ]

  const gitPush = async () => execa('git', ['push', '--quiet', 'origin', 'main'], {cwd: repo.dir, env})

  const remoteOnly = async () =>
    (
      await timed(async () => {
        await gitPush()
        for (const s of steps) await host.runOnHost(s.cmd)
      })
    ).ms

  const byHand = async () =>
    (
      await timed(async () => {
        await gitPush()
        for (const s of steps) {
          const cmd = s.root ? `sudo -k -S -p '' -- sh -c ${shellJoin([s.cmd])}` : s.cmd
          const r = await execa('ssh', ['-F', path.join(host.home, '.ssh/config'), '-i', path.join(host.home, '.ssh/id_ed25519'), '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`, host.alias, cmd], {
            env,
            input: s.root ? `${host.sudoPassword}\n` : '',
            reject: false,
          })
          if (r.exitCode !== 0) throw new Error(`ssh ${cmd}: ${r.stderr}`)
        }
      })
    ).ms

  const stepMs: Record<string, number[]> = {}
  const conns = new Set<number>()
  const cli = async () => {
    const before = await host.connections()
    const {ms, value: r} = await timed(() =>
      execa(process.execPath, [built.bin, 'deploy', '--yes', '--no-validate', '--sudo-password-stdin', '--json'], {cwd: repo.dir, env, input: `${host.sudoPassword}\n`, reject: false}),
    )
    if (r.exitCode !== 0) throw new Error(`homelab deploy exited ${r.exitCode}: ${r.stderr}\n${r.stdout}`)
    const json = JSON.parse(r.stdout) as {preflight: {durationMs: number}; hosts: Array<{changed: boolean; steps: Array<{step: string; ms: number}>}>}
    for (const s of [{ms: json.preflight.durationMs, step: 'preflight'}, ...json.hosts[0].steps]) (stepMs[s.step] ??= []).push(s.ms)
    if (json.hosts[0].changed !== false) throw new Error('the bench deploy was expected to have nothing new')
    conns.add((await host.connections()) - before)
    return ms
  }

  // First deploy: a change, so that every later one has nothing new.
  await repo.commit('nixos/README-bench.md', 'bench\n', 'bench change')
  const first = await execa(process.execPath, [built.bin, 'deploy', '--yes', '--no-validate', '--sudo-password-stdin'], {cwd: repo.dir, env, input: `${host.sudoPassword}\n`, reject: false})
  if (first.exitCode !== 0) throw new Error(`first deploy failed: ${first.stdout}\n${first.stderr}`)
  await cli() // warm-up
  await byHand()
  conns.clear()

  const {hand: h, remote: r, wall: w} = await interleavedMedians(runs, {remote: remoteOnly, hand: byHand, wall: cli})
  console.log(`bench/deploy: a deploy with nothing new, ${runs} runs each, medians`)
  console.log(`  remote commands' own time (${steps.length} commands on the host + git push)   ${r.toFixed(0)} ms`)
  console.log(`  by hand: ${steps.length} x ssh host CMD in sequence + git push                  ${h.toFixed(0)} ms`)
  console.log(`  homelab deploy (built CLI, one connection)                          ${w.toFixed(0)} ms`)
  console.log(`  CLI overhead (wall minus remote commands) ${(w - r).toFixed(0)} ms (target <= 1000 ms)`)
  console.log(`  ratio CLI / separate invocations ${formatRatio(w / h, {atMost: 0.5})}`)
  console.log(`  SSH connections per deploy: ${[...conns].join(', ')} (nothing activated, so no confirm connection)`)
  console.log(`  CLI step medians: ${Object.entries(stepMs).map(([s, v]) => `${s} ${Math.round(median(v))} ms`).join(', ')}`)
  await built.remove()
} finally {
  await host.stop()
}
