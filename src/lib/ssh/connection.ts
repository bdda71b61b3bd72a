import type {Client, ClientChannel, ConnectConfig} from 'ssh2'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Duplex} from 'node:stream'
import {StringDecoder} from 'node:string_decoder'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {ConfigError, HostUnreachableError} from '../errors.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {hostKeyNames, resolveSshTarget, type SshTarget} from './config.js'
import {HostKeyChangedError, RemoteTimeoutError, SudoPasswordError, UnknownHostKeyError} from './errors.js'
import {checkHostKey, fingerprint, type KnownHostEntry, knownHostName, knownHostsLine, keyTypeOfBlob, parseKnownHosts} from './known-hosts.js'
import {type ProxyProcess, startProxyCommand} from './proxy-command.js'
import {lineSplitter, shellQuote} from './shell.js'

/** Seconds to wait for a host's SSH answer when neither the caller nor ConnectTimeout says. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 20
/** The same through a ProxyCommand, which may first wait on a person (a browser login). */
export const DEFAULT_PROXY_COMMAND_TIMEOUT_SECONDS = 120

/** What the person is asked about an unknown host key. */
export interface HostKeyQuestion {
  /** The host's name in homelab.yaml. */
  host: string
  /** `[alias]:port` names the key would be pinned under. */
  names: string[]
  keyType: string
  /** `SHA256:…` */
  fingerprint: string
  /** The repo known_hosts file the key is pinned into when accepted. */
  knownHostsFile: string
}

/** Options of {@link connectHost}. */
export interface ConnectHostOptions {
  homelab: Homelab
  /** The host: its entry in homelab.yaml or its `name`. */
  host: HostConfig | string
  /** Pin an unknown host key into the repo's known_hosts without asking (the `--accept-new-host-key` flag). */
  acceptNewHostKey?: boolean
  /** Asked for an unknown host key (only when `acceptNewHostKey` is off); true pins it. Absent = refuse. */
  askHostKey?: (question: HostKeyQuestion) => Promise<boolean>
  /** Asked for an encrypted identity file's passphrase; undefined skips that file. */
  askPassphrase?: (identityFile: string) => Promise<string | undefined>
  /** Asked (at most once per connection) for the sudo password when `sudo -n true` says one is needed. */
  askSudoPassword?: (info: {host: string; user: string}) => Promise<string>
  /** Environment to read SSH_AUTH_SOCK, HOME and USER from (default: none). */
  env?: Record<string, string | undefined>
  /** Home folder holding .ssh/config and .ssh/known_hosts (default env.HOME, else the OS home). */
  homeDir?: string
  /**
   * Seconds each hop (ProxyJump host, target) may take from the TCP connect (or the ProxyCommand
   * start) to a logged-in session, not counting time spent in the prompts above. Wins over
   * ConnectTimeout in ~/.ssh/config; default {@link DEFAULT_CONNECT_TIMEOUT_SECONDS}.
   */
  connectTimeoutSeconds?: number
  /** Receives a ProxyCommand's stderr as it arrives (default: written to this process's stderr, as OpenSSH does). */
  onProxyStderr?: (text: string) => void
}

/** Result of one remote command. */
export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Options of {@link HostConnection.exec}. */
export interface ExecOptions {
  /** Text sent on the command's stdin, then stdin is closed (default: closed at once). */
  stdin?: string
  /** Called for each stdout line as it arrives (live streaming). */
  onStdout?(line: string): void
  /** Called for each stderr line as it arrives. */
  onStderr?(line: string): void
  /** Time limit in ms; past it the channel is closed and RemoteTimeoutError thrown. */
  timeoutMs?: number
}

/** A remote command whose stdin stays open until `end()` (e.g. a lock holder). */
export interface RemoteProcess {
  write(data: string): void
  end(): void
  /** Asks the server to KILL the command and closes the channel. */
  kill(): void
  /** Settles when the channel closes. */
  exited: Promise<ExecResult>
}

