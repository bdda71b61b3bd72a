import {z} from 'zod'

import {ConfigError} from '../errors.js'
import {NotRegularFileError, readRegularFile} from '../fs/read-regular.js'
import {type Homelab, parseYamlWithSchema} from './load.js'

/** Host secret (in the host secrets file) holding the read-only deploy key (OpenSSH private key). */
export const DEPLOY_KEY_SECRET = 'git/deploy_key'
/** Host secret holding Nix's `access-tokens` value (`host=token` pairs, space separated). */
export const ACCESS_TOKENS_SECRET = 'git/access_tokens'
/** Host secret holding the admin user's password hash (yescrypt or sha-512 crypt). */
export const ADMIN_PASSWORD_HASH_SECRET = 'admin/password_hash'

/** One OpenSSH public key without comment: `<type> <base64>`. */
const publicKeyLine = z
  .string()
  .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,2}$/, 'must be one OpenSSH public key, "<type> <base64>"')

/**
 * The git access file (`nixos/git-access.json`, named by homelab.yaml `git.hostAccess`): how
 * root on each host fetches this repository when `homelab deploy` runs `nix flake update`.
 * Read by the host module (nixos/git-access.nix, builtins.fromJSON) and by the CLI.
 *
 * - `deploy-key`: a `git+ssh://` input. The private key is the host secret `git/deploy_key`
 *   (sops-nix), root's ssh uses it for `forge`, whose host keys are pinned in
 *   `programs.ssh.knownHosts` from `forgeHostKeys`.
 * - `token`: a `github:`/`gitlab:`/`git+https://` input. The host secret `git/access_tokens`
 *   becomes Nix's `access-tokens` setting through an `!include` of a sops-nix template.
 */
export const gitAccessFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    method: z.enum(['deploy-key', 'token']),
    /** The forge's SSH host name, e.g. github.com. */
    forge: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a host name like github.com'),
    /** The forge's published SSH host keys (`<type> <base64>`), pinned on every host. */
    forgeHostKeys: z.array(publicKeyLine).default([]),
  })
  .refine((file) => file.method !== 'deploy-key' || file.forgeHostKeys.length > 0, {
    message: 'method deploy-key needs the forge\'s SSH host keys in forgeHostKeys',
    path: ['forgeHostKeys'],
  })

/** Parsed git access file. */
export type GitAccess = z.infer<typeof gitAccessFileSchema>

/**
 * Loads the git access file named by homelab.yaml `git.hostAccess`.
 * @throws ConfigError when it is missing or invalid (`file:line: key: message`).
 */
export async function loadGitAccess(homelab: Homelab): Promise<GitAccess & {file: string}> {
  const rel = homelab.config.git.hostAccess
  let text: string
  try {
    text = await readRegularFile(homelab.root, rel)
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error
    throw new ConfigError(`${rel}: missing (homelab.yaml git.hostAccess names it)`, {
      suggestions: ['create it with {"method": "deploy-key", "forge": "github.com", "forgeHostKeys": ["ssh-ed25519 AAAA…"]}'],
    })
  }

  // JSON is YAML: parsing it as YAML gives line numbers for schema errors.
  return {...parseYamlWithSchema(text, rel, gitAccessFileSchema), file: rel}
}
