// `homelab deploy` / `homelab rollback` end to end on the e2e test host: real sshd (connections
// counted from its VERBOSE log), real sudo with a password, real git (a local bare repo is the
// remote the CLI pushes to; root on the host fetches it over SSH from the test host's forge sshd
// with a deploy key, its host key pinned, as a real host fetches GitHub: see
// test/e2e/host/test-host.ts), real nix 2.x (Debian's nix-bin: the flake update goes through the `nix flake lock
// --update-input` branch of the version switch for real, and `nix store diff-closures` compares
// real store paths). Only nixos-rebuild and nixos-version are stand-ins (test/e2e/stand-ins/).
// The host has no systemd, so activation and the magic-rollback timer run detached with
// setsid+nohup; the tests assert that this is the path that ran.
import {execa} from 'execa'
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli, testCacheHome} from '../helpers/cli.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
})
afterAll(async () => host?.stop())

const deploy = (args: string[], options: {password?: string | null; timeout?: number} = {}) =>
  runCli(['deploy', '--repo', repo.dir, ...args, ...(options.password === null ? [] : ['--sudo-password-stdin'])], {
    env: host.env,
    input: options.password === null ? '' : `${options.password ?? host.sudoPassword}\n`,
    timeout: options.timeout ?? 120_000,
  })
const running = () => host.runOnHost('readlink -f /run/current-system')
const flakeLock = () => fs.readFile(path.join(repo.flakeDir, 'flake.lock'), 'utf8')
const generations = async () => JSON.parse(await host.runOnHost('nixos-rebuild list-generations --json')) as Array<{generation: number; current: boolean; configurationRevision: string}>
const currentGen = async () => (await generations()).find((g) => g.current)!
/** The detached runs' logs on the host (`/run/homelab/<name>.log`), by name. */
const detachedRuns = async (prefix: string) => (await host.runOnHost(`ls /run/homelab 2>/dev/null || true`)).split('\n').filter((f) => f.startsWith(prefix) && f.endsWith('.log')).map((f) => f.slice(0, -4))
/** Live processes (any namespace: they share the pid namespace) whose command line contains `needle`. */
async function processesWith(needle: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const cmdline = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')
    if (cmdline.includes(needle)) found.push(`${entry} ${cmdline}`)
  }

  return found
}
type HostJson = {ok: boolean; previousGeneration: number; generation: number; changed: boolean; pinnedRev: string; configurationRevision: string; activation: string; magicRollback: string; connections: number; nixVersion: string; flakeUpdateCommand: string; closureChanges: Array<{name: string; from: string[]; to: string[]}>; steps: Array<{step: string; ms: number; ok: boolean}>; error?: {step: string; message: string; lastLines: string[]; stillOnPreviousGeneration: boolean; flakeLockRestored: boolean}}

