import type {Client, ClientChannel, ConnectConfig} from 'ssh2'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {StringDecoder} from 'node:string_decoder'

import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {ConfigError, HostUnreachableError} from '../errors.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {hostKeyNames, resolveSshTarget, type SshTarget} from './config.js'
import {HostKeyChangedError, RemoteTimeoutError, SudoPasswordError, UnknownHostKeyError} from './errors.js'
import {checkHostKey, fingerprint, type KnownHostEntry, knownHostName, knownHostsLine, keyTypeOfBlob, parseKnownHosts} from './known-hosts.js'
import {lineSplitter, shellQuote} from './shell.js'

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
  /** SSH handshake time limit in ms (default 20000). */
  readyTimeoutMs?: number
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
}

/** Opens and authenticates one ssh2 client to `target`, verifying its host key first. */
async function openClient(
  target: SshTarget,
  options: ConnectHostOptions & {hostName: string; repoKnownHosts: string; homeDir: string; env: Record<string, string | undefined>},
  sock?: NodeJS.ReadableStream,
): Promise<OpenedClient> {
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
    const decide = options.acceptNewHostKey ? Promise.resolve(true) : options.askHostKey ? options.askHostKey(question) : Promise.resolve(false)
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
        if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
          passphrase = options.askPassphrase ? await options.askPassphrase(method) : undefined
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
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    sock: sock as never,
    username: target.user,
  }

  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve())
    client.once('error', (error: Error & {level?: string; code?: string}) => {
      if (hostKeyError) return reject(hostKeyError)
      if (error.level === 'client-authentication')
        return reject(
          new HostUnreachableError(`${who}: authentication failed (tried ${tried.join(', ') || 'no key: no agent and no identity file'})`, {
            suggestions: ['add your public key to the host user\'s authorized_keys, load it in ssh-agent, or set IdentityFile in ~/.ssh/config'],
          }),
        )
      if (error.level === 'client-timeout') return reject(new HostUnreachableError(`${who}: SSH handshake timed out (${target.hostName}:${target.port})`))
      reject(
        new HostUnreachableError(`cannot reach ${target.alias} (${target.hostName}:${target.port}): ${error.code ?? error.message}`, {
          cause: error,
          suggestions: ['check that the host is up and that ~/.ssh/config names the right HostName and Port'],
        }),
      )
    })
    client.connect(config)
  })

  let pinned: OpenedClient['pinned']
  if (toPin) {
    let existing = ''
    try {
      existing = await fs.readFile(options.repoKnownHosts, 'utf8')
    } catch {}

    await writeFileAtomic(options.repoKnownHosts, `${existing}${existing === '' || existing.endsWith('\n') ? '' : '\n'}${toPin}\n`)
    pinned = {file: options.repoKnownHosts, line: toPin}
  }

  return {client, fingerprint: seenFingerprint, pinned}
}

/**
 * Opens ONE SSH connection to a homelab host (ssh2): homelab.yaml `ssh:` resolved through
 * `~/.ssh/config` (HostName, User, Port, IdentityFile, IdentitiesOnly, HostKeyAlias, one level of
 * ProxyJump); the host key checked against the repo's known_hosts (homelab.yaml `knownHosts`) and
 * `~/.ssh/known_hosts` BEFORE authenticating; auth by ssh-agent (SSH_AUTH_SOCK) then identity files.
 *
 * @throws HostKeyChangedError (exit 2) when the key differs from a pinned one (expected and
 *   received fingerprints in the message; no credential was sent), UnknownHostKeyError (exit 2)
 *   for an unknown key not accepted, HostUnreachableError (exit 2) for network/auth failures,
 *   ConfigError for an unknown host name.
 */
export async function connectHost(options: ConnectHostOptions): Promise<HostConnection> {
  const host = findHost(options.homelab, options.host)
  const env = options.env ?? {}
  const homeDir = options.homeDir ?? env.HOME ?? os.homedir()
  const localUser = env.USER ?? os.userInfo().username
  const target = await resolveSshTarget({homeDir, localUser, spec: host.ssh})
  const common = {...options, env, homeDir, hostName: host.name, repoKnownHosts: path.join(options.homelab.root, options.homelab.config.knownHosts)}

  let jump: OpenedClient | undefined
  let sock: NodeJS.ReadableStream | undefined
  if (target.proxyJump) {
    const jumpTarget = await resolveSshTarget({homeDir, localUser, spec: target.proxyJump.split(',')[0]})
    jump = await openClient(jumpTarget, common)
    sock = await new Promise<ClientChannel>((resolve, reject) => {
      jump!.client.forwardOut('127.0.0.1', 0, target.hostName, target.port, (error, stream) =>
        error ? reject(new HostUnreachableError(`ProxyJump ${target.proxyJump} cannot reach ${target.hostName}:${target.port}: ${error.message}`)) : resolve(stream),
      )
    })
  }

  const opened = await openClient(target, common, sock)
  const {client} = opened
  let closed = false
  client.on('close', () => {
    closed = true
  })
  client.on('error', () => {})

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
    async sudoNeedsPassword() {
      return (await getSudo()).password !== undefined
    },
    target,
  }
}
