import {promises as fs} from 'node:fs'
import path from 'node:path'

import {ConfigError} from '../errors.js'
import {knownHostName} from './known-hosts.js'

/** Where and how to reach one host, after `~/.ssh/config`. */
export interface SshTarget {
  /** The host name as written in homelab.yaml `ssh:` (the `Host` alias in ~/.ssh/config). */
  alias: string
  /** HostName from ~/.ssh/config, else the alias. */
  hostName: string
  /** TCP port: the one in homelab.yaml, else Port from ~/.ssh/config, else 22. */
  port: number
  /** Login user: the one in homelab.yaml, else User from ~/.ssh/config, else the local user. */
  user: string
  /** Absolute identity file paths: IdentityFile entries, else the OpenSSH defaults that exist. */
  identityFiles: string[]
  /** IdentitiesOnly yes: do not offer agent keys. */
  identitiesOnly: boolean
  /** HostKeyAlias from ~/.ssh/config: the name host keys are looked up under, when set. */
  hostKeyAlias?: string
  /** ProxyJump (`[user@]host[:port]`), when set and not `none` (and not after a ProxyCommand). */
  proxyJump?: string
  /**
   * ProxyCommand with its %-tokens expanded (see {@link expandProxyCommand}), when set and not
   * `none` (and not after a ProxyJump): SSH is spoken over its stdin/stdout.
   */
  proxyCommand?: string
  /** ConnectTimeout from ~/.ssh/config in seconds, when set and above 0. */
  connectTimeoutSeconds?: number
}

/** Splits homelab.yaml's `ssh: [user@]host[:port]`. */
export function parseSshSpec(spec: string): {user?: string; host: string; port?: number} {
  const match = /^(?:([^@\s]+)@)?([^@\s:]+)(?::(\d{1,5}))?$/.exec(spec)
  if (!match || (match[3] !== undefined && !(Number(match[3]) >= 1 && Number(match[3]) <= 65_535)))
    throw new ConfigError(`homelab.yaml: ssh "${spec}" must be [user@]host[:port] with a port from 1 to 65535`)
  return {host: match[2], port: match[3] ? Number(match[3]) : undefined, user: match[1]}
}

/** The values the %-tokens of a ProxyCommand stand for (ssh_config(5) TOKENS). */
export interface ProxyCommandTokens {
  /** %h: the HostName (after its own %h expansion). */
  h: string
  /** %k: the HostKeyAlias, else the alias. */
  k: string
  /** %n: the alias as written in homelab.yaml. */
  n: string
  /** %p: the port. */
  p: string
  /** %r: the remote user. */
  r: string
  /** %u: the local user. */
  u: string
  /** %d: the local home folder. */
  d: string
}

/**
 * Expands a ProxyCommand's %-tokens as OpenSSH does: `%%` a literal `%`, `%h` HostName, `%k`
 * HostKeyAlias (else the alias), `%n` the alias, `%p` port, `%r` remote user, plus `%u` local
 * user and `%d` local home. Nothing is quoted (as in OpenSSH: write `'%h'` yourself if needed).
 * @throws ConfigError for an unknown token or a lone `%` at the end (OpenSSH refuses both).
 */
export function expandProxyCommand(command: string, tokens: ProxyCommandTokens): string {
  return command.replaceAll(/%(.?)/gs, (_, c: string) => {
    if (c === '%') return '%'
    if (c in tokens) return tokens[c as keyof ProxyCommandTokens]
    const what = c === '' ? 'a lone % at the end' : `the unknown token %${c}`
    throw new ConfigError(`~/.ssh/config: ProxyCommand "${command}" has ${what} (tokens: %%, %h, %k, %n, %p, %r, %u, %d)`)
  })
}

/**
 * Parses a ConnectTimeout value in OpenSSH's time format (`30`, `30s`, `2m`, `1m30s`) to seconds.
 * @returns seconds, or undefined for 0 (the default then applies)
 * @throws ConfigError for anything else
 */
export function parseConnectTimeout(value: string): number | undefined {
  const units: Record<string, number> = {'': 1, d: 86_400, h: 3600, m: 60, s: 1, w: 604_800}
  if (!/^(?:\d+[smhdw]?)+$/i.test(value)) throw new ConfigError(`~/.ssh/config: ConnectTimeout "${value}" is not a time (seconds, or like 1m30s)`)
  let seconds = 0
  for (const [, n, unit] of value.matchAll(/(\d+)([smhdw]?)/gi)) seconds += Number(n) * units[unit.toLowerCase()]
  if (seconds > MAX_TIMER_SECONDS) throw new ConfigError(`~/.ssh/config: ConnectTimeout "${value}" is longer than ${MAX_TIMER_SECONDS} s (about 24 days), the longest a timer holds`)
  return seconds > 0 ? seconds : undefined
}