// Every deploy here is a full run against a real sshd and nix; with all suites in parallel on a
// two-core CI machine one run can take most of the default 60 s.
describe('homelab deploy on the e2e host', {timeout: 180_000}, () => {
  it('--dry-run prints every step and remote command and makes no connection', async () => {
    const before = await host.connections()
    const remoteHead = await repo.git(['ls-remote', 'origin', 'refs/heads/main'])
    const commit = await repo.commit('README.md', 'dry run change\n', 'dry run change')
    const r = await deploy(['--dry-run', '--no-validate'], {password: null})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`dry run: switch of ${commit.slice(0, 12)} (main); nothing is contacted`)
    for (const s of ['connect', 'lock', 'fetch-check', 'inspect', 'flake-update', 'build', 'closure-diff', 'arm-rollback', 'activate', 'confirm (on a new connection)'])
      expect(r.stdout).toContain(`▸ ${s}`)
    expect(r.stdout).toContain(`[root] cp -p ${repo.flakeDir}/flake.lock ${repo.flakeDir}/flake.lock.homelab-deploy-backup && nix --extra-experimental-features 'nix-command flakes' flake lock --update-input homelab ${repo.flakeDir}   (older Nix)`)
    expect(r.stdout).toContain(`✓ preflight  validate skipped (--no-validate), tree clean, on main (HEAD ${commit.slice(0, 12)})`)
    expect(r.stdout).toContain('Would push origin main once every host below is connected and locked, then run the rest:')
    expect(r.stdout).toContain(`nixos-rebuild build --flake '${repo.flakeDir}#azalab-0'`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await host.connections()).toBe(before) // sshd's log shows no connection
    expect(await repo.git(['ls-remote', 'origin', 'refs/heads/main'])).toBe(remoteHead) // nothing pushed
    const json = await deploy(['--dry-run', '--no-validate', '--json'], {password: null})
    const plan = JSON.parse(json.stdout) as {dryRun: boolean; commit: string; hosts: unknown[]; plan: Record<string, Array<{step: string; where: string; commands: string[]}>>}
    expect(plan).toMatchObject({commit, dryRun: true, hosts: [], pushed: false})
    expect(plan.plan['azalab-0'].map((s) => s.where)).toEqual(['host', 'host', 'host', 'host', 'host', 'host', 'host', 'host', 'host', 'confirm'])
    expect(await host.connections()).toBe(before)
  })

  it('homelab rollback with a single generation refuses, naming why, and changes nothing', async () => {
    const system = await running()
    const r = await runCli(['rollback', '--repo', repo.dir, '--yes', '--sudo-password-stdin'], {env: host.env, input: `${host.sudoPassword}\n`})
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('✗ azalab-0: step inspect failed: no generation before 1 to roll back to\n')
    expect(r.stderr).toContain('Error: azalab-0: inspect failed: no generation before 1 to roll back to\n')
    expect(await running()).toBe(system)
  })

  it('happy path: validates, pushes, locks, updates the input with the old-Nix command, builds, diffs, switches detached, confirms on ONE new connection', async () => {
    await host.setScenario({STANDIN_HELLO_SIZE: '300000', STANDIN_HELLO_VERSION: '2.12.2'})
    const commit = await repo.commit('nixos/README-deploy-test.md', 'happy path\n', 'happy path change')
    // The host flake's other inputs have news too (a new sops-nix commit, a changed disko tree):
    // a deploy that re-locked every input would move them.
    await fs.writeFile(path.join(repo.inputs.sopsNix, 'CHANGELOG'), 'a newer sops-nix\n')
    await execa('git', ['-C', repo.inputs.sopsNix, 'add', 'CHANGELOG'], {env: host.env})
    await execa('git', ['-C', repo.inputs.sopsNix, 'commit', '-qm', 'a newer sops-nix'], {env: host.env})
    await fs.writeFile(path.join(repo.inputs.disko, 'README'), 'a newer disko\n')
    const before = {connections: await host.connections(), gen: await currentGen(), lock: await flakeLock(), logins: await host.logins(), rollbacks: await detachedRuns('homelab-rollback-'), system: await running()}
    const started = Date.now()
    const r = await deploy(['--yes', '--confirm-timeout', '10'])
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const out = r.stdout
    expect(out).toMatch(/✓ preflight {2}validate (passed|skipped[^,]*), tree clean, on main/)
    // The push comes once the host is connected and locked, before anything changes on it.
    // So does the fetch check: root on the host reached the input's remote over SSH with the deploy key.
    expect(out).toMatch(new RegExp(`✓ connect .*\\n(.*\\n)*✓ lock .*\\n▸ fetch-check.*\\n✓ fetch-check  ${repo.inputUrl.replaceAll(/[.?+]/g, '\\$&')}: main at [0-9a-f]{12} .*\\n✓ push {2}pushed origin/main ${commit.slice(0, 12)} .*\\n▸ inspect`))
    expect(out).toContain('✓ inspect  generation 1, nix 2.8.0, activation via setsid')
    expect(out).toContain("• Updated input 'homelab':") // real nix's own output, streamed live
    expect(out).toContain(`✓ flake-update  homelab → ${commit.slice(0, 12)}`)
    expect(out).toMatch(/│ hello: 2\.12\.1 → 2\.12\.2, \+195\.3 KiB/) // real nix store diff-closures
    expect(out).toContain('│ activating the configuration...') // followed from the detached run's log
    expect(out).toContain(`✓ azalab-0: generation ${before.gen.generation} → ${before.gen.generation + 1}`)
    expect(out).toContain(`  pinned commit          ${commit}`)
    expect(out).toContain(`  configuration revision ${commit}`)
    expect(out).toContain('activation             detached via setsid; magic rollback armed-and-confirmed')
    for (const step of ['connect', 'lock', 'fetch-check', 'inspect', 'flake-update', 'build', 'closure-diff', 'arm-rollback', 'activate', 'confirm']) expect(out).toMatch(new RegExp(`steps .*${step} \\d`))

    // One SSH connection for all the steps plus one that confirms, counted in sshd's log.
    expect((await host.connections()) - before.connections).toBe(2)
    expect((await host.logins()) - before.logins).toBe(2)
    // The host runs the new generation, built from the pushed commit; the lock and backup are gone.
    const now = await currentGen()
    expect(now.generation).toBe(before.gen.generation + 1)
    expect(now.configurationRevision).toBe(commit)
    expect(await running()).not.toBe(before.system)
    expect(JSON.parse(await flakeLock()).nodes.homelab.locked.rev).toBe(commit)
    expect(await host.runOnHost(`ls ${repo.flakeDir}`)).not.toContain('homelab-deploy-backup')
    // flake.lock moved ONLY the homelab input: every other node is byte-identical, and the
    // assertion can fail: re-locking everything (`nix flake update` on nix < 2.19, without an
    // input name) moves sops-nix and disko in a copy of the same flake.
    const otherNodes = (text: string) => {
      const {nodes, ...rest} = JSON.parse(text) as {nodes: Record<string, unknown>}
      return JSON.stringify({...rest, nodes: Object.fromEntries(Object.entries(nodes).filter(([name]) => name !== 'homelab'))})
    }
    expect(Object.keys(JSON.parse(before.lock).nodes).sort()).toEqual(['disko', 'homelab', 'root', 'sops-nix'])
    expect(otherNodes(await flakeLock())).toBe(otherNodes(before.lock))
    expect(JSON.parse(await flakeLock()).nodes.homelab).not.toEqual(JSON.parse(before.lock).nodes.homelab)
    const copy = `${repo.flakeDir}-relock-all`
    await host.runOnHost(`rm -rf '${copy}' && cp -r '${repo.flakeDir}' '${copy}' && nix flake update '${copy}' 2>&1`)
    const relocked = JSON.parse(await fs.readFile(path.join(copy, 'flake.lock'), 'utf8')) as {nodes: Record<string, {locked: {rev?: string; narHash: string}}>}
    await fs.rm(copy, {force: true, recursive: true})
    expect(relocked.nodes['sops-nix'].locked.rev).not.toBe(JSON.parse(before.lock).nodes['sops-nix'].locked.rev)
    expect(relocked.nodes.disko.locked.narHash).not.toBe(JSON.parse(before.lock).nodes.disko.locked.narHash)
    // The magic rollback timer was cancelled: nothing of it runs any more, and no rollback
    // happens once its 10 s have passed.
    const rollbacks = (await detachedRuns('homelab-rollback-')).filter((n) => !before.rollbacks.includes(n))
    expect(rollbacks).toHaveLength(1)
    expect(await processesWith(rollbacks[0])).toEqual([])
    const deployed = await running()
    expect(await host.runOnHost('ls /run/homelab')).not.toContain(`${rollbacks[0]}.pid`)
    await new Promise((res) => setTimeout(res, Math.max(0, started + 13_000 - Date.now())))
    expect(await running()).toBe(deployed)
    expect(await currentGen()).toMatchObject({configurationRevision: commit, generation: before.gen.generation + 1})
    expect(await host.runOnHost(`cat /run/homelab/${rollbacks[0]}.log; ls /run/homelab`)).not.toMatch(new RegExp(`magic rollback|${rollbacks[0]}\\.exit`))
  })

  it('a deploy with nothing new: --json shape, one connection, nothing activated', async () => {
    const before = await host.connections()
    const gen = await currentGen()
    const r = await deploy(['--yes', '--json', '--no-validate'])
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout) as {commit: string; branch: string; pushed: boolean; dryRun: boolean; action: string; hosts: HostJson[]}
    expect(json).toMatchObject({action: 'switch', branch: 'main', dryRun: false, pushed: true})
    expect(json.hosts).toHaveLength(1)
    expect(json.hosts[0]).toMatchObject({
      activation: 'none',
      changed: false,
      configurationRevision: json.commit,
      connections: 1,
      flakeUpdateCommand: `nix --extra-experimental-features 'nix-command flakes' flake lock --update-input homelab ${repo.flakeDir}`,
      generation: gen.generation,
      cancelledRollbacks: [],
      magicRollback: 'not-armed',
      nixVersion: '2.8.0',
      ok: true,
      pinnedRev: json.commit,
      previousGeneration: gen.generation,
    })
    expect(json.hosts[0].steps.map((s) => s.step)).toEqual(['connect', 'lock', 'fetch-check', 'inspect', 'flake-update', 'build', 'closure-diff'])
    expect((await host.connections()) - before).toBe(1)
  })

  it('a failing rebuild stops at build, keeps the previous generation and puts the previous flake.lock back', async () => {
    await host.setScenario({STANDIN_BUILD_FAIL: '1'})
    await repo.commit('nixos/README-deploy-test.md', 'build fails\n', 'change that fails to build')
    const before = {gen: await currentGen(), lock: await flakeLock(), system: await running()}
    const r = await deploy(['--yes', '--no-validate', '--json'])
    await host.setScenario({})
    expect(r.exitCode).toBe(1)
    const error = JSON.parse(r.stdout).error as {exitCode: number; message: string; result: {hosts: HostJson[]}}
    expect(error.exitCode).toBe(1)
    expect(error.message).toBe('azalab-0: build failed: nixos-rebuild build exited with status 1') // the host named once
    const h = error.result.hosts[0]
    expect(h.error).toMatchObject({flakeLockRestored: true, step: 'build', stillOnPreviousGeneration: true})
    expect(h.error!.lastLines.join('\n')).toContain('stand-in build failure')
    expect(await flakeLock()).toBe(before.lock)
    expect(await running()).toBe(before.system)
    expect((await currentGen()).generation).toBe(before.gen.generation)
  })

  it('nix failing (a broken host flake.nix) names the step with nix\'s own error and changes nothing', async () => {
    const flakeNix = path.join(repo.flakeDir, 'flake.nix')
    const good = await fs.readFile(flakeNix, 'utf8')
    await fs.writeFile(flakeNix, good.replace('outputs =', 'outputs = = '))
    const before = {lock: await flakeLock(), system: await running()}
    try {
      const r = await deploy(['--yes', '--no-validate'])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('✗ azalab-0: step flake-update failed')
      expect(r.stdout).toMatch(/│ error: syntax error/)
      expect(r.stdout).toContain('still on its previous generation: yes')
      expect(r.stdout).toContain('previous flake.lock put back: yes')
      expect(r.stderr).toMatch(/^Error: azalab-0: flake-update failed: nix --extra-experimental-features 'nix-command flakes' flake lock --update-input homelab \S+ exited with status 1\n/)
      expect(await flakeLock()).toBe(before.lock)
      expect(await running()).toBe(before.system)
    } finally {
      await fs.writeFile(flakeNix, good)
    }
  })

  it('a wrong sudo password is one clear error, sent on stdin only, and the host is untouched', async () => {
    const before = {lock: await flakeLock(), system: await running()}
    const r = await deploy(['--yes', '--no-validate'], {password: 'not-the-password'})
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain(`✗ azalab-0: step fetch-check failed: sudo on azalab-0 for ${host.user}: the password was rejected`)
    expect(`${r.stdout}${r.stderr}`).not.toContain('not-the-password')
    expect(await fs.readFile(host.sshdLog, 'utf8')).not.toContain('not-the-password')
    expect(await flakeLock()).toBe(before.lock)
    expect(await running()).toBe(before.system)
    // Without a TTY and without a password source it fails at once naming the flag.
    const none = await deploy(['--yes', '--no-validate'], {password: null})
    expect(none.exitCode).toBe(3)
    expect(none.stdout).toContain('--sudo-password-stdin')
  })

  it('without a TTY, --yes is required before anything is contacted', async () => {
    const before = await host.connections()
    const r = await deploy(['--no-validate'])
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('--yes is required when not running in a terminal')
    expect(await host.connections()).toBe(before)
  })

  it('two deploys at once: the second fails at once naming the holder of the host lock', async () => {
    // Long enough that the second run (CLI start, preflight, connect: several seconds on a busy
    // machine) reaches the lock step while the first still holds it.
    await host.setScenario({STANDIN_ACTIVATION_SECONDS: '30'})
    await repo.commit('nixos/README-deploy-test.md', 'slow activation\n', 'slow activation')
    const first = deploy(['--yes', '--no-validate'])
    let firstDone = false
    void first.then(() => { firstDone = true })
    try {
      // Wait until the first one holds the lock (its holder file appears on the host). On a busy
      // CI machine (every suite in parallel on two cores) reaching the lock can take a minute.
      const deadline = Date.now() + 120_000
      const held = async () => (await host.runOnHost('for l in /run/lock/homelab-deploy-*.lock; do flock -n "$l" true || echo held; done')).includes('held')
      while (!(await held()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      expect(await held(), 'the first deploy never took the host lock').toBe(true)
      const second = await deploy(['--yes', '--no-validate', '--no-push'])
      expect(second.exitCode, second.stdout + second.stderr).toBe(1)
      expect(second.stdout).toMatch(/✗ azalab-0: step lock failed: another deploy is running \(\/run\/lock\/homelab-deploy-.*\.lock held by \S+@\S+ pid \d+ since /)
      // "At once": it failed at the lock step while the first run still activated (30 s); it never waited
      // for the lock (a time bound here would only measure how busy the machine is).
      expect(firstDone).toBe(false)
    } finally {
      // Whatever failed above, the first run ends before the next test touches the host.
      const firstResult = await first
      await host.setScenario({})
      expect(firstResult.exitCode, firstResult.stdout).toBe(0)
    }
  }, 300_000)

  it('a lost confirmation rolls back: the new system breaks SSH login, the armed timer switches back', async () => {
    await host.setScenario({STANDIN_SWITCH_BREAKS_SSH: host.authorizedKeys})
    const commit = await repo.commit('nixos/README-deploy-test.md', 'breaks ssh\n', 'config that drops the admin key')
    const before = {gen: await currentGen(), system: await running()}
    const r = await deploy(['--yes', '--no-validate', '--confirm-timeout', '5'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toContain('✗ azalab-0: step confirm failed: the confirmation connection failed: ')
    expect(r.stdout).toContain(`switches back to generation ${before.gen.generation} within 5 s`)
    // Right after: the host runs the new (broken) generation; then the timer rolls it back.
    const deadline = Date.now() + 30_000
    while ((await running()) !== before.system && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250))
    await host.setScenario({})
    expect(await running()).toBe(before.system)
    expect((await currentGen()).configurationRevision).not.toBe(commit)
    // It went back to exactly the generation before (nix-env --switch-generation, then that
    // system's switch-to-configuration), not merely the numerically previous one.
    const log = await host.runOnHost('cat /run/homelab/homelab-rollback-*.log')
    expect(log).toContain(`switching back to generation ${before.gen.generation}`)
    expect(log).toContain('activating the configuration...')
    await fs.access(host.authorizedKeys) // the admin key is back with the old generation
  })

  it('the activation is detached (setsid here, no systemd): killing the CLI mid-activation does not stop it', async () => {
    await host.setScenario({STANDIN_ACTIVATION_SECONDS: '3'})
    const commit = await repo.commit('nixos/README-deploy-test.md', 'detached\n', 'detached activation')
    // Like runCli, but keeping the subprocess to kill it.
    const entry = process.env.HOMELAB_TEST_BUILT === '1' ? ['bin/run.js'] : ['--import', 'tsx', 'bin/dev.js']
    const child = execa(process.execPath, [...entry, 'deploy', '--repo', repo.dir, '--yes', '--no-validate', '--confirm-timeout', '300', '--sudo-password-stdin'], {
      cwd: REPO_ROOT, env: {...host.env, NO_COLOR: '1', XDG_CACHE_HOME: testCacheHome()}, input: `${host.sudoPassword}\n`, reject: false,
    })
    let seen = ''
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        seen += String(d)
        if (seen.includes('│ activating the configuration...')) resolve()
      })
    })
    child.kill('SIGKILL') // the SSH connection drops with the process
    const killed = await child
    expect(killed.exitCode).not.toBe(0)
    expect((await currentGen()).configurationRevision).not.toBe(commit) // still activating
    const deadline = Date.now() + 30_000
    while ((await currentGen()).configurationRevision !== commit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
    expect((await currentGen()).configurationRevision).toBe(commit)
    expect(await host.runOnHost('cat $(ls -t /run/homelab/homelab-deploy-*.log | head -1)')).toContain('Done. The new configuration is')
    // Nobody confirmed: cancel the armed timer by hand so the next tests keep this generation.
    await host.runOnHost('for p in /run/homelab/homelab-rollback-*.pid; do [ -e "$p" ] && kill -TERM -"$(cat "$p")"; rm -f "$p"; done; true')
    await host.setScenario({})
  })

  it('a stale magic rollback never undoes a later deploy: the next run cancels it at the lock step, and it only rolls back its own system', async () => {
    // The timer script itself: with another system running it leaves the host alone.
    const {rollbackScript} = await import('../../src/lib/deploy/remote.js')
    const gen = await currentGen()
    expect(await host.runOnHost(rollbackScript('/nix/store/00000000000000000000000000000000-nixos-system-other'))).toContain('nothing to roll back')
    expect(await currentGen()).toMatchObject({configurationRevision: gen.configurationRevision, generation: gen.generation})

    // Deploy A switches, then loses its confirmation (the CLI dies): its 20 s timer stays armed.
    await host.setScenario({STANDIN_ACTIVATION_SECONDS: '1'})
    const commitA = await repo.commit('nixos/README-deploy-test.md', 'run A\n', 'run A, never confirmed')
    const rollbacksBefore = await detachedRuns('homelab-rollback-')
    const entry = process.env.HOMELAB_TEST_BUILT === '1' ? ['bin/run.js'] : ['--import', 'tsx', 'bin/dev.js']
    const a = execa(process.execPath, [...entry, 'deploy', '--repo', repo.dir, '--yes', '--no-validate', '--confirm-timeout', '20', '--sudo-password-stdin'], {
      cwd: REPO_ROOT, env: {...host.env, NO_COLOR: '1', XDG_CACHE_HOME: testCacheHome()}, input: `${host.sudoPassword}\n`, reject: false,
    })
    let seen = ''
    await new Promise<void>((resolve) => {
      a.stdout.on('data', (d: Buffer) => {
        seen += String(d)
        if (seen.includes('│ activating the configuration...')) resolve()
      })
    })
    const armedA = Date.now()
    a.kill('SIGKILL')
    await a
    const [timerA] = (await detachedRuns('homelab-rollback-')).filter((n) => !rollbacksBefore.includes(n))
    expect(timerA).toBeDefined()
    expect(await processesWith(timerA)).not.toEqual([])
    const deadline = Date.now() + 30_000
    while ((await currentGen()).configurationRevision !== commitA && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    await host.setScenario({})

    // Deploy B, inside A's window: cancels A's timer at the lock step, says so, and confirms.
    const commitB = await repo.commit('nixos/README-deploy-test.md', 'run B\n', 'run B, confirmed')
    const b = await deploy(['--yes', '--no-validate', '--confirm-timeout', '10'])
    expect(b.exitCode, b.stdout + b.stderr).toBe(0)
    expect(Date.now() - armedA).toBeLessThan(20_000) // B really ran inside A's window
    expect(b.stdout).toContain(`! cancelled the pending magic rollback ${timerA} of an earlier run that was never confirmed`)
    expect(b.stdout).toContain('pending magic rollback(s) of earlier runs')
    expect(b.stdout).toContain(`configuration revision ${commitB}`)
    expect(b.stdout).toContain('magic rollback armed-and-confirmed')
    expect(await processesWith(timerA)).toEqual([])

    // Past A's deadline, the host still runs B.
    const systemB = await running()
    await new Promise((res) => setTimeout(res, Math.max(0, armedA + 23_000 - Date.now())))
    expect(await running()).toBe(systemB)
    expect((await currentGen()).configurationRevision).toBe(commitB)
    expect(await host.runOnHost(`cat /run/homelab/${timerA}.log`)).toBe('')
  })

  it('homelab rollback switches to the previous generation with the same checks and reports both', async () => {
    const r0 = await deploy(['--yes', '--no-validate'])
    expect(r0.exitCode, r0.stdout).toBe(0)
    const gens = await generations()
    const current = gens.find((g) => g.current)!
    const before = await host.connections()
    const r = await runCli(['rollback', '--repo', repo.dir, '--yes', '--sudo-password-stdin', '--json'], {env: host.env, input: `${host.sudoPassword}\n`})
    expect(r.exitCode, r.stderr).toBe(0)
    const h = (JSON.parse(r.stdout) as {hosts: HostJson[]}).hosts[0]
    expect(h).toMatchObject({activation: 'setsid', ok: true, previousGeneration: current.generation})
    expect(h.generation).toBeLessThan(current.generation)
    expect(h.steps.map((s) => s.step)).toEqual(['connect', 'lock', 'inspect', 'rollback', 'confirm'])
    expect((await currentGen()).generation).toBe(h.generation)
    expect((await host.connections()) - before).toBe(2)
  })

})

