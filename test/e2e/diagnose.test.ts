import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli, startCli as startCliProcess} from '../helpers/cli.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

/**
 * `homelab logs`, `homelab host logs|units|exec` as the CLI against the e2e test host: real sshd
 * and sudo; k3s kubectl, journalctl and systemctl are the stand-ins (test/e2e/stand-ins).
 */
let host: TestHost
let repo: TestRepo
const objectsFile = () => path.join(host.hostRoot, 'cluster-objects.json')
const stateDir = () => path.join(host.hostRoot, 'kubectl-state')
const logsDir = () => path.join(host.hostRoot, 'pod-logs')
const podLog = () => path.join(logsDir(), 'vaultwarden', 'vaultwarden-standin-0', 'vaultwarden.log')
const journalDir = () => path.join(host.binDir, 'systemd-standin', 'journal')
const cliEnv = () => ({...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword})

/** The app's Deployment as the API server returns it: the fields of apps/v1 the stand-in reads. */
const vaultwarden = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {labels: {'app.kubernetes.io/name': 'vaultwarden'}, name: 'vaultwarden', namespace: 'vaultwarden'},
  spec: {replicas: 1, selector: {matchLabels: {'app.kubernetes.io/name': 'vaultwarden'}}, template: {metadata: {labels: {'app.kubernetes.io/name': 'vaultwarden'}}, spec: {containers: [{image: 'docker.io/vaultwarden/server:1.34.3', name: 'vaultwarden'}]}}},
  status: {availableReplicas: 1, readyReplicas: 1, replicas: 1},
}

/** Asserts that `value` matches schemas/<id>.schema.json (draft 2020-12). */
async function expectSchema(id: string, value: unknown) {
  expectMatchesSchema(id.replaceAll('-', ' '), value)
}

async function kubectlCalls(): Promise<Array<{argv: string[]; uid: number}>> {
  const text = await fs.readFile(path.join(stateDir(), 'calls.log'), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as {argv: string[]; uid: number})
}

/** Processes on the host running the stand-in kubectl or tail (their args name this host's bin folder or log folder). */
async function leftovers(): Promise<string[]> {
  const ps = await host.runOnHost('ps -eo pid=,args=')
  return ps.split('\n').filter((l) => (l.includes(`${host.binDir}/kubectl`) && l.includes(' logs ')) || l.includes(journalDir()))
}

/** Starts the CLI as a separate process (like runCli) but returns it running, to send it signals. */
const startCli = (args: string[]) => startCliProcess(args, {cwd: repo.dir, env: cliEnv()})

/** Resolves once `text` appears in the child's stdout. */
async function waitForOutput(child: ReturnType<typeof startCli>, text: string): Promise<void> {
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d.toString()
      if (seen.includes(text)) {
        child.stdout!.off('data', onData)
        resolve()
      }
    }

    child.stdout!.on('data', onData)
    child.once('exit', () => reject(new Error(`the CLI exited before printing ${text}; so far: ${seen}`)))
  })
}

beforeAll(async () => {
  host = await startTestHost({standIns: ['k3s', 'kubectl', 'journalctl', 'systemctl']})
  repo = await host.homelabRepo({nixos: false})
  await fs.writeFile(objectsFile(), JSON.stringify({apiVersion: 'v1', items: [vaultwarden], kind: 'List'}))
  await fs.mkdir(path.dirname(podLog()), {recursive: true})
  await fs.writeFile(podLog(), 'starting vaultwarden\nlistening on 0.0.0.0:8080\n')
  await fs.chmod(host.hostRoot, 0o755)
  await host.setScenario({STANDIN_KUBECTL_LOGS: logsDir(), STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: stateDir()})
}, 180_000)

afterAll(async () => {
  await host?.stop()
})

