// `homelab status` and `homelab backup status` across TWO test hosts on loopback, each its own
// sshd, mount namespace (its own /run), host key, forge and generations: azalab-0 is the k3s
// server, azalab-1 an agent. Real sshd, sudo, git and nix (the hosts' generations are real nix
// builds of the nixos-rebuild stand-in). Stand-ins (test/e2e/stand-ins, named as such): the
// server's k3s kubectl replays the Flux fixture and reports the nodes' readiness from a file this
// test writes (STANDIN_K3S_NODES); nixos-rebuild/nixos-version read the hosts' generations.
// Backups: each host's backup state folder is in its own /run (what its units would have written).
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {azalabFixture} from '../lib/flux/fixtures.js'
import type {TestHost, TestRepo} from './host/test-host.js'
import {startServerAndAgent} from './host/two-hosts.js'

let server: TestHost
let agent: TestHost
let repo: TestRepo
let nodesFile: string
let first: string
let head: string
const env = () => ({...server.env, HOMELAB_SUDO_PASSWORD: server.sudoPassword})
const cli = (args: string[]) => runCli(args, {cwd: repo.dir, env: env(), timeout: 180_000})
/** Prints a command's real output when HOMELAB_E2E_PRINT=1 (for the README). */
const show = (title: string, stdout: unknown) => {
  if (process.env.HOMELAB_E2E_PRINT === '1') console.log(`----- ${title}\n${String(stdout)}\n-----`)
}

// Each host's backup state (in its own /run): one snapshot per source of that host an hour ago, a good R2 sync.
const STATE_DIR = '/run/homelab-backup'
async function writeBackups(host: TestHost, hostName: string, sources: string[]) {
  const dir = path.join(host.hostRoot, 'run', STATE_DIR.slice('/run/'.length))
  await fs.mkdir(dir, {recursive: true})
  await fs.mkdir(path.join(host.hostRoot, 'run/srv'), {recursive: true})
  const [template] = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'test/fixtures/kopia/snapshot-list.json'), 'utf8'))
  const end = new Date(Date.now() - 3_600_000).toISOString()
  const start = new Date(Date.now() - 3_660_000).toISOString()
  const snapshots = sources.map((p, i) => ({...template, endTime: end, id: `${hostName === 'azalab-0' ? 'a' : 'b'}${String(i).padStart(31, '0')}`, source: {...template.source, host: hostName, path: p, userName: 'root'}, startTime: start}))
  await fs.writeFile(path.join(dir, 'snapshots.json'), JSON.stringify(snapshots))
  // Each host syncs its own repository to its own prefix: the server backup.json's, the agent the sibling kopia-<host>/.
  const prefix = hostName === 'azalab-0' ? 'kopia/' : `kopia-${hostName}/`
  await fs.writeFile(path.join(dir, 'last-sync.json'), JSON.stringify({bucket: 'azalab-kopia', end, endpoint: 'e', error: null, exitCode: 0, prefix, result: 'success', start, version: 1}))
  await host.runOnHost(`chmod -R a+rX '${path.join(host.hostRoot, 'run')}/homelab-backup' '${path.join(host.hostRoot, 'run')}/srv'`)
}

