// The SSH transport against the real e2e host (real sshd, real sudo): host-key pinning in the
// repo and in ~/.ssh/known_hosts (hashed), refusal of changed/unknown keys before credentials,
// parallel channels on one connection with live lines, sudo with a password on stdin.
import {execa} from 'execa'
import {execFileSync} from 'node:child_process'
import dns from 'node:dns'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadHomelab} from '../../src/lib/config/load.js'
import {HostUnreachableError} from '../../src/lib/errors.js'
import {connectHost, HostKeyChangedError, RemoteTimeoutError, SudoPasswordError, UnknownHostKeyError} from '../../src/lib/ssh/index.js'
import {runCli} from '../helpers/cli.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo

beforeAll(async () => {
  host = await startTestHost()
  repo = await host.homelabRepo({nixos: false})
})
afterAll(async () => host?.stop())

const homelab = () => loadHomelab({cwd: repo.dir})
const knownHostsFile = () => path.join(repo.dir, 'known_hosts')

describe('ssh transport on the e2e host', () => {
  it('connects with the pinned key, runs channels in parallel on ONE connection, streams lines', async () => {
    const before = await host.connections()
    const conn = await connectHost({env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'})
    expect(conn.hostKeyFingerprint).toBe(host.hostKeyFingerprint)
    const lines: string[] = []
    const started = Date.now()
    const [a, b, c] = await Promise.all([
      conn.exec('sleep 1; echo one', {}),
      conn.exec('sleep 1; echo two >&2; exit 3', {}),
      conn.exec('for i in 1 2 3; do echo line$i; done', {onStdout: (l) => lines.push(l)}),
    ])
    expect(Date.now() - started).toBeLessThan(1900) // parallel, not 2 s in a row
    expect(a).toEqual({exitCode: 0, stderr: '', stdout: 'one\n'})
    expect(b.exitCode).toBe(3)
    expect(b.stderr).toBe('two\n')
    expect(c.exitCode).toBe(0)
    expect(lines).toEqual(['line1', 'line2', 'line3'])
    const slow = await conn.exec('sleep 5', {timeoutMs: 300}).catch((e: unknown) => e)
    expect(slow).toBeInstanceOf(RemoteTimeoutError)
    expect((await conn.exec('echo still usable')).stdout).toBe('still usable\n')
    await conn.close()
    expect((await host.connections()) - before).toBe(1)
  })

  it('asks for the sudo password once, sends it on stdin only, runs as root', async () => {
    let asked = 0
    const conn = await connectHost({
      askSudoPassword: async () => {
        asked++
        return host.sudoPassword
      },
      env: host.env,
      homeDir: host.home,
      homelab: await homelab(),
      host: 'testhost',
    })
    expect(await conn.sudoNeedsPassword()).toBe(true)
    const [r1, r2] = await Promise.all([conn.sudo('id -u; ps -o args= -p $$'), conn.sudo('cat', {stdin: 'data on stdin\n'})])
    expect(r1.stdout.split('\n')[0]).toBe('0')
    expect(r1.stdout).not.toContain(host.sudoPassword)
    expect(r2.stdout).toBe('data on stdin\n')
    expect(asked).toBe(1)
    await conn.close()
  })

  it('a wrong sudo password is one clear error, not a hang', async () => {
    const conn = await connectHost({askSudoPassword: async () => 'wrong', env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'})
    const error = await conn.sudo('true').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SudoPasswordError)
    expect((error as Error).message).toBe(`sudo on testhost for ${host.user}: the password was rejected`)
    expect((error as Error).message).not.toContain('wrong')
    await conn.close()
  })

  it('refuses a CHANGED host key before sending credentials, naming both fingerprints', async () => {
    const original = await fs.readFile(knownHostsFile(), 'utf8')
    const other = path.join(host.hostRoot, 'other_key')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
    const otherPub = (await fs.readFile(`${other}.pub`, 'utf8')).split(' ')
    const otherFp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${other}.pub`], {encoding: 'utf8'}).split(' ')[1]
    await fs.writeFile(knownHostsFile(), `[${host.alias}]:${host.sshPort} ${otherPub[0]} ${otherPub[1]}\n`)
    const keyLines = async () => (await fs.readFile(host.sshdLog, 'utf8')).split('\n').filter((l) => l.includes('publickey')).length
    const before = await keyLines()
    try {
      const error = await connectHost({env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(HostKeyChangedError)
      expect((error as Error).message).toContain(`expected ssh-ed25519 ${otherFp}`)
      expect((error as Error).message).toContain(`received ssh-ed25519 ${host.hostKeyFingerprint}`)
      await new Promise((r) => setTimeout(r, 200))
      expect(await keyLines()).toBe(before) // sshd never saw a key offered: no credential was sent
    } finally {
      await fs.writeFile(knownHostsFile(), original)
    }
  })

  it('refuses an unknown host key without --accept-new-host-key; with it, pins it in the repo', async () => {
    const original = await fs.readFile(knownHostsFile(), 'utf8')
    await fs.writeFile(knownHostsFile(), '# pinned keys\n')
    try {
      const error = await connectHost({env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnknownHostKeyError)
      expect((error as Error).message).toContain(host.hostKeyFingerprint)
      expect(await fs.readFile(knownHostsFile(), 'utf8')).toBe('# pinned keys\n')

      let asked = ''
      const refused = await connectHost({askHostKey: async (q) => ((asked = q.fingerprint), false), env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'}).catch((e: unknown) => e)
      expect(asked).toBe(host.hostKeyFingerprint)
      expect(refused).toBeInstanceOf(UnknownHostKeyError)

      const conn = await connectHost({acceptNewHostKey: true, env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'})
      expect(conn.pinnedHostKey?.line).toBe(host.knownHostsLine)
      await conn.close()
      expect(await fs.readFile(knownHostsFile(), 'utf8')).toBe(`# pinned keys\n${host.knownHostsLine}\n`)
    } finally {
      await fs.writeFile(knownHostsFile(), original)
    }
  })

  it('authenticates with ssh-agent first (a real ssh-agent), and asks the passphrase of an encrypted identity file', async () => {
    const home = path.join(host.hostRoot, 'agent-home')
    await fs.mkdir(path.join(home, '.ssh'), {recursive: true})
    const sock = path.join(host.hostRoot, 'agent.sock')
    const agent = await execa('ssh-agent', ['-a', sock])
    const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1])
    try {
      await execa('ssh-add', [path.join(host.home, '.ssh/id_ed25519')], {env: {SSH_AUTH_SOCK: sock}})
      // No IdentityFile and no default key in this home: only the agent can log in.
      await fs.writeFile(path.join(home, '.ssh/config'), `Host ${host.alias}\n  HostName 127.0.0.1\n  Port ${host.sshPort}\n  User ${host.user}\n`)
      const viaAgent = await connectHost({env: {...host.env, HOME: home, SSH_AUTH_SOCK: sock}, homeDir: home, homelab: await homelab(), host: 'testhost'})
      expect((await viaAgent.exec('echo agent')).stdout).toBe('agent\n')
      await viaAgent.close()
    } finally {
      process.kill(agentPid)
    }

    // An identity file with a passphrase: asked once through the callback.
    const key = path.join(home, '.ssh/id_ed25519')
    await fs.copyFile(path.join(host.home, '.ssh/id_ed25519'), key)
    await fs.chmod(key, 0o600)
    await execa('ssh-keygen', ['-q', '-p', '-N', 'correct horse', '-f', key])
    await fs.writeFile(path.join(home, '.ssh/config'), `Host ${host.alias}\n  HostName 127.0.0.1\n  Port ${host.sshPort}\n  User ${host.user}\n  IdentityFile ${key}\n`)
    const asked: string[] = []
    const conn = await connectHost({
      askPassphrase: async (file) => (asked.push(file), 'correct horse'),
      env: {HOME: home},
      homeDir: home,
      homelab: await homelab(),
      host: 'testhost',
    })
    expect(asked).toEqual([key])
    await conn.close()
    const refused = await connectHost({env: {HOME: home}, homeDir: home, homelab: await homelab(), host: 'testhost'}).catch((e: unknown) => e)
    expect((refused as Error).message).toContain('authentication failed')
  })

  it('follows ProxyJump from ~/.ssh/config (here: through the same sshd), verifying both host keys', async () => {
    const home = path.join(host.hostRoot, 'jump-home')
    await fs.mkdir(path.join(home, '.ssh'), {recursive: true})
    await fs.copyFile(path.join(host.home, '.ssh/id_ed25519'), path.join(home, '.ssh/id_ed25519'))
    await fs.writeFile(
      path.join(home, '.ssh/config'),
      `Host ${host.alias}\n  HostName 127.0.0.1\n  Port ${host.sshPort}\n  User ${host.user}\n  ProxyJump bastion\n\nHost bastion\n  HostName 127.0.0.1\n  Port ${host.sshPort}\n  User ${host.user}\n`,
    )
    const pub = host.knownHostsLine.split(' ').slice(1).join(' ')
    await fs.writeFile(path.join(home, '.ssh/known_hosts'), `[bastion]:${host.sshPort} ${pub}\n`)
    const before = await host.connections()
    const conn = await connectHost({env: {HOME: home}, homeDir: home, homelab: await homelab(), host: 'testhost'})
    expect((await conn.exec('echo through the jump')).stdout).toBe('through the jump\n')
    await conn.close()
    expect((await host.connections()) - before).toBe(2) // the jump host, then the target through it
  })

  /** A client HOME whose ~/.ssh/config reaches the host through `ProxyCommand PROXY`. */
  const proxyHome = async (name: string, proxy: string) => {
    const home = path.join(host.hostRoot, name)
    await fs.mkdir(path.join(home, '.ssh'), {recursive: true})
    await fs.copyFile(path.join(host.home, '.ssh/id_ed25519'), path.join(home, '.ssh/id_ed25519'))
    await fs.writeFile(
      path.join(home, '.ssh/config'),
      `Host ${host.alias}\n  HostName 127.0.0.1\n  Port ${host.sshPort}\n  User ${host.user}\n  IdentityFile ~/.ssh/id_ed25519\n  ProxyCommand ${proxy}\n`,
    )
    return home
  }

  /** PIDs of live processes whose argv is exactly `argv`. */
  const processesRunning = async (argv: string[]) => {
    const found: number[] = []
    for (const entry of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
      const status = await fs.readFile(`/proc/${entry}/status`, 'utf8').catch(() => '')
      if (cmdline === `${argv.join('\0')}\0` && !/^State:\s+Z/m.test(status)) found.push(Number(entry))
    }

    return found
  }

  it('speaks SSH over a ProxyCommand from ~/.ssh/config (nc %h %p), host key checked under the alias, child ended on close', async () => {
    // The alias resolves nowhere: only the ProxyCommand (which gets HostName) can reach the host.
    await expect(dns.promises.lookup(host.alias)).rejects.toThrow()
    const marker = path.join(host.hostRoot, 'proxy-used')
    const script = path.join(host.hostRoot, 'proxy-nc.sh')
    await fs.writeFile(script, `#!/bin/sh\necho "$@" >> '${marker}'\nexec nc "$1" "$2"\n`, {mode: 0o755})
    const home = await proxyHome('proxy-home', `${script} %h %p %n %r %%`)
    const before = await host.connections()
    const conn = await connectHost({env: {HOME: home}, homeDir: home, homelab: await homelab(), host: 'testhost'})
    expect(conn.hostKeyFingerprint).toBe(host.hostKeyFingerprint) // trusted from the repo's [alias]:port pin
    expect(conn.pinnedHostKey).toBeUndefined()
    expect((await conn.exec('echo through the proxy')).stdout).toBe('through the proxy\n')
    expect(await fs.readFile(marker, 'utf8')).toBe(`127.0.0.1 ${host.sshPort} ${host.alias} ${host.user} %\n`)
    expect((await host.connections()) - before).toBe(1)
    const nc = ['nc', '127.0.0.1', String(host.sshPort)]
    expect(await processesRunning(nc)).toHaveLength(1)
    await conn.close()
    for (let i = 0; i < 60 && (await processesRunning(nc)).length > 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(await processesRunning(nc)).toEqual([])
  })

  it('a ProxyCommand that exits before the handshake is one error naming it and its last stderr line (connectHost and the CLI)', async () => {
    const script = path.join(host.hostRoot, 'proxy-fail.sh')
    await fs.writeFile(script, `#!/bin/sh\necho "2025-11-24 INF connecting to $1" >&2\necho "websocket: bad handshake" >&2\nexit 1\n`, {mode: 0o755})
    const home = await proxyHome('proxy-fail-home', `${script} %h`)
    const stderr: string[] = []
    const error = await connectHost({env: {HOME: home}, homeDir: home, homelab: await homelab(), host: 'testhost', onProxyStderr: (t) => stderr.push(t)}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HostUnreachableError)
    expect((error as Error).message).toBe(`testhost: ProxyCommand \`${script} 127.0.0.1\` exited with 1 before the SSH handshake: websocket: bad handshake`)
    expect(stderr.join('')).toBe('2025-11-24 INF connecting to 127.0.0.1\nwebsocket: bad handshake\n') // the person sees it, as with ssh

    const r = await runCli(['backup', 'status', '--json'], {cwd: repo.dir, env: {...host.env, HOME: home}})
    expect(r.exitCode).toBe(2)
    expect(JSON.parse(r.stdout).error.message).toBe((error as Error).message)
    expect(r.stderr).toContain('websocket: bad handshake')
    expect(r.stderr).not.toContain('Unhandled')
  })

  it('the connect time limit does not count the time a person takes to answer the host key question', async () => {
    const original = await fs.readFile(knownHostsFile(), 'utf8')
    await fs.writeFile(knownHostsFile(), '')
    try {
      const askHostKey = async () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 2500))
      const conn = await connectHost({askHostKey, connectTimeoutSeconds: 1, env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'})
      expect(conn.pinnedHostKey?.line).toBe(host.knownHostsLine)
      await conn.close()
    } finally {
      await fs.writeFile(knownHostsFile(), original)
    }
  })

  it('a read command (status) refuses an unknown host key naming --accept-new-host-key; with the flag it connects and pins', async () => {
    const original = await fs.readFile(knownHostsFile(), 'utf8')
    await fs.writeFile(knownHostsFile(), '')
    const env = {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}
    try {
      const refused = await runCli(['status', '--no-fetch'], {cwd: repo.dir, env})
      expect(refused.exitCode).toBe(2)
      expect(refused.stderr).toContain(`Error: ${host.alias}: unknown host key ssh-ed25519 ${host.hostKeyFingerprint}; refused`)
      expect(refused.stderr).toContain('then run again with --accept-new-host-key to pin it in known_hosts')
      expect(await fs.readFile(knownHostsFile(), 'utf8')).toBe('')

      const accepted = await runCli(['status', '--no-fetch', '--json', '--accept-new-host-key'], {cwd: repo.dir, env})
      expect(accepted.exitCode, accepted.stderr).not.toBe(2)
      expect(JSON.parse(accepted.stdout).host.name).toBe('testhost')
      expect(await fs.readFile(knownHostsFile(), 'utf8')).toBe(`${host.knownHostsLine}\n`)
      // The pin is said, with the file that changed and how to commit it.
      expect(accepted.stderr).toContain(`Warning: pinned new host key ${host.hostKeyFingerprint} in ${knownHostsFile()}: known_hosts changed, commit it (git add known_hosts`)
    } finally {
      await fs.writeFile(knownHostsFile(), original)
    }
  })

  it('also trusts a hashed entry in ~/.ssh/known_hosts (ssh-keygen -H)', async () => {
    const original = await fs.readFile(knownHostsFile(), 'utf8')
    await fs.writeFile(knownHostsFile(), '')
    const userFile = path.join(host.home, '.ssh/known_hosts')
    await fs.writeFile(userFile, `${host.knownHostsLine.replace(`[${host.alias}]`, '[127.0.0.1]')}\n`)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', userFile])
    try {
      expect(await fs.readFile(userFile, 'utf8')).toMatch(/^\|1\|/)
      const conn = await connectHost({env: host.env, homeDir: host.home, homelab: await homelab(), host: 'testhost'})
      expect(conn.pinnedHostKey).toBeUndefined()
      await conn.close()
    } finally {
      await fs.writeFile(knownHostsFile(), original)
      await fs.rm(userFile, {force: true})
      await fs.rm(`${userFile}.old`, {force: true})
    }
  })
})
