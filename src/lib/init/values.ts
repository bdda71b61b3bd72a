import {z} from 'zod'

import {dns1123Label, homelabConfigSchema, hostSchema} from '../config/schema.js'
import {UsageError} from '../errors.js'

/** What `homelab init` asks for; each has a flag of the same kebab-case name in the command. */
export interface InitValues {
  /** Host name: `hosts[0].name`, `networking.hostName`, `nixosConfigurations.<hostName>`. */
  hostName: string
  /** The operator's login on the host (`homelab.adminUser`). */
  adminUser: string
  /** SSH target `[user@]host[:port]` (`hosts[0].ssh`). */
  sshTarget: string
  /** Public DNS zone of the apps. */
  domain: string
  /** Flux cluster name: the folder `flux/clusters/<cluster>`. */
  cluster: string
  /** Git URL Flux pulls (GitRepository spec.url), e.g. `ssh://git@github.com/me/homelab`. */
  gitUrl: string
  /** One OpenSSH public key line allowed to log in as adminUser; undefined when none was found. */
  sshPubKey?: string
}

/** A Unix login name (useradd's default NAME_REGEX, shadow-utils). */
export const unixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name (lowercase letters, digits, _ and -)')

const gitUrl = z.string().regex(/^(ssh|https?):\/\/\S+$/, 'must be an ssh:// or https:// Git URL')
const sshPubKey = z.string().regex(/^(ssh|ecdsa|sk)-[a-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$/, 'must be one OpenSSH public key line')

/** The zod schema of each value, shared by flags, prompts and the library. */
export const initValueSchemas = {
  adminUser: unixUser,
  cluster: dns1123Label,
  domain: homelabConfigSchema.shape.domain,
  gitUrl,
  hostName: dns1123Label,
  sshPubKey,
  sshTarget: hostSchema.shape.ssh,
} as const

/** The flag that sets each value (for error messages). */
export const INIT_FLAGS: Record<keyof InitValues, string> = {
  adminUser: 'user',
  cluster: 'cluster',
  domain: 'domain',
  gitUrl: 'git-url',
  hostName: 'host',
  sshPubKey: 'ssh-key',
  sshTarget: 'ssh',
}

/**
 * Checks one value against its schema.
 * @returns undefined when valid, else the problem (for prompts' `validate`)
 */
export function checkInitValue(key: keyof InitValues, value: string): string | undefined {
  const result = initValueSchemas[key].safeParse(value)
  return result.success ? undefined : result.error.issues[0]?.message
}

/**
 * Validates every value.
 * @throws UsageError naming the flag and the rule, e.g. "--host: must be a DNS-1123 label ..."
 */
export function validateInitValues(values: InitValues): InitValues {
  for (const key of Object.keys(INIT_FLAGS) as Array<keyof InitValues>) {
    const value = values[key]
    if (value === undefined) continue
    const problem = checkInitValue(key, value)
    if (problem) throw new UsageError(`--${INIT_FLAGS[key]} ${JSON.stringify(value)}: ${problem}`)
  }

  return values
}

/** The default Git URL Flux pulls when none is given: a GitHub repository named `homelab` of the admin user. */
export function defaultGitUrl(adminUser: string): string {
  return `ssh://git@github.com/${adminUser}/homelab`
}

/**
 * The flake URL of the repository for the host bootstrap flake (Nix flake reference syntax,
 * nix manual "flake references"): `github:<owner>/<repo>?ref=<branch>` for an https:// GitHub
 * URL (the host then fetches it with the token method of nixos/git-access.json: Nix's
 * `access-tokens` are sent with its own requests to the forge, which a `github:` input makes,
 * not with git's), else `git+<url>?ref=<branch>` (ssh:// with the deploy key).
 */
export function flakeUrlOf(url: string, branch: string): string {
  const github = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(url)
  if (github) return `github:${github[1]}/${github[2]}?ref=${branch}`
  return `git+${url}?ref=${branch}`
}