/** One SSH connection to a host; every remote command is a channel on it (they may run in parallel). */
export interface HostConnection {
  host: HostConfig
  target: SshTarget
  /** `SHA256:…` of the verified host key. */
  hostKeyFingerprint: string
  /** Set when this connection pinned a new host key into the repo's known_hosts. */
  pinnedHostKey?: {file: string; line: string}
  /** Runs `command` through the login shell; never throws for a non-zero exit. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>
  /** Starts `command` with stdin left open. */
  spawn(command: string, options?: Omit<ExecOptions, 'stdin' | 'timeoutMs'>): Promise<RemoteProcess>
  /**
   * Runs `command` as root through `sh -c`: `sudo -n` when no password is needed, else
   * `sudo -k -S -p ''` with the password as the first stdin line (never in argv or env).
   * @throws SudoPasswordError when a password is needed and none can be asked, or it is rejected.
   */
  sudo(command: string, options?: ExecOptions): Promise<ExecResult>
  /**
   * Starts `command` as root like {@link HostConnection.sudo}, with stdin left open after the
   * password line (a watcher can wait on its end: see src/lib/diagnose/stream.ts).
   * @throws SudoPasswordError as {@link HostConnection.sudo}
   */
  spawnSudo(command: string, options?: Omit<ExecOptions, 'stdin' | 'timeoutMs'>): Promise<RemoteProcess>
  /** Whether sudo needs a password on this host (runs `sudo -n true` once). */
  sudoNeedsPassword(): Promise<boolean>
  close(): Promise<void>
}

function findHost(homelab: Homelab, host: HostConfig | string): HostConfig {
  if (typeof host !== 'string') return host
  const found = homelab.config.hosts.find((h) => h.name === host)
  if (!found) throw new ConfigError(`homelab.yaml: no host named "${host}" (hosts: ${homelab.config.hosts.map((h) => h.name).join(', ')})`)
  return found
}

async function readKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const lists = await Promise.all(
    files.map(async (file) => {
      try {
        return parseKnownHosts(await fs.readFile(file, 'utf8'), file)
      } catch {
        return []
      }
    }),
  )
  return lists.flat()
}

const HOST_KEY_ALGORITHMS: Record<string, string[]> = {'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']}

interface OpenedClient {
  client: Client
  fingerprint: string
  pinned?: {file: string; line: string}
  /** The ProxyCommand this client speaks through, killed when the client closes. */
  proxy?: ProxyProcess
}

type HopOptions = ConnectHostOptions & {hostName: string; repoKnownHosts: string; homeDir: string; env: Record<string, string | undefined>}

/**
 * A time limit that can be paused while a person answers a prompt. `expired` rejects with the
 * error `onExpire` returns once `ms` of running time have passed.
 */
class Deadline {
  readonly expired: Promise<never>
  private timer: NodeJS.Timeout | undefined
  private left: number
  private since = 0
  private paused = 0
  private done = false
  private fire!: () => void

  constructor(ms: number, onExpire: () => Error) {
    this.left = ms
    this.expired = new Promise<never>((_, reject) => {
      this.fire = () => {
        this.done = true
        reject(onExpire())
      }
    })
    this.expired.catch(() => {})
    this.run()
  }

  /** Stops counting (nested calls need as many resume()s). */
  pause(): void {
    if (this.done || this.paused++ > 0) return
    clearTimeout(this.timer)
    this.left -= Date.now() - this.since
  }

  resume(): void {
    if (this.done || --this.paused > 0) return
    this.run()
  }

  stop(): void {
    this.done = true
    clearTimeout(this.timer)
  }

  /** Runs `ask` (a prompt) with the clock stopped. */
  async whilePaused<T>(ask: () => Promise<T>): Promise<T> {
    this.pause()
    try {
      return await ask()
    } finally {
      this.resume()
    }
  }

  private run(): void {
    this.since = Date.now()
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.left))
  }
}

/** Where one hop's bytes go: a TCP connect (no sock), a ProxyJump channel or a ProxyCommand. */
interface Route {
  /** For messages: `127.0.0.1:22`, `10.0.0.5:22 through ProxyJump bastion`, `ProxyCommand cloudflared …`. */
  where: string
  sock?: Duplex
  proxy?: ProxyProcess
}

