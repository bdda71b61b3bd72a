// A host that accepts TCP and never speaks SSH (a hung sshd, a port forward to nothing): every
// command that connects must end with exit 2, one JSON document under --json and nothing after
// it — before the fix, ssh2's second 'error' event ("Connection lost before handshake") was
// unhandled and killed Node after the JSON (exit 1). Also --connect-timeout against
// ConnectTimeout in ~/.ssh/config, and the `connecting to HOST…` line (only on a TTY).
import {execa} from 'execa'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {copyBundledHomelab} from '../helpers/copy-homelab.js'

let server: net.Server
let port: number
let repo: string
const sockets = new Set<net.Socket>()
let accepted = 0

/** A HOME whose ~/.ssh/config sends the alias `silent-host` to the silent port. */
function home(extra = ''): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'silent-home-'))
  mkdirSync(path.join(dir, '.ssh'), {mode: 0o700})
  writeFileSync(path.join(dir, '.ssh/config'), `Host silent-host\n  HostName 127.0.0.1\n  Port ${port}\n  User nobody\n${extra}`)
  return dir
}

beforeAll(async () => {
  server = net.createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port

  // The bundled homelab pointed at the silent host, as a git repo whose branch is on its remote
  // (so deploy gets past its preflight with --no-validate --no-push).
  repo = copyBundledHomelab('silent-repo-')
  const doc = parseDocument(readFileSync(path.join(repo, 'homelab.yaml'), 'utf8'))
  doc.setIn(['hosts', 0, 'ssh'], 'silent-host')
  writeFileSync(path.join(repo, 'homelab.yaml'), doc.toString())
  const git = (args: string[], cwd = repo) =>
    execa('git', args, {cwd, env: {GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't'}})
  await git(['init', '-q', '-b', 'main'])
  await git(['add', '-A'])
  await git(['commit', '-q', '-m', 'silent host copy'])
  await git(['init', '-q', '--bare', '-b', 'main', `${repo}.git`], os.tmpdir())
  await git(['remote', 'add', 'origin', `${repo}.git`])
  await git(['push', '-q', 'origin', 'main'])
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => server?.close(resolve))
})

/** Runs the CLI in the repo with the given HOME; sudo and sops keys at hand so only the connection can fail. */
async function run(args: string[], homeDir: string) {
  const keyFile = path.join(homeDir, 'keys.txt')
  copyFileSync(path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey'), keyFile)
  return runCli(args, {
    cwd: repo,
    env: {
      HOME: homeDir,
      HOMELAB_SUDO_PASSWORD: 'unused',
      SOPS_AGE_KEY: '',
      SOPS_AGE_KEY_FILE: keyFile,
      SSH_AUTH_SOCK: undefined,
      XDG_CONFIG_HOME: undefined,
      XDG_STATE_HOME: path.join(homeDir, 'state'),
    },
    timeout: 60_000,
  })
}

const COMMANDS: string[][] = [
  ['status', '--no-fetch'],
  ['reconcile', '--all'],
  ['backup', 'status'],
  ['backup', 'verify'],
  ['backup', 'run'],
  ['backup', 'sync'],
  ['deploy', '--yes', '--no-validate', '--no-push'],
  ['rollback', '--yes'],
  ['secrets', 'rotate-key', '--yes'],
]

describe('a host that accepts TCP and never answers', () => {
  it.each(COMMANDS)('%s %s: exit 2, one JSON document, no unhandled error (--connect-timeout 1 wins over ConnectTimeout 30)', async (...args) => {
    const before = accepted
    const started = Date.now()
    const r = await run([...args, '--json', '--connect-timeout', '1'], home('  ConnectTimeout 30\n'))
    expect(r.stderr).not.toContain('Unhandled')
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(r.exitCode).toBe(2)
    const doc = JSON.parse(r.stdout) as {error?: {message: string}; hosts?: Array<{error: {message: string}}>}
    const message = doc.error?.message ?? ''
    expect(message).toContain(`no SSH answer within 1 s (127.0.0.1:${port})`)
    expect(accepted - before).toBeGreaterThanOrEqual(1) // the TCP connect happened: the timeout covers the handshake
    expect(Date.now() - started).toBeLessThan(25_000)
  })

  it('honours ConnectTimeout from ~/.ssh/config when no flag is given; one line naming the host and what to do', async () => {
    const r = await run(['backup', 'status'], home('  ConnectTimeout 1\n'))
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toBe(
      `Error: azalab-0: no SSH answer within 1 s (127.0.0.1:${port})\n  → check that the host is up and reachable from here; allow more time with --connect-timeout SECONDS or ConnectTimeout in ~/.ssh/config`,
    )
    expect(r.stdout).toBe('')
  })

  it('says `connecting to HOST…` on a TTY only', async () => {
    const homeDir = home()
    const offTty = await run(['backup', 'status', '--connect-timeout', '1'], homeDir)
    expect(offTty.stderr).not.toContain('connecting to')
    // On a pseudo-terminal (script(1)): the line is shown, then erased before the error.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const cli = process.env.HOMELAB_TEST_BUILT === '1' ? `'${path.join(REPO_ROOT, 'bin/run.js')}'` : `--import '${tsx}' '${path.join(REPO_ROOT, 'bin/dev.js')}'`
    const onTty = await execa('script', ['-qec', `'${process.execPath}' ${cli} backup status --connect-timeout 1`, '/dev/null'], {
      cwd: repo,
      env: {HOME: homeDir, NO_COLOR: '1', SSH_AUTH_SOCK: undefined},
      extendEnv: true,
      reject: false,
      timeout: 60_000,
    })
    expect(onTty.exitCode).toBe(2)
    expect(onTty.stdout).toContain('connecting to azalab-0 (silent-host)…\r\u001B[2K')
    expect(onTty.stdout).toContain(`Error: azalab-0: no SSH answer within 1 s (127.0.0.1:${port})`)
  })

  it('Ctrl-C while waiting for the host: exit 130 and one Error line (issue 17: 130 interrupted)', {timeout: 120_000}, async () => {
    const homeDir = home()
    const before = accepted
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const cli = process.env.HOMELAB_TEST_BUILT === '1' ? [path.join(REPO_ROOT, 'bin/run.js')] : ['--import', tsx, path.join(REPO_ROOT, 'bin/dev.js')]
    const child = execa(process.execPath, [...cli, 'backup', 'status', '--connect-timeout', '600'], {
      cwd: repo,
      env: {HOME: homeDir, NO_COLOR: '1', SSH_AUTH_SOCK: undefined},
      extendEnv: true,
      reject: false,
    })
    // Interrupt once the CLI is waiting on the silent host (its TCP connection accepted).
    while (accepted === before) await new Promise((resolve) => setTimeout(resolve, 50))
    child.kill('SIGINT')
    const r = await child
    expect(r.signal, r.stderr).toBeUndefined()
    expect(r.exitCode, r.stderr).toBe(130)
    expect(r.stderr).toBe('Error: interrupted (SIGINT); whatever the command was waiting for was left as it was')
    expect(r.stdout).toBe('')
  })
})