beforeAll(async () => {
  // One operator reaching both hosts (test/e2e/host/two-hosts.ts).
  let agentFlake: string
  ;({agent, agentFlake, repo, server} = await startServerAndAgent())
  first = await repo.git(['rev-parse', 'HEAD'])

  // The agent in homelab.yaml; immich and kopia stored on the agent; each host's state folder and storage root in its own /run.
  const doc = parseDocument(await fs.readFile(path.join(repo.dir, 'homelab.yaml'), 'utf8'))
  doc.setIn(['hosts', 0, 'role'], 'server')
  doc.addIn(['hosts'], doc.createNode({flakeDir: agentFlake, flakeInput: 'homelab', name: 'azalab-1', role: 'agent', ssh: agent.alias}))
  doc.setIn(['storage', 'root'], '/run/srv')
  await fs.writeFile(path.join(repo.dir, 'homelab.yaml'), doc.toString())
  await fs.appendFile(path.join(repo.dir, 'known_hosts'), `${agent.knownHostsLine}\n`)
  const storageFile = path.join(repo.dir, 'nixos/storage.json')
  const storage = JSON.parse(await fs.readFile(storageFile, 'utf8')) as {apps: {name: string; path: string; node?: string}[]; extraBackupSources: string[]}
  for (const app of storage.apps) app.node = ['immich', 'kopia'].includes(app.name) ? 'azalab-1' : 'azalab-0'
  await fs.writeFile(storageFile, JSON.stringify(storage, null, 2))
  const backupFile = path.join(repo.dir, 'nixos/backup.json')
  await fs.writeFile(backupFile, JSON.stringify({...JSON.parse(await fs.readFile(backupFile, 'utf8')), stateDir: STATE_DIR}, null, 2))
  await repo.git(['commit', '-q', '-am', 'Add the agent azalab-1; immich and kopia on its disk'])
  await repo.git(['push', '-q', 'origin', 'main'])
  head = await repo.git(['rev-parse', 'HEAD'])

  // The server runs the branch head (generation 2); the agent stays on the first commit (generation 1).
  await server.runOnHost(`nix flake lock --update-input homelab '${repo.flakeDir}' 2>&1 && nixos-rebuild switch --flake '${repo.flakeDir}#azalab-0' 2>&1`)

  const server0 = storage.apps.filter((a) => a.node === 'azalab-0').map((a) => a.path)
  const agent1 = storage.apps.filter((a) => a.node === 'azalab-1').map((a) => a.path)
  await Promise.all([writeBackups(server, 'azalab-0', [...server0, ...storage.extraBackupSources]), writeBackups(agent, 'azalab-1', [...agent1, ...storage.extraBackupSources])])

  nodesFile = path.join(server.hostRoot, 'k3s-nodes.json')
  const objects = path.join(server.hostRoot, 'flux-objects.json')
  await fs.writeFile(objects, azalabFixture('healthy', {commit: head}))
  await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
  await server.setScenario({STANDIN_K3S_NODES: nodesFile, STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: path.join(server.hostRoot, 'kubectl-state')})
}, 300_000)
afterAll(async () => Promise.all([server?.stop(), agent?.stop()]))