/** `HOST: ProxyCommand `…` exited with 1 before the SSH handshake: <its last stderr line>` */
function proxyExitError(label: string, proxy: ProxyProcess, exit: Awaited<ProxyProcess['exited']>): HostUnreachableError {
  const how = exit.spawnError
    ? `could not start (${exit.spawnError.message})`
    : exit.code === null
      ? `was ended by ${exit.signal ?? 'a signal'}`
      : `exited with ${exit.code}`
  return new HostUnreachableError(`${label}: ProxyCommand \`${proxy.command}\` ${how} before the SSH handshake${exit.lastStderrLine ? `: ${exit.lastStderrLine}` : ''}`, {
    suggestions: ['run the ProxyCommand by hand to see why it fails (it is the one in ~/.ssh/config, %-tokens expanded)'],
  })
}

/**
 * Opens and authenticates one ssh2 client to `target` over `route`, verifying its host key
 * first, within `deadline` (paused while a prompt waits for the person). On any failure every
 * resource of the attempt (socket, ProxyCommand) is released and the client keeps an 'error'
 * listener, so a late 'error' from ssh2 can never crash the process.
 */
async function openClient(target: SshTarget, options: HopOptions, label: string, route: Route, deadline: Deadline): Promise<OpenedClient> {
  // ssh2 is CommonJS: Node's ESM loader does not see every named export (utils), so use the default.
  const ssh2 = await import('ssh2')
  const {Client, utils} = (ssh2 as unknown as {default?: typeof ssh2}).default ?? ssh2
  const names = hostKeyNames(target)
  const entries = await readKnownHosts([
    options.repoKnownHosts,
    path.join(options.homeDir, '.ssh', 'known_hosts'),
    path.join(options.homeDir, '.ssh', 'known_hosts2'),
  ])
  const knownTypes = [...new Set(entries.filter((e) => names.some((n) => checkHostKey([e], [n], e.key).status === 'trusted')).map((e) => e.keyType))]
  const prepend = knownTypes.flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? [t])

  let hostKeyError: Error | undefined
  let seenFingerprint = ''
  let toPin: string | undefined
  const who = `${target.user}@${target.alias}`

  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
    seenFingerprint = fingerprint(key)
    const check = checkHostKey(entries, names, key)
    if (check.status === 'trusted') return verify(true)
    if (check.status === 'revoked') {
      hostKeyError = new HostKeyChangedError(`${target.alias}: the host key ${seenFingerprint} is marked @revoked in ${check.entry.file}:${check.entry.line}; refused`)
      return verify(false)
    }

    if (check.status === 'changed') {
      const expected = check.expected.map((e) => `${e.keyType} ${fingerprint(e.key)} (${e.file}:${e.line})`).join(', ')
      hostKeyError = new HostKeyChangedError(
        `${target.alias}: HOST KEY CHANGED, refused before sending any credentials: expected ${expected}, received ${keyTypeOfBlob(key)} ${seenFingerprint}`,
        {suggestions: ['if the host was really reinstalled, verify the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then replace its line in known_hosts']},
      )
      return verify(false)
    }

    const question: HostKeyQuestion = {fingerprint: seenFingerprint, host: options.hostName, keyType: keyTypeOfBlob(key), knownHostsFile: options.repoKnownHosts, names}
    const pinName = knownHostName(target.hostKeyAlias ?? target.alias, target.port)
    const {askHostKey} = options
    const decide = options.acceptNewHostKey ? Promise.resolve(true) : askHostKey ? deadline.whilePaused(async () => askHostKey(question)) : Promise.resolve(false)
    decide.then(
      (ok) => {
        if (ok) toPin = knownHostsLine(pinName, key)
        else
          hostKeyError = new UnknownHostKeyError(`${target.alias}: unknown host key ${question.keyType} ${seenFingerprint}; refused (not in ${path.basename(options.repoKnownHosts)} or ~/.ssh/known_hosts)`, {
            suggestions: [`check the fingerprint on the host's console, then run again with --accept-new-host-key to pin it in ${path.basename(options.repoKnownHosts)}`],
          })
        verify(ok)
      },
      (error: unknown) => {
        hostKeyError = error instanceof Error ? error : new Error(String(error))
        verify(false)
      },
    )
  }

  // Auth: the agent first (unless IdentitiesOnly), then each identity file.
  const methods: Array<'agent' | string> = []
  if (options.env.SSH_AUTH_SOCK && !target.identitiesOnly) methods.push('agent')
  methods.push(...target.identityFiles)
  const tried: string[] = []
  const authHandler = (_left: unknown, _partial: unknown, next: (m: unknown) => void): void => {
    const attempt = async (): Promise<unknown> => {
      while (methods.length > 0) {
        const method = methods.shift()!
        if (method === 'agent') {
          tried.push('ssh-agent')
          return {agent: options.env.SSH_AUTH_SOCK, type: 'agent', username: target.user}
        }

        let data: Buffer
        try {
          data = await fs.readFile(method)
        } catch {
          continue
        }

        let passphrase: string | undefined
        let parsed = utils.parseKey(data)
        const {askPassphrase} = options
        if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
          passphrase = askPassphrase ? await deadline.whilePaused(async () => askPassphrase(method)) : undefined
          if (passphrase === undefined) continue
          parsed = utils.parseKey(data, passphrase)
        }

        if (parsed instanceof Error) continue
        tried.push(method.replace(options.homeDir, '~'))
        return {key: data, passphrase, type: 'publickey', username: target.user}
      }

      return false
    }

    attempt().then(next, () => next(false))
  }

  const client = new Client()
  const config: ConnectConfig = {
    algorithms: prepend.length > 0 ? {serverHostKey: {prepend} as never} : undefined,
    authHandler: authHandler as never,
    host: target.hostName,
    hostVerifier: hostVerifier as never,
    keepaliveCountMax: 6,
    keepaliveInterval: 5000,
    port: target.port,
    // The Deadline is the limit (it covers the TCP connect too, and pauses for prompts).
    readyTimeout: 0,
    sock: route.sock as never,
    username: target.user,
  }

  // ssh2 may emit 'error' more than once (e.g. a timeout, then "Connection lost before
  // handshake"): this listener stays for the client's whole life, the first event decides.
  let settled = false
  let onFailure: (error: Error & {level?: string; code?: string}) => void = () => {}
  client.on('error', (error: Error & {level?: string; code?: string}) => {
    if (!settled) onFailure(error)
  })
  if (route.proxy) {
    const {proxy} = route
    client.on('close', () => proxy.kill())
  }

  const handshake = new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      reject(error)
    }

    // A ProxyCommand that dies first is the reason, whatever ssh2 says about the lost stream.
    const failWithProxy = async (fallback: Error) => {
      if (!route.proxy) return fail(fallback)
      const {proxy} = route
      const exit = await Promise.race([proxy.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref())])
      fail(exit ? proxyExitError(label, proxy, exit) : fallback)
    }

    onFailure = (error) => {
      if (hostKeyError) return fail(hostKeyError)
      if (error.level === 'client-authentication')
        return fail(
          new HostUnreachableError(`${who}: authentication failed (tried ${tried.join(', ') || 'no key: no agent and no identity file'})`, {
            suggestions: ['add your public key to the host user\'s authorized_keys, load it in ssh-agent, or set IdentityFile in ~/.ssh/config'],
          }),
        )
      void failWithProxy(
        new HostUnreachableError(`${label}: cannot reach ${target.alias === label ? 'it' : target.alias} (${route.where}): ${error.code ?? error.message}`, {
          cause: error,
          suggestions: ['check that the host is up and that ~/.ssh/config names the right HostName and Port (or ProxyJump/ProxyCommand)'],
        }),
      )
    }

    client.once('ready', () => {
      if (settled) return
      settled = true
      resolve()
    })
    client.once('close', () => void failWithProxy(new HostUnreachableError(`${label}: the connection closed during the SSH handshake (${route.where})`)))
    if (route.proxy) void route.proxy.exited.then((exit) => !settled && fail(proxyExitError(label, route.proxy!, exit)))
    deadline.expired.catch((error: Error) => fail(error))
    client.connect(config)
  })

  try {
    await handshake
  } catch (error) {
    client.destroy()
    route.sock?.destroy()
    route.proxy?.kill()
    throw error
  } finally {
    deadline.stop()
  }

  let pinned: OpenedClient['pinned']
  if (toPin) {
    try {
      await appendKnownHostsLine(options.repoKnownHosts, toPin)
    } catch (error) {
      client.end()
      throw error
    }

    pinned = {file: options.repoKnownHosts, line: toPin}
  }

  return {client, fingerprint: seenFingerprint, pinned, proxy: route.proxy}
}