describe('the host cannot fetch its configuration: one line before anything changes', {timeout: 180_000}, () => {
  const deployKey = '/run/secrets/git/deploy_key'
  const remoteHead = () => repo.git(['ls-remote', 'origin', 'refs/heads/main'])
  /** Everything a deploy could change on the host (and the remote), to compare before and after. */
  const hostState = async () => ({
    backup: await host.runOnHost(`ls ${repo.flakeDir}`),
    generations: await generations(),
    lockHash: createHash('sha256').update(await flakeLock()).digest('hex'),
    lockHeld: await host.runOnHost('for l in /run/lock/homelab-deploy-*.lock; do [ -e "$l" ] || continue; flock -n "$l" true || echo held; done'),
    profiles: await host.runOnHost('ls -l /nix/var/nix/profiles'),
    remote: await remoteHead(),
    system: await running(),
  })
  const forgeRemote = () => host.forgeUrl(repo.remote)

  it('without the deploy key: exit 1, one line naming the remote, ssh\'s reason and the key to add; nothing pushed, nothing changed', async () => {
    await repo.commit('nixos/README-deploy-test.md', 'no deploy key\n', 'change the host cannot fetch')
    await host.runOnHost(`mv ${deployKey} ${deployKey}.aside`)
    const before = await hostState()
    try {
      const r = await deploy(['--yes', '--no-validate'])
      expect(r.exitCode, r.stdout + r.stderr).toBe(1)
      const line = `the host cannot fetch ${repo.inputUrl} (flake input homelab) as root: Permission denied (publickey); add the host's deploy key (public key: not present at ${deployKey}: run homelab host install) as a read-only deploy key of ${forgeRemote()}`
      expect(r.stderr.trim().split('\n')).toEqual([`Error: azalab-0: fetch-check failed: ${line}`])
      expect(r.stdout).toContain(`✗ azalab-0: step fetch-check failed: ${line}\n`)
      expect(r.stdout).toContain(`│ no such identity: ${deployKey}: No such file or directory`) // ssh's own words, as the last remote lines
      expect(r.stdout).toContain('this run changed nothing on the host')
      expect(r.stdout).not.toMatch(/✓ push|▸ inspect|▸ flake-update/)
      expect(await hostState()).toEqual(before)
    } finally {
      await host.runOnHost(`mv ${deployKey}.aside ${deployKey}`)
    }
  })

  it('with a key the forge does not know (--json): the error shape deploy uses, with the public key computed on the host', async () => {
    const other = path.join(host.hostRoot, 'run/secrets/git/other_key')
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'not a deploy key', '-f', other])
    const otherPublic = (await fs.readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')
    await host.runOnHost(`mv ${deployKey} ${deployKey}.aside && mv /run/secrets/git/other_key ${deployKey} && rm /run/secrets/git/other_key.pub`)
    const before = await hostState()
    try {
      const r = await deploy(['--yes', '--no-validate', '--json'])
      expect(r.exitCode).toBe(1)
      const {error} = JSON.parse(r.stdout) as {error: {exitCode: number; message: string; suggestions: string[]; result: {pushed: boolean; hosts: HostJson[]}}}
      expect(error.exitCode).toBe(1)
      expect(error.message).toBe(
        `azalab-0: fetch-check failed: the host cannot fetch ${repo.inputUrl} (flake input homelab) as root: Permission denied (publickey); add the host's deploy key (public key: ${otherPublic}) as a read-only deploy key of ${forgeRemote()}`,
      )
      expect(error.result.pushed).toBe(false)
      expect(error.result.hosts[0]).toMatchObject({error: {changedNothing: true, step: 'fetch-check'}, fetchCheck: {source: repo.inputUrl}, ok: false})
      expect(error.result.hosts[0].steps.map((s) => s.step)).toEqual(['connect', 'lock', 'fetch-check'])
      expect(await hostState()).toEqual(before)
    } finally {
      await host.runOnHost(`mv ${deployKey}.aside ${deployKey}`)
    }
  })

  it('with the forge\'s host key not pinned on the host: says so and points at forgeHostKeys', async () => {
    const pinned = await fs.readFile(host.sshKnownHosts, 'utf8')
    await fs.writeFile(host.sshKnownHosts, '')
    const before = await hostState()
    try {
      const r = await deploy(['--yes', '--no-validate'])
      expect(r.exitCode).toBe(1)
      expect(r.stderr.trim().split('\n')).toEqual([
        `Error: azalab-0: fetch-check failed: the host cannot fetch ${repo.inputUrl} (flake input homelab) as root: Host key verification failed; pin the forge's current SSH host keys: forgeHostKeys in nixos/git-access.json (programs.ssh.knownHosts on the host)`,
      ])
      expect(await hostState()).toEqual(before)
    } finally {
      await fs.writeFile(host.sshKnownHosts, pinned)
    }
  })

  it('an input that fetches another repository than deploy pushes to: the head is not the pushed commit, said at inspect, flake.lock untouched', async () => {
    const flakeNix = path.join(repo.flakeDir, 'flake.nix')
    const saved = {lock: await flakeLock(), nix: await fs.readFile(flakeNix, 'utf8')}
    const mirror = path.join(path.dirname(repo.remote), 'stale-mirror.git')
    await execa('git', ['clone', '-q', '--bare', repo.remote, mirror])
    await fs.writeFile(flakeNix, saved.nix.replace(repo.remote, mirror))
    await host.runOnHost(`nix flake lock '${repo.flakeDir}' 2>&1`) // re-locks the changed input only
    try {
      const commit = await repo.commit('nixos/README-deploy-test.md', 'elsewhere\n', 'pushed where the host does not look')
      const before = await hostState()
      const mirrorHead = (await execa('git', ['--git-dir', mirror, 'rev-parse', 'main'])).stdout
      const r = await deploy(['--yes', '--no-validate'])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('✓ push')
      expect(r.stderr.trim().split('\n')).toEqual([
        `Error: azalab-0: inspect failed: the host's flake input homelab (git+${host.forgeUrl(mirror)}?ref=main) has main at ${mirrorHead.slice(0, 12)}, not the pushed ${commit.slice(0, 12)}; point the input's URL in the host flake.nix at the repository deploy pushes to (git remote origin, branch main)`,
      ])
      expect(await hostState()).toEqual({...before, remote: `${commit}\trefs/heads/main`})
    } finally {
      await fs.writeFile(flakeNix, saved.nix)
      await fs.writeFile(path.join(repo.flakeDir, 'flake.lock'), saved.lock)
      await fs.rm(mirror, {force: true, recursive: true})
    }
  })
})

