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
  /** ProxyJump (`[user@]host[:port]`), when set and not `none`. */
  proxyJump?: string
}

/** Splits homelab.yaml's `ssh: [user@]host[:port]`. */
export function parseSshSpec(spec: string): {user?: string; host: string; port?: number} {
  const match = /^(?:([^@\s]+)@)?([^@\s:]+)(?::(\d{1,5}))?$/.exec(spec)
  if (!match) throw new ConfigError(`homelab.yaml: ssh "${spec}" must be [user@]host[:port]`)
  return {host: match[2], port: match[3] ? Number(match[3]) : undefined, user: match[1]}
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_ed25519_sk', 'id_ecdsa_sk', 'id_rsa']

function expandPath(p: string, homeDir: string, vars: Record<string, string>): string {
  let out = p.replace(/^~(?=\/|$)/, homeDir).replaceAll(/%([%dhnpru])/g, (_, c: string) => (c === '%' ? '%' : (vars[c] ?? '')))
  if (!path.isAbsolute(out)) out = path.join(homeDir, '.ssh', out)
  return out
}

/**
 * Resolves homelab.yaml's `ssh:` value through the OpenSSH client config `<homeDir>/.ssh/config`
 * (parsed with the `ssh-config` package; first value wins as in ssh_config(5)): HostName, User,
 * Port, IdentityFile (with `~` and %d %h %u %r %n %p expanded), IdentitiesOnly, HostKeyAlias,
 * ProxyJump. A missing config file is fine.
 * @throws ConfigError for a malformed spec or unreadable config.
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
    computed = SSHConfig.parse(text).compute(host)
  }

  const first = (key: string): string | undefined => {
    const v = computed[key]
    return Array.isArray(v) ? v[0] : v
  }

  const hostName = first('HostName')?.replaceAll('%h', host) ?? host
  const resolvedUser = user ?? first('User') ?? options.localUser
  const resolvedPort = port ?? (first('Port') ? Number(first('Port')) : 22)
  const vars = {d: options.homeDir, h: hostName, n: host, p: String(resolvedPort), r: resolvedUser, u: options.localUser}
  const configured = computed.IdentityFile === undefined ? [] : [computed.IdentityFile].flat()
  let identityFiles = configured.filter((f) => f.toLowerCase() !== 'none').map((f) => expandPath(f, options.homeDir, vars))
  if (configured.length === 0) {
    const defaults = DEFAULT_IDENTITIES.map((name) => path.join(options.homeDir, '.ssh', name))
    const exists = await Promise.all(defaults.map((f) => fs.access(f).then(() => true, () => false)))
    identityFiles = defaults.filter((_, i) => exists[i])
  }

  const proxyJump = first('ProxyJump')
  return {
    alias: host,
    hostKeyAlias: first('HostKeyAlias'),
    hostName,
    identitiesOnly: first('IdentitiesOnly')?.toLowerCase() === 'yes',
    identityFiles,
    port: resolvedPort,
    proxyJump: proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump : undefined,
    user: resolvedUser,
  }
}

/** The names host keys are looked up under: HostKeyAlias, else the alias and the HostName, in known_hosts form. */
export function hostKeyNames(target: SshTarget): string[] {
  const names = target.hostKeyAlias ? [target.hostKeyAlias] : [target.alias, target.hostName]
  return [...new Set(names)].map((n) => knownHostName(n, target.port))
}