/** Pins in flight per known_hosts file: deploy opens its hosts in parallel, and each pin is a read-modify-write. */
const pinQueues = new Map<string, Promise<void>>()

/** Appends `line` to the known_hosts `file` atomically, one pin at a time per file (re-read inside the turn, so no pin is lost). */
async function appendKnownHostsLine(file: string, line: string): Promise<void> {
  const turn = (pinQueues.get(file) ?? Promise.resolve()).then(async () => {
    let existing = ''
    try {
      existing = await fs.readFile(file, 'utf8')
    } catch {}

    await writeFileAtomic(file, `${existing}${existing === '' || existing.endsWith('\n') ? '' : '\n'}${line}\n`)
  })
  pinQueues.set(file, turn.catch(() => {}))
  return turn
}

/**
 * Opens one hop within its time limit (the caller's, else the hop's ConnectTimeout, else 20 s, or
 * 120 s through a ProxyCommand):
 * through `jump` (a forwarded channel), through the hop's ProxyCommand, or a direct TCP connect.
 * @throws HostUnreachableError `LABEL: no SSH answer within N s (WHERE)` past the limit, and
 *   whatever {@link openClient} throws
 */
async function openHop(target: SshTarget, options: HopOptions, label: string, jump?: OpenedClient & {alias: string}): Promise<OpenedClient> {
  // A ProxyCommand such as `cloudflared access ssh` may first wait on a browser login (its URL
  // goes to stderr): it gets more time by default, still bounded, unlike OpenSSH's none.
  const fallback = target.proxyCommand ? DEFAULT_PROXY_COMMAND_TIMEOUT_SECONDS : DEFAULT_CONNECT_TIMEOUT_SECONDS
  const seconds = options.connectTimeoutSeconds ?? target.connectTimeoutSeconds ?? fallback
  const route: Route = {where: `${target.hostName}:${target.port}`}
  if (target.proxyCommand) route.where = `ProxyCommand ${target.proxyCommand}`
  else if (jump) route.where = `${target.hostName}:${target.port} through ProxyJump ${jump.alias}`
  const deadline = new Deadline(seconds * 1000, () => new HostUnreachableError(`${label}: no SSH answer within ${seconds} s (${route.where})`, {
    suggestions: ['check that the host is up and reachable from here; allow more time with --connect-timeout SECONDS or ConnectTimeout in ~/.ssh/config'],
  }))
  try {
    if (target.proxyCommand) {
      const childEnv: NodeJS.ProcessEnv = {...process.env}
      for (const [k, v] of Object.entries(options.env)) if (v === undefined) delete childEnv[k]; else childEnv[k] = v
      route.proxy = startProxyCommand(target.proxyCommand, {env: childEnv, onStderr: options.onProxyStderr ?? ((text) => process.stderr.write(text))})
      route.sock = route.proxy.sock
    } else if (jump) {
      const opened = new Promise<ClientChannel>((resolve, reject) => {
        jump.client.forwardOut('127.0.0.1', 0, target.hostName, target.port, (error, stream) =>
          error ? reject(new HostUnreachableError(`${label}: ProxyJump ${jump.alias} cannot reach ${target.hostName}:${target.port}: ${error.message}`)) : resolve(stream),
        )
      })
      route.sock = await Promise.race([opened, deadline.expired])
      route.sock.on('error', () => {})
    }
  } catch (error) {
    deadline.stop()
    route.proxy?.kill()
    throw error
  }

  return openClient(target, options, label, route, deadline)
}