/** 2^31-1 ms in seconds: Node fires a longer timer at once. */
const MAX_TIMER_SECONDS = 2_147_483

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_ed25519_sk', 'id_ecdsa_sk', 'id_rsa']

function expandPath(p: string, homeDir: string, vars: Record<string, string>): string {
  let out = p.replace(/^~(?=\/|$)/, homeDir).replaceAll(/%([%dhnpru])/g, (_, c: string) => (c === '%' ? '%' : (vars[c] ?? '')))
  if (!path.isAbsolute(out)) out = path.join(homeDir, '.ssh', out)
  return out
}

/**
 * Resolves homelab.yaml's `ssh:` value through the OpenSSH client config `<homeDir>/.ssh/config`
 * (parsed with the `ssh-config` package; keywords case-insensitive, first value wins as in
 * ssh_config(5)): HostName, User, Port, IdentityFile (with `~` and %d %h %u %r %n %p expanded),
 * IdentitiesOnly, HostKeyAlias, ConnectTimeout, and ProxyJump or ProxyCommand — whichever comes
 * first, `none` meaning none — with the ProxyCommand's %-tokens expanded. A missing config file
 * is fine.
 * @throws ConfigError for a malformed spec, an unreadable config, a bad ConnectTimeout or an
 *   unknown ProxyCommand token.
 */
export async function resolveSshTarget(options: {spec: string; homeDir: string; localUser: string; configFile?: string}): Promise<SshTarget> {
  const {host, port, user} = parseSshSpec(options.spec)
  const configFile = options.configFile ?? path.join(options.homeDir, '.ssh', 'config')
  let computed: Record<string, string | string[]> = {}
  let text: string | undefined
  try {
    text = await fs.readFile(configFile, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`${configFile}: cannot read it`)
  }

  if (text !== undefined) {
    const {default: SSHConfig} = await import('ssh-config')
    computed = SSHConfig.parse(text).compute(host, {ignoreCase: true})
  }

  const first = (key: string): string | undefined => {
    const v = computed[key.toLowerCase()]
    return Array.isArray(v) ? v[0] : v
  }

  const hostName = first('HostName')?.replaceAll('%h', host) ?? host
  const resolvedUser = user ?? first('User') ?? options.localUser
  const resolvedPort = port ?? (first('Port') ? Number(first('Port')) : 22)
  const vars = {d: options.homeDir, h: hostName, n: host, p: String(resolvedPort), r: resolvedUser, u: options.localUser}
  const configured = computed.identityfile === undefined ? [] : [computed.identityfile].flat()
  let identityFiles = configured.filter((f) => f.toLowerCase() !== 'none').map((f) => expandPath(f, options.homeDir, vars))
  if (configured.length === 0) {
    const defaults = DEFAULT_IDENTITIES.map((name) => path.join(options.homeDir, '.ssh', name))
    const exists = await Promise.all(defaults.map((f) => fs.access(f).then(() => true, () => false)))
    identityFiles = defaults.filter((_, i) => exists[i])
  }

  // ProxyJump and ProxyCommand: the one set first wins, even as `none` (ssh_config(5)).
  const keys = Object.keys(computed)
  const jumpFirst = keys.indexOf('proxyjump') !== -1 && (keys.indexOf('proxycommand') === -1 || keys.indexOf('proxyjump') < keys.indexOf('proxycommand'))
  const proxyJump = jumpFirst ? first('ProxyJump') : undefined
  const proxyCommand = jumpFirst ? undefined : first('ProxyCommand')?.trim()
  const hostKeyAlias = first('HostKeyAlias')
  const timeout = first('ConnectTimeout')
  return {
    alias: host,
    connectTimeoutSeconds: timeout === undefined ? undefined : parseConnectTimeout(timeout),
    hostKeyAlias,
    hostName,
    identitiesOnly: first('IdentitiesOnly')?.toLowerCase() === 'yes',
    identityFiles,
    port: resolvedPort,
    proxyCommand:
      proxyCommand && proxyCommand.toLowerCase() !== 'none'
        ? expandProxyCommand(proxyCommand, {d: options.homeDir, h: hostName, k: hostKeyAlias ?? host, n: host, p: String(resolvedPort), r: resolvedUser, u: options.localUser})
        : undefined,
    proxyJump: proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump : undefined,
    user: resolvedUser,
  }
}

/** The names host keys are looked up under: HostKeyAlias, else the alias and the HostName, in known_hosts form. */
export function hostKeyNames(target: SshTarget): string[] {
  const names = target.hostKeyAlias ? [target.hostKeyAlias] : [target.alias, target.hostName]
  return [...new Set(names)].map((n) => knownHostName(n, target.port))
}