describe('homelab status across a server and an agent', {timeout: 300_000}, () => {
  it('both nodes Ready with their roles; both hosts\' generations; the agent behind the branch head is flagged; one connection per host', async () => {
    const before = {agent: await agent.logins(), server: await server.logins()}
    const r = await cli(['status'])
    show('homelab status', r.stdout)
    expect(r.stderr).toBe('')
    expect(r.exitCode, r.stdout).toBe(0)
    expect(await server.logins()).toBe(before.server + 1)
    expect(await agent.logins()).toBe(before.agent + 1)
    const out = r.stdout
    expect(out).toContain(`azalab-0 (${server.alias}): healthy`)
    expect(out).toMatch(/^ {2}✓ +azalab-0 +Ready +\d+d \d+h ago +control-plane +v1\.33\.5\+k3s1$/m)
    expect(out).toMatch(/^ {2}✓ +azalab-1 +Ready +[\dsmhd ]+ ago +<none> +v1\.33\.5\+k3s1$/m)
    expect(out).toMatch(new RegExp(`^ {2}✓ +azalab-0 +server +2 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +homelab ${head.slice(0, 7)} += main$`, 'm'))
    expect(out).toMatch(new RegExp(`^ {2}! +azalab-1 +agent +1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +homelab ${first.slice(0, 7)} +behind: runs ${first.slice(0, 7)}, main is ${head.slice(0, 7)} \\(1 commit\\)$`, 'm'))
    // The Host section is still the server's.
    expect(out).toContain('k3s node     azalab-0 Ready (v1.33.5+k3s1)')
  })

  it('--json: nodes and hosts arrays (schemaVersion 1, schema-checked by runCli)', async () => {
    const r = await cli(['status', '--json', '--no-fetch'])
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.schemaVersion).toBe(1)
    expect(report.nodes.map((n: {name: string; ready: string; roles: string[]; host: string | null}) => [n.name, n.ready, n.roles, n.host])).toEqual([
      ['azalab-0', 'True', ['control-plane'], 'azalab-0'],
      ['azalab-1', 'True', [], 'azalab-1'],
    ])
    expect(report.hosts).toEqual([
      expect.objectContaining({behindBy: 0, branchHead: head, error: null, generation: expect.objectContaining({number: 2}), name: 'azalab-0', node: 'azalab-0', revision: expect.objectContaining({commit: head, input: 'homelab'}), role: 'server', state: 'current'}),
      expect.objectContaining({behindBy: 1, branchHead: head, error: null, generation: expect.objectContaining({number: 1}), name: 'azalab-1', node: 'azalab-1', revision: expect.objectContaining({commit: first}), role: 'agent', state: 'behind'}),
    ])
  })

  it('--on azalab-1: only that host\'s facts; the cluster part still from the server', async () => {
    const r = await cli(['status', '--on', 'azalab-1', '--json', '--no-fetch'])
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.host.name).toBe('azalab-0')
    expect(report.hosts.map((h: {name: string}) => h.name)).toEqual(['azalab-1'])
    expect(report.nodes).toHaveLength(2)
    expect(report.objects.length).toBeGreaterThan(0)
  })

  it('--watch: every refresh shows both hosts; each host keeps its one connection', async () => {
    const before = {agent: await agent.logins(), server: await server.logins()}
    // As runCli does, but keeping the subprocess to interrupt it.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const entry = process.env.HOMELAB_TEST_BUILT === '1' ? [path.join(REPO_ROOT, 'bin/run.js')] : ['--import', tsx, path.join(REPO_ROOT, 'bin/dev.js')]
    const run = execa(process.execPath, [...entry, 'status', '--watch', '--interval', '1', '--no-fetch'], {cwd: repo.dir, env: {NO_COLOR: '1', ...env()}, reject: false, timeout: 120_000})
    let out = ''
    run.stdout!.on('data', (d: Buffer) => {
      out += String(d)
      if ((out.match(/refreshed /g) ?? []).length === 2) run.kill('SIGINT')
    })
    const r = await run
    expect(r.exitCode, String(r.stderr)).toBe(0)
    expect((String(r.stdout).match(/^ {2}! +azalab-1 +agent +1 .*behind: runs/gm) ?? []).length).toBe(2)
    expect(await server.logins()).toBe(before.server + 1)
    expect(await agent.logins()).toBe(before.agent + 1)
  })

  it('a node NotReady degrades (exit 1) with the reason; an unreachable agent is a row, the rest still shown (exit 1)', async () => {
    await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'False'}))
    try {
      const r = await cli(['status', '--no-fetch'])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('✗ node azalab-1 not Ready')
      expect(r.stdout).toMatch(/^ {2}✗ +azalab-1 +NotReady +[\dsmhd ]+ ago +<none> +v1\.33\.5\+k3s1 +KubeletNotReady: container runtime network not ready$/m)
    } finally {
      await fs.writeFile(nodesFile, JSON.stringify({'azalab-0': 'True', 'azalab-1': 'True'}))
    }

    const config = path.join(server.home, '.ssh/config')
    const saved = await fs.readFile(config, 'utf8')
    await fs.writeFile(config, saved.replace(`Port ${agent.sshPort}`, 'Port 1'))
    try {
      const r = await cli(['status', '--no-fetch'])
      show('homelab status (agent unreachable)', r.stdout)
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('✗ host azalab-1 unreachable')
      expect(r.stdout).toMatch(new RegExp(`^ {2}✗ +azalab-1 +agent +- +- +- +unreachable: .*${agent.alias}`, 'm'))
      expect(r.stdout).toMatch(/^ {2}✓ +azalab-0 +server +2 /m)
    } finally {
      await fs.writeFile(config, saved)
    }
  })
})