/**
 * Opens ONE SSH connection to a homelab host (ssh2): homelab.yaml `ssh:` resolved through
 * `~/.ssh/config` (HostName, User, Port, IdentityFile, IdentitiesOnly, HostKeyAlias,
 * ConnectTimeout, and one level of ProxyJump or a ProxyCommand spoken over its stdio); the host
 * key checked against the repo's known_hosts (homelab.yaml `knownHosts`) and `~/.ssh/known_hosts`
 * BEFORE authenticating; auth by ssh-agent (SSH_AUTH_SOCK) then identity files. Each hop must be
 * logged in within `connectTimeoutSeconds` (else ConnectTimeout, else 20 s; prompts not counted).
 * Whatever fails, nothing is left behind: no socket, no ProxyCommand process, no listener-less
 * ssh2 client whose late 'error' could crash the process.
 *
 * @throws HostKeyChangedError (exit 2) when the key differs from a pinned one (expected and
 *   received fingerprints in the message; no credential was sent), UnknownHostKeyError (exit 2)
 *   for an unknown key not accepted, HostUnreachableError (exit 2) for network/auth failures,
 *   `HOST: no SSH answer within N s (WHERE)` past the time limit, or a ProxyCommand that exited
 *   before the handshake (named with its last stderr line); ConfigError for an unknown host name
 *   or a bad ~/.ssh/config value.
 */