describe('host keys through the CLI', {timeout: 180_000}, () => {
  it('a CHANGED host key is refused before any credential, with expected and received fingerprints (exit 2)', async () => {
    const kh = path.join(repo.dir, 'known_hosts')
    const original = await fs.readFile(kh, 'utf8')
    const other = path.join(host.hostRoot, 'other-key')
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
    const [type, b64] = (await fs.readFile(`${other}.pub`, 'utf8')).split(' ')
    const otherFp = (await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${other}.pub`])).stdout.split(' ')[1]
    await fs.writeFile(kh, `[${host.alias}]:${host.sshPort} ${type} ${b64}\n`)
    const keyLines = async () => (await fs.readFile(host.sshdLog, 'utf8')).split('\n').filter((l) => l.includes('publickey')).length
    const before = await keyLines()
    try {
      const r = await deploy(['--yes', '--no-validate', '--allow-dirty', '--no-push'])
      expect(r.exitCode).toBe(2)
      // Named once, and nothing claimed about generations: no login ever happened.
      const why = `HOST KEY CHANGED, refused before sending any credentials: expected ssh-ed25519 ${otherFp} (${kh}:1), received ssh-ed25519 ${host.hostKeyFingerprint}`
      expect(r.stdout).toContain(`✗ azalab-0: step connect failed: ${why}\n  no login happened, so nothing on the host was changed\n  → if the host was really reinstalled`)
      expect(r.stderr.split('\n')[0]).toBe(`Error: azalab-0: connect failed: ${why}`)
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/previous generation|generation \?/)
      await new Promise((res) => setTimeout(res, 200))
      expect(await keyLines()).toBe(before)
    } finally {
      await fs.writeFile(kh, original)
    }
  })

  it('an UNKNOWN host key without a TTY is refused before anything is pushed; --accept-new-host-key pins it, says to commit it, and the next deploy is not refused for it', async () => {
    const kh = path.join(repo.dir, 'known_hosts')
    await fs.writeFile(kh, '')
    await repo.git(['commit', '-qam', 'forget the host key'])
    const remoteHead = () => repo.git(['ls-remote', 'origin', 'refs/heads/main'])
    const before = await remoteHead()
    const r = await deploy(['--yes', '--no-validate'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toContain(`unknown host key ssh-ed25519 ${host.hostKeyFingerprint}; refused`)
    expect(r.stdout).toContain('run again with --accept-new-host-key to pin it in known_hosts')
    expect(await fs.readFile(kh, 'utf8')).toBe('')
    expect(await remoteHead()).toBe(before) // refused at connect: nothing was pushed

    const ok = await deploy(['--yes', '--no-validate', '--accept-new-host-key'])
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0)
    const commitCommand = 'git add known_hosts && git commit -m "Pin the host key of azalab-0" -- known_hosts'
    expect(ok.stdout).toContain(`! pinned new host key ${host.hostKeyFingerprint} in ${kh}: known_hosts changed, commit it (${commitCommand}); until then deploy counts the added line as a pinned key, not as a dirty tree`)
    expect(await fs.readFile(kh, 'utf8')).toBe(`${host.knownHostsLine}\n`)
    expect(await repo.git(['diff', '--name-only'])).toBe('known_hosts')

    // The next deploy (no flags) is not refused for the pinned key, and says it is not committed.
    const next = await deploy(['--yes', '--no-validate'])
    expect(next.exitCode, next.stdout + next.stderr).toBe(0)
    expect(next.stdout).toContain('tree clean (except 1 pinned host key(s) added to known_hosts, not committed yet: commit known_hosts), on main')
    expect(next.stdout).not.toContain('pinned new host key')
    // A known_hosts edit that is not only added keys still is a dirty tree.
    await fs.writeFile(kh, `${host.knownHostsLine}\n# a note\n`)
    const dirty = await deploy(['--yes', '--no-validate'])
    expect(dirty.exitCode).toBe(1)
    expect(dirty.stderr).toContain('Error: uncommitted changes in 1 tracked file(s): known_hosts\n')
    await fs.writeFile(kh, `${host.knownHostsLine}\n`)
    // The command the pin message gives commits it.
    await execa('sh', ['-c', commitCommand], {cwd: repo.dir, env: host.env})
    expect(await repo.git(['status', '--porcelain'])).toBe('')
    expect(await repo.git(['log', '-1', '--format=%s'])).toBe('Pin the host key of azalab-0')
  })
})

describe('several hosts', {timeout: 180_000}, () => {
  it('one unreachable host means nothing is pushed: the reachable one is locked, then released untouched (exit 2)', async () => {
    const yamlFile = path.join(repo.dir, 'homelab.yaml')
    const {parseDocument} = await import('yaml')
    const doc = parseDocument(await fs.readFile(yamlFile, 'utf8'))
    doc.addIn(['hosts'], {flakeDir: '/etc/nixos', flakeInput: 'homelab', name: 'azalab-9', ssh: '127.0.0.1:1'}) // nothing listens on port 1
    await fs.writeFile(yamlFile, doc.toString())
    await repo.git(['commit', '-qam', 'a second host that is down'])
    const remoteHead = () => repo.git(['ls-remote', 'origin', 'refs/heads/main'])
    const before = {gen: await currentGen(), lock: await flakeLock(), remote: await remoteHead(), system: await running()}
    try {
      const r = await deploy(['--yes', '--no-validate'])
      expect(r.exitCode, r.stdout + r.stderr).toBe(2)
      expect(await remoteHead()).toBe(before.remote) // the bare remote did not move
      expect(r.stdout).toMatch(/^azalab-0 │ ✓ lock /m)
      expect(r.stdout).not.toContain('✓ push')
      expect(r.stdout).not.toMatch(/▸ (inspect|flake-update)/)
      const why = 'cannot reach 127.0.0.1 (127.0.0.1:1): ECONNREFUSED'
      expect(r.stdout).toContain(`✗ azalab-9: step connect failed: ${why}\n  no login happened, so nothing on the host was changed`)
      expect(r.stdout).toContain('✗ azalab-0: not deployed: stopped before the push because azalab-9 (connect) failed: nothing was pushed and this host was not changed\n  this run changed nothing on the host')
      expect(r.stdout).toMatch(/azalab-0 +not deployed /)
      expect(r.stderr.split('\n')[0]).toBe(`Error: azalab-9: connect failed: ${why}; azalab-0: not deployed`)
      // azalab-0's lock was released and the host is as it was.
      expect(await host.runOnHost('for l in /run/lock/homelab-deploy-*.lock; do flock -n "$l" true || echo held; done')).toBe('')
      expect(await flakeLock()).toBe(before.lock)
      expect(await running()).toBe(before.system)
      expect((await currentGen()).generation).toBe(before.gen.generation)
    } finally {
      await repo.git(['reset', '-q', '--hard', 'HEAD~1'])
    }
  })

  it('several hosts run in parallel with prefixed lines and a summary table; --host picks one', async () => {
    // A second homelab.yaml host on the same machine with its own flake dir.
    const second = path.join(path.dirname(repo.flakeDir), 'host-flake-2')
    await fs.cp(repo.flakeDir, second, {recursive: true})
    const yamlFile = path.join(repo.dir, 'homelab.yaml')
    const yaml = await fs.readFile(yamlFile, 'utf8')
    const {parseDocument} = await import('yaml')
    const doc = parseDocument(yaml)
    doc.addIn(['hosts'], {flakeDir: second, flakeInput: 'homelab', name: 'azalab-0-b', ssh: host.alias})
    await fs.writeFile(yamlFile, doc.toString())
    await repo.git(['commit', '-qam', 'second host'])
    const r = await deploy(['--yes', '--no-validate', '--action', 'boot'])
    expect(r.exitCode, r.stdout).toBe(0)
    expect(r.stdout).toMatch(/^azalab-0   │ ▸ connect/m)
    expect(r.stdout).toMatch(/^azalab-0-b │ ✓ build/m)
    expect(r.stdout).toMatch(/HOST\s+RESULT\s+GENERATION\s+COMMIT\s+TIME\n(azalab-0(-b)?\s+ok.*\n?){2}/)
    const one = await deploy(['--dry-run', '--no-validate', '--host', 'azalab-0-b'], {password: null})
    expect(one.stdout).toContain('azalab-0-b:')
    expect(one.stdout).not.toMatch(/^azalab-0:/m)
    // An unknown --host is a usage error (exit 3, also under --json) naming the hosts there are; nothing is contacted.
    const before = await host.connections()
    const unknown = await deploy(['--dry-run', '--host', 'nope'], {password: null})
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('homelab.yaml has no host "nope" (hosts: azalab-0, azalab-0-b)')
    const unknownJson = await deploy(['--yes', '--no-validate', '--host', 'nope', '--json'])
    expect(unknownJson.exitCode).toBe(3)
    expect(JSON.parse(unknownJson.stdout).error).toMatchObject({exitCode: 3})
    for (const json of [[], ['--json']]) {
      const rollback = await runCli(['rollback', '--repo', repo.dir, '--yes', '--host', 'nope', '--sudo-password-stdin', ...json], {env: host.env, input: `${host.sudoPassword}\n`})
      expect(rollback.exitCode, rollback.stdout + rollback.stderr).toBe(3)
      const message = json.length > 0 ? (JSON.parse(rollback.stdout) as {error: {message: string}}).error.message : rollback.stderr
      expect(message).toContain('homelab.yaml has no host "nope" (hosts: azalab-0, azalab-0-b)')
    }

    expect(await host.connections()).toBe(before)
  })
})