describe('homelab logs (e2e)', () => {
  it('prints every line of the app pods, prefixed by pod and container, through sudo k3s kubectl with the manifest selector', async () => {
    const r = await runCli(['logs', 'vaultwarden'], {cwd: repo.dir, env: cliEnv()})
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe('[pod/vaultwarden-standin-0/vaultwarden] starting vaultwarden\n[pod/vaultwarden-standin-0/vaultwarden] listening on 0.0.0.0:8080')
    const call = (await kubectlCalls()).findLast((c) => c.argv[0] === 'logs')!
    expect(call.uid).toBe(0)
    expect(call.argv).toEqual(expect.arrayContaining(['-n', 'vaultwarden', '-l', 'app.kubernetes.io/name=vaultwarden', '--prefix', '--all-containers', '--tail=-1']))
    const json = await runCli(['logs', 'vaultwarden', '--tail', '1', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(json.exitCode).toBe(0)
    const doc = JSON.parse(json.stdout)
    expect(doc).toEqual({app: 'vaultwarden', exitCode: 0, host: repo.hostName, lines: [{container: 'vaultwarden', pod: 'vaultwarden-standin-0', text: 'listening on 0.0.0.0:8080'}], schemaVersion: 1, stderr: []})
    await expectSchema('logs', doc)
    const followJson = await runCli(['logs', 'vaultwarden', '-f', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(followJson.exitCode).toBe(3)
  }, 120_000)

  it('--previous without a previous container passes kubectl\'s error and status through', async () => {
    const r = await runCli(['logs', 'vaultwarden', '--previous', '--since', '2d'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('previous terminated container "vaultwarden" in pod "vaultwarden-standin-0" not found')
    expect((await kubectlCalls()).findLast((c) => c.argv[0] === 'logs')!.argv).toEqual(expect.arrayContaining(['--previous', '--since=48h']))
  }, 120_000)

  it('refuses an unknown app and a container name with shell metacharacters before connecting (exit 3)', async () => {
    const before = await host.connections()
    const unknown = await runCli(['logs', 'nope'], {cwd: repo.dir, env: cliEnv()})
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('no app "nope"')
    const bad = await runCli(['logs', 'vaultwarden', '-c', 'x;touch /tmp/pwned'], {cwd: repo.dir, env: cliEnv()})
    expect(bad.exitCode).toBe(3)
    expect(bad.stderr).toContain('--container "x;touch /tmp/pwned" is not a valid container name')
    expect(await host.connections()).toBe(before)
  }, 120_000)

  it('-f streams new lines until Ctrl-C, then exits 130 and leaves no kubectl running on the host', async () => {
    const child = startCli(['logs', 'vaultwarden', '-f'])
    await waitForOutput(child, 'listening on 0.0.0.0:8080')
    expect(await leftovers()).toHaveLength(1)
    await fs.appendFile(podLog(), 'a new line while following\n')
    await waitForOutput(child, '[pod/vaultwarden-standin-0/vaultwarden] a new line while following')
    child.kill('SIGINT')
    const r = await child
    expect(r.exitCode).toBe(130)
    expect(await leftovers()).toEqual([])
  }, 120_000)
})

describe('homelab host (e2e)', () => {
  it('host exec runs the words exactly as given and passes the exit status through', async () => {
    const words = await runCli(['host', 'exec', '--', 'printf', '%s|', 'a b', '$HOME;x', "it's", '*'], {cwd: repo.dir, env: cliEnv()})
    expect(words.stderr).toBe('')
    expect(words.stdout).toBe("a b|$HOME;x|it's|*|")
    expect(words.exitCode).toBe(0)
    const seven = await runCli(['host', 'exec', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], {cwd: repo.dir, env: cliEnv()})
    expect([seven.exitCode, seven.stdout, seven.stderr]).toEqual([7, 'out', 'err'])
    const root = await runCli(['host', 'exec', '--sudo', '--', 'id', '-u'], {cwd: repo.dir, env: cliEnv()})
    expect([root.exitCode, root.stdout]).toEqual([0, '0'])
    const stdin = await runCli(['host', 'exec', '--sudo', '--sudo-password-stdin', '--', 'id', '-un'], {cwd: repo.dir, env: host.env, input: `${host.sudoPassword}\n`})
    expect([stdin.exitCode, stdin.stdout]).toEqual([0, 'root'])
    const json = await runCli(['host', 'exec', '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(json.exitCode).toBe(7)
    const doc = JSON.parse(json.stdout)
    expect(doc).toEqual({command: ['sh', '-c', 'echo out; echo err >&2; exit 7', '--json'], exitCode: 7, host: repo.hostName, schemaVersion: 1, stderr: ['err'], stdout: ['out']})
    await expectSchema('host-exec', doc)
  }, 120_000)

  it('host exec without a command after -- is a usage error', async () => {
    const r = await runCli(['host', 'exec', 'ls'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('put the command after --')
  }, 60_000)

  it('host logs refuses a unit name with shell metacharacters before connecting (exit 3)', async () => {
    const before = await host.connections()
    const r = await runCli(['host', 'logs', 'k3s;touch /tmp/pwned'], {cwd: repo.dir, env: cliEnv()})
    expect(r.exitCode).toBe(3)
    expect(r.stderr).toContain('UNIT "k3s;touch /tmp/pwned" is not a valid unit name')
    expect(await host.connections()).toBe(before)
  }, 60_000)

  it('host logs UNIT prints the journal with ISO times; --since keeps the recent entries', async () => {
    await fs.mkdir(journalDir(), {recursive: true})
    const now = Math.floor(Date.now() / 1000)
    await fs.writeFile(path.join(journalDir(), 'kopia-backup.log'), 'an old run\nsnapshot of /srv/vaultwarden done\n')
    await fs.writeFile(path.join(journalDir(), 'kopia-backup.times'), `${now - 7200}\n${now - 60}\n`)
    await host.runOnHost(`chmod -R a+rwX ${path.join(host.binDir, 'systemd-standin')}`)
    const all = await runCli(['host', 'logs', 'kopia-backup.service'], {cwd: repo.dir, env: cliEnv()})
    expect(all.exitCode).toBe(0)
    expect(all.stdout.split('\n')).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \S+ kopia-backup\[1\]: an old run$/),
      expect.stringMatching(/ kopia-backup\[1\]: snapshot of \/srv\/vaultwarden done$/),
    ])
    const recent = await runCli(['host', 'logs', 'kopia-backup.service', '--since', '1h', '--priority', 'err'], {cwd: repo.dir, env: cliEnv()})
    expect(recent.exitCode).toBe(0)
    expect(recent.stdout).toMatch(/^\S+ \S+ kopia-backup\[1\]: snapshot of \/srv\/vaultwarden done$/)
    const json = await runCli(['host', 'logs', 'kopia-backup.service', '-n', '1', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(json.exitCode).toBe(0)
    const doc = JSON.parse(json.stdout)
    expect(doc).toEqual({exitCode: 0, host: repo.hostName, lines: [expect.stringMatching(/ kopia-backup\[1\]: snapshot of \/srv\/vaultwarden done$/)], schemaVersion: 1, stderr: [], unit: 'kopia-backup.service'})
    await expectSchema('host-logs', doc)
  }, 120_000)

  it('host logs -f follows until Ctrl-C and leaves no journalctl on the host', async () => {
    const child = startCli(['host', 'logs', 'kopia-backup.service', '-f', '-n', '1'])
    await waitForOutput(child, 'snapshot of /srv/vaultwarden done')
    expect((await leftovers()).length).toBeGreaterThan(0)
    child.kill('SIGINT')
    expect((await child).exitCode).toBe(130)
    expect(await leftovers()).toEqual([])
  }, 120_000)

  it('host units --failed: none (exit 0), then a failed unit (exit 1, JSON shape)', async () => {
    const none = await runCli(['host', 'units', '--failed', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(none.exitCode).toBe(0)
    expect(JSON.parse(none.stdout)).toEqual({failed: [], host: repo.hostName, schemaVersion: 1})
    await host.setScenario({STANDIN_FAILED_UNITS: 'k3s.service', STANDIN_KUBECTL_LOGS: logsDir(), STANDIN_KUBECTL_OBJECTS: objectsFile(), STANDIN_KUBECTL_STATE: stateDir()})
    const failed = await runCli(['host', 'units', '--failed', '--json'], {cwd: repo.dir, env: cliEnv()})
    expect(failed.exitCode).toBe(1)
    expect(JSON.parse(failed.stdout)).toEqual({failed: [{active: 'failed', description: 'k3s', load: 'loaded', sub: 'failed', unit: 'k3s.service'}], host: repo.hostName, schemaVersion: 1})
    await expectSchema('host-units', JSON.parse(failed.stdout))
    const text = await runCli(['host', 'units', '--failed'], {cwd: repo.dir, env: cliEnv()})
    expect(text.stdout).toContain('k3s.service')
    expect(text.stdout).toContain('1 failed unit on')
    const missing = await runCli(['host', 'units'], {cwd: repo.dir, env: cliEnv()})
    expect(missing.exitCode).toBe(3)
  }, 120_000)
})