describe('homelab backup status grouped by host', {timeout: 300_000}, () => {
  it('each host with its own sources under its heading, exit 0; --json sources carry their host', async () => {
    const r = await cli(['backup', 'status'])
    show('homelab backup status', r.stdout)
    expect(r.exitCode, r.stdout).toBe(0)
    const out = r.stdout
    const at = out.indexOf(`\n\nazalab-1 (${agent.alias})\n`)
    expect(out.startsWith(`azalab-0 (${server.alias})\n`)).toBe(true)
    expect(at).toBeGreaterThan(0)
    const [serverPart, agentPart] = [out.slice(0, at), out.slice(at)]
    for (const app of ['libsql', 'vaultwarden', 'tuwunel', 'zeroclaw']) expect(serverPart).toMatch(new RegExp(`/srv/${app} +ok`))
    for (const app of ['immich', 'kopia']) {
      expect(agentPart).toMatch(new RegExp(`/srv/${app} +ok`))
      expect(serverPart).not.toContain(`/srv/${app}`)
    }
    expect(serverPart).toMatch(/\/etc\/nixos +ok/)
    expect(agentPart).toMatch(/\/etc\/nixos +ok/)
    expect(agentPart).not.toContain('/srv/libsql')

    const j = await cli(['backup', 'status', '--json'])
    expect(j.exitCode).toBe(0)
    const s = JSON.parse(j.stdout)
    expect(s.host).toBe('azalab-0')
    expect(s.sources.map((x: {host: string; path: string}) => `${x.host} ${x.path}`)).toEqual([
      'azalab-0 /srv/libsql', 'azalab-0 /srv/vaultwarden', 'azalab-0 /srv/tuwunel', 'azalab-0 /srv/zeroclaw', 'azalab-0 /etc/nixos',
      'azalab-1 /srv/immich', 'azalab-1 /srv/kopia', 'azalab-1 /etc/nixos',
    ])
    expect(s.hosts.map((h: {name: string; status: {ok: boolean}}) => [h.name, h.status.ok])).toEqual([['azalab-0', true], ['azalab-1', true]])
    expect(s.hosts.map((h: {status: {sync: {prefix: string}}}) => h.status.sync.prefix)).toEqual(['kopia/', 'kopia-azalab-1/'])
  })

  it('an agent whose last sync went to the server\'s prefix (deployed before its own prefix): the sync failed, exit 1, what to do', async () => {
    const file = path.join(agent.hostRoot, 'run/homelab-backup/last-sync.json')
    const original = await fs.readFile(file, 'utf8')
    await fs.writeFile(file, JSON.stringify({...JSON.parse(original), prefix: 'kopia/'}))
    try {
      const r = await cli(['backup', 'status', '--json'])
      expect(r.exitCode).toBe(1)
      const s = JSON.parse(r.stdout)
      expect(s.problems).toEqual([
        "azalab-1: R2 sync went to s3://azalab-kopia/kopia/ but azalab-1's own prefix is s3://azalab-kopia/kopia-azalab-1/ (another host's repository may share that prefix): deploy it with `homelab deploy --host azalab-1`, then `homelab backup sync --host azalab-1`",
      ])
      expect(s.hosts[1].status.sync).toMatchObject({prefix: 'kopia/', state: 'failed'})
      expect(s.hosts[0].status.sync).toMatchObject({prefix: 'kopia/', state: 'ok'})
    } finally {
      await fs.writeFile(file, original)
    }
  })

  it('--host azalab-1: only the agent, under its heading', async () => {
    const r = await cli(['backup', 'status', '--host', 'azalab-1'])
    expect(r.exitCode, r.stdout).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe(`azalab-1 (${agent.alias})`)
    expect(r.stdout).toMatch(/\/srv\/immich +ok/)
    expect(r.stdout).not.toContain('azalab-0 (')
    expect(r.stdout).not.toContain('/srv/libsql')
  })

  it('a stale source on the agent fails the whole status (exit 1), named under the agent', async () => {
    const file = path.join(agent.hostRoot, 'run/homelab-backup/snapshots.json')
    const original = await fs.readFile(file, 'utf8')
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString()
    await fs.writeFile(file, JSON.stringify(JSON.parse(original).map((m: {source: {path: string}}) => (m.source.path === '/srv/immich' ? {...m, endTime: old, startTime: old} : m))))
    try {
      const r = await cli(['backup', 'status', '--json'])
      expect(r.exitCode).toBe(1)
      const s = JSON.parse(r.stdout)
      expect(s.problems).toEqual([expect.stringMatching(/^azalab-1: \/srv\/immich: newest snapshot is 3d 0h old/)])
      expect(s.hosts.map((h: {name: string; status: {ok: boolean}}) => [h.name, h.status.ok])).toEqual([['azalab-0', true], ['azalab-1', false]])
    } finally {
      await fs.writeFile(file, original)
    }
  })
})