export async function connectHost(options: ConnectHostOptions): Promise<HostConnection> {
  const host = findHost(options.homelab, options.host)
  const env = options.env ?? {}
  const homeDir = options.homeDir ?? env.HOME ?? os.homedir()
  const localUser = env.USER ?? os.userInfo().username
  const target = await resolveSshTarget({homeDir, localUser, spec: host.ssh})
  const common: HopOptions = {...options, env, homeDir, hostName: host.name, repoKnownHosts: path.join(options.homelab.root, options.homelab.config.knownHosts)}

  let jump: (OpenedClient & {alias: string}) | undefined
  let opened: OpenedClient
  try {
    if (target.proxyJump) {
      const jumpTarget = await resolveSshTarget({homeDir, localUser, spec: target.proxyJump.split(',')[0]})
      jump = {...(await openHop(jumpTarget, common, `${host.name}: ProxyJump ${jumpTarget.alias}`)), alias: jumpTarget.alias}
    }

    opened = await openHop(target, common, host.name, jump)
  } catch (error) {
    jump?.client.destroy()
    jump?.proxy?.kill()
    throw error
  }

  const {client} = opened
  let closed = false
  client.on('close', () => {
    closed = true
    jump?.client.end()
  })

  const spawn = async (command: string, execOptions: Omit<ExecOptions, 'stdin' | 'timeoutMs'> = {}): Promise<RemoteProcess> => {
    if (closed) throw new HostUnreachableError(`${host.name}: the SSH connection is closed`)
    const stream = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (error, channel) =>
        error ? reject(new HostUnreachableError(`${host.name}: cannot open a channel: ${error.message}`, {cause: error})) : resolve(channel),
      )
    })
    let stdout = ''
    let stderr = ''
    let exitCode: number | undefined
    const outDecoder = new StringDecoder('utf8')
    const errDecoder = new StringDecoder('utf8')
    const outLines = lineSplitter((l) => execOptions.onStdout?.(l))
    const errLines = lineSplitter((l) => execOptions.onStderr?.(l))
    stream.on('data', (d: Buffer) => {
      const text = outDecoder.write(d)
      stdout += text
      outLines.push(text)
    })
    stream.stderr.on('data', (d: Buffer) => {
      const text = errDecoder.write(d)
      stderr += text
      errLines.push(text)
    })
    stream.on('exit', (code: number | null, signal?: string) => {
      exitCode = code ?? (signal ? 128 + 9 : 255)
    })
    const exited = new Promise<ExecResult>((resolve, reject) => {
      stream.on('close', (code?: number | null, signal?: string) => {
        if (exitCode === undefined && code !== undefined) exitCode = code ?? (signal ? 128 + 9 : 255)
        outLines.flush()
        errLines.flush()
        if (exitCode === undefined) {
          reject(new HostUnreachableError(`${host.name}: the SSH connection was lost while running: ${command.slice(0, 120)}`))
          return
        }

        resolve({exitCode, stderr, stdout})
      })
    })
    exited.catch(() => {})
    return {
      end: () => stream.end(),
      exited,
      kill: () => {
        try {
          stream.signal('KILL')
        } catch {}

        stream.close()
      },
      write: (data: string) => stream.write(data),
    }
  }

  const exec = async (command: string, execOptions: ExecOptions = {}): Promise<ExecResult> => {
    const proc = await spawn(command, execOptions)
    if (execOptions.stdin !== undefined) proc.write(execOptions.stdin)
    proc.end()
    if (!execOptions.timeoutMs) return proc.exited
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          proc.kill()
          reject(new RemoteTimeoutError(`${host.name}: "${command.slice(0, 80)}" did not finish within ${Math.round(execOptions.timeoutMs! / 1000)} s`))
        },
        execOptions.timeoutMs,
      )
    })
    try {
      return await Promise.race([proc.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  // sudo: decided once per connection by `sudo -n true`; the password asked at most once.
  let sudoState: Promise<{password?: string}> | undefined
  const prepareSudo = async (): Promise<{password?: string}> => {
    const probe = await exec('sudo -n true', {timeoutMs: 30_000})
    if (probe.exitCode === 0) return {}
    if (/not in the sudoers|may not run sudo|not allowed/i.test(probe.stderr))
      throw new SudoPasswordError(`${target.user}@${host.name} may not run sudo: ${probe.stderr.trim().split('\n').at(-1)}`)
    if (!options.askSudoPassword)
      throw new SudoPasswordError(`sudo on ${host.name} needs ${target.user}'s password and none can be asked here`, {
        suggestions: ['run in a terminal to be asked, or pipe it with --sudo-password-stdin'],
      })
    const password = await options.askSudoPassword({host: host.name, user: target.user})
    const check = await exec("sudo -k -S -p '' true", {stdin: `${password}\n`, timeoutMs: 60_000})
    if (check.exitCode !== 0) {
      const reason = /incorrect password|Sorry, try again|no password/i.test(check.stderr) ? 'the password was rejected' : check.stderr.trim().split('\n').at(-1)
      throw new SudoPasswordError(`sudo on ${host.name} for ${target.user}: ${reason}`, {suggestions: ['run again with the right sudo password']})
    }

    return {password}
  }

  const getSudo = () => {
    sudoState ??= prepareSudo()
    return sudoState
  }

  return {
    async close() {
      client.end()
      jump?.client.end()
      // A ProxyCommand ends with the connection (the 'close' listener); this is the fallback.
      for (const proxy of [opened.proxy, jump?.proxy]) if (proxy) setTimeout(() => proxy.kill(), 500).unref()
    },
    exec,
    host,
    hostKeyFingerprint: opened.fingerprint,
    pinnedHostKey: opened.pinned ?? jump?.pinned,
    spawn,
    async sudo(command: string, execOptions: ExecOptions = {}) {
      const {password} = await getSudo()
      if (password === undefined) return exec(`sudo -n -- sh -c ${shellQuote(command)}`, execOptions)
      return exec(`sudo -k -S -p '' -- sh -c ${shellQuote(command)}`, {...execOptions, stdin: `${password}\n${execOptions.stdin ?? ''}`})
    },
    async spawnSudo(command: string, execOptions: Omit<ExecOptions, 'stdin' | 'timeoutMs'> = {}) {
      const {password} = await getSudo()
      if (password === undefined) return spawn(`sudo -n -- sh -c ${shellQuote(command)}`, execOptions)
      const proc = await spawn(`sudo -k -S -p '' -- sh -c ${shellQuote(command)}`, execOptions)
      proc.write(`${password}\n`)
      return proc
    },
    async sudoNeedsPassword() {
      return (await getSudo()).password !== undefined
    },
    target,
  }
}
