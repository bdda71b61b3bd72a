import {execa} from 'execa'
import {existsSync, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {type AgeIdentity, loadIdentities, parseIdentities} from '../../age/identities.js'
import {type GitAccess, loadGitAccess} from '../../config/git-access.js'
import {hostDir} from '../../config/hosts-file.js'
import type {Homelab} from '../../config/load.js'
import type {HostConfig} from '../../config/schema.js'
import {HomelabError, UsageError} from '../../errors.js'
import {applyChanges, type FileChange} from '../../fs/transaction.js'
import {signalExitCode} from '../../signal-exit.js'
import {hostKeyNames, parseSshSpec, resolveSshTarget} from '../../ssh/config.js'
import {knownHostName} from '../../ssh/known-hosts.js'
import {commitInstallFiles, type InstallCommit} from './commit.js'
import {readDiskDevice} from './disk.js'
import {ACCESS_TOKENS_SECRET, ADMIN_PASSWORD_HASH_SECRET, DEPLOY_KEY_SECRET, HOST_SECRETS_FILE, type HostSecrets, type HostSecretValues, openHostSecrets, secretValue, withHostSecrets} from './host-secrets.js'
import {generateEd25519} from './keys.js'
import {pinInstalledHostKey} from './known-hosts-pin.js'
import type {HardwareConfigBackend} from './nixos-anywhere-flags.js'
import {hashPassword} from './password-hash.js'
import {buildFlakeText, buildInstallPlan, FACTER_HARDWARE_CONFIGURATION, HOST_AGE_KEY_PATH, HOST_FLAKE_DIR, HOST_SSH_KEY_PATH, type InstallPlan} from './plan.js'
import {locateNixosAnywhere, NixosAnywhereMissingError, type NixosAnywhereRunner, runNixosAnywhere} from './runner.js'

/** The reference copy of the host bootstrap flake, copied to the host's /etc/nixos. */
export const BOOTSTRAP_FLAKE = 'nixos/flake.nix'

/**
 * The folder holding a host's bootstrap flake (flake.nix, optional flake.lock) and values file
 * (configuration.nix, with homelab.diskDevice): nixos/hosts/<host>/ when `homelab host add` wrote
 * it, else nixos/ (the first host's: nixos/flake.nix and nixos/configuration.nix).
 */
export function hostFilesDir(root: string, host: string): string {
  return existsSync(path.join(root, hostDir(host), 'flake.nix')) ? hostDir(host) : path.dirname(BOOTSTRAP_FLAKE)
}
/** Shown for the private working folder in a dry run (it is created, 0700, only when installing). */
export const DRY_RUN_WORKDIR = '<workdir>'

/** What {@link prepareInstall} takes. */
export interface PrepareInstallOptions {
  homelab: Homelab
  host: string
  /** `[user@]address[:port]` of the running installer; default root@ the host's ssh address. */
  target?: string
  /** An age key file holding the identity to give the host; default the operator's sops identities. */
  ageKeyFile?: string
  hardwareConfig: HardwareConfigBackend
  env: NodeJS.ProcessEnv
  homeDir: string
  localUser: string
  /** A dry run shows `nix run` when nixos-anywhere cannot run, instead of failing. */
  dryRun: boolean
}

/** Everything checked and decided before anything changes. */
export interface PreparedInstall {
  homelab: Homelab
  host: HostConfig
  target: string
  port?: number
  disk: string
  gitAccess: GitAccess & {file: string}
  secrets: HostSecrets
  identitySource: string
  /** True when the host secrets hold admin/password_hash already. */
  hasPasswordHash: boolean
  /** True when a deploy key must be generated (git access deploy-key and none stored). */
  needsDeployKey: boolean
  runner: NixosAnywhereRunner
  /** Set when nixos-anywhere cannot run here (dry runs only). */
  runnerProblem?: string
  /** known_hosts: the file (absolute), the names the host's key is looked up under, the name it is pinned as. */
  knownHosts: {file: string; names: string[]; pinName: string}
  /** `git+file://…` of the repository work tree. */
  homelabUrl: string
  hardwareConfig: HardwareConfigBackend
  hasFlakeLock: boolean
  /** The folder of the host's bootstrap flake and values file, repo-relative (see {@link hostFilesDir}). */
  filesDir: string
}

/**
 * Checks everything an install needs, changing nothing: the host is in homelab.yaml, the target
 * parses, the disk to erase is named (see readDiskDevice), the git access file loads, an identity
 * decrypts the host secrets file, a token-method homelab has git/access_tokens, the bootstrap
 * flake exists, nixos-anywhere can run.
 *
 * @throws UsageError (3) for an unknown host or a bad --target; ConfigError; HostIdentityError;
 *   HomelabError (1) for a missing access token; NixosAnywhereMissingError (1) unless a dry run
 */
export async function prepareInstall(options: PrepareInstallOptions): Promise<PreparedInstall> {
  const {homelab} = options
  const host = homelab.config.hosts.find((h) => h.name === options.host)
  if (!host) throw new UsageError(`host ${options.host} is not in homelab.yaml (hosts: ${homelab.config.hosts.map((h) => h.name).join(', ')})`)
  const ssh = await resolveSshTarget({homeDir: options.homeDir, localUser: options.localUser, spec: host.ssh})
  let target: string
  let port: number | undefined
  if (options.target === undefined) target = `root@${ssh.alias}`
  else {
    let parsed
    try {
      parsed = parseSshSpec(options.target)
    } catch {
      throw new UsageError(`--target ${options.target}: must be [user@]address[:port] of the running installer (e.g. root@192.168.1.50)`)
    }

    target = `${parsed.user ?? 'root'}@${parsed.host}`
    port = parsed.port
  }

  const filesDir = hostFilesDir(homelab.root, host.name)
  const bootstrapFlake = `${filesDir}/flake.nix`
  const disk = await readDiskDevice(homelab.root, `${filesDir}/configuration.nix`)
  const gitAccess = await loadGitAccess(homelab)
  const {identities, from} = await candidateIdentities(options)
  const secrets = await openHostSecrets(homelab.root, identities, from)
  if (gitAccess.method === 'token' && secretValue(secrets, ACCESS_TOKENS_SECRET) === undefined)
    throw new HomelabError(
      `${HOST_SECRETS_FILE} has no ${ACCESS_TOKENS_SECRET.replace('/', '.')} (${gitAccess.file} method token): set it with printf %s '${gitAccess.forge}=TOKEN' | homelab secrets set ${HOST_SECRETS_FILE} ${ACCESS_TOKENS_SECRET.replace('/', '.')} --value-stdin, then run again; nothing was erased`,
    )
  try {
    await fs.access(path.join(homelab.root, bootstrapFlake))
  } catch {
    throw new HomelabError(`${bootstrapFlake}: missing; it is the host bootstrap flake copied to the host's /etc/nixos (see templates/host-bootstrap/)`)
  }

  const hasFlakeLock = await fs.access(path.join(homelab.root, filesDir, 'flake.lock')).then(() => true, () => false)
  let runner: NixosAnywhereRunner
  let runnerProblem: string | undefined
  try {
    runner = await locateNixosAnywhere(options.env)
  } catch (error) {
    if (!(error instanceof NixosAnywhereMissingError) || !options.dryRun) throw error
    runner = {kind: 'nix-run', nix: 'nix'}
    runnerProblem = error.message
  }

  return {
    disk,
    filesDir,
    gitAccess,
    hardwareConfig: options.hardwareConfig,
    hasFlakeLock,
    hasPasswordHash: secretValue(secrets, ADMIN_PASSWORD_HASH_SECRET) !== undefined,
    homelab,
    homelabUrl: await gitFileUrl(homelab.root),
    host,
    identitySource: secrets.identity.source,
    knownHosts: {file: path.join(homelab.root, homelab.config.knownHosts), names: hostKeyNames(ssh), pinName: knownHostName(ssh.hostKeyAlias ?? ssh.alias, ssh.port)},
    needsDeployKey: gitAccess.method === 'deploy-key' && secretValue(secrets, DEPLOY_KEY_SECRET) === undefined,
    port,
    runner,
    runnerProblem,
    secrets,
    target,
  }
}

async function candidateIdentities(options: PrepareInstallOptions): Promise<{identities: AgeIdentity[]; from: string}> {
  if (options.ageKeyFile === undefined) {
    const identities = await loadIdentities({env: options.env, homeDir: options.homeDir})
    return {from: 'SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or the sops key file', identities}
  }

  let text: string
  try {
    text = await fs.readFile(options.ageKeyFile, 'utf8')
  } catch (error) {
    throw new UsageError(`--age-key-file ${options.ageKeyFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }

  return {from: `--age-key-file ${options.ageKeyFile}`, identities: await parseIdentities(text, options.ageKeyFile)}
}

/** `git+file://<top>` (plus `?dir=<rel>` when the homelab is a subfolder) of the work tree holding `root`. */
async function gitFileUrl(root: string): Promise<string> {
  const top = await execa('git', ['rev-parse', '--show-toplevel'], {cwd: root, reject: false})
  if (top.exitCode !== 0) throw new HomelabError(`${root} is not in a git work tree: the install builds the homelab flake from it (git+file), so it must be one`, {suggestions: ['git init && git add -A']})
  const rel = path.relative(top.stdout.trim(), root)
  return `git+file://${top.stdout.trim()}${rel === '' ? '' : `?dir=${rel}`}`
}

/** The plan of a prepared install in `workDir`. */
export function planOf(prepared: PreparedInstall, workDir: string): InstallPlan {
  return buildInstallPlan({
    hardwareConfig: prepared.hardwareConfig,
    host: prepared.host.name,
    port: prepared.port,
    runner: prepared.runner,
    sources: {ageIdentity: prepared.identitySource, bootstrapFlake: `${prepared.filesDir}/flake.nix`, bootstrapFlakeLock: prepared.hasFlakeLock ? `${prepared.filesDir}/flake.lock` : undefined},
    target: prepared.target,
    workDir,
  })
}

/** What {@link performInstall} did. */
export interface InstallOutcome {
  plan: InstallPlan
  hostKeyFingerprint: string
  /** The deploy key's public half when one was generated (add it to the forge, read-only). */
  deployKeyPublic?: string
  passwordHash: 'set' | 'kept'
  /** known_hosts lines removed (an old key of the reinstalled host). */
  replacedKnownHostsLines: number[]
  /** The commit of known_hosts and the host secrets file (undefined with `commit: false`). */
  commit?: InstallCommit
  /** Repository-relative paths the install changed (known_hosts, and the host secrets file when it set a value). */
  changedFiles: string[]
}

/**
 * Installs: generates the SSH host key (and a deploy key when needed), hashes the password, then
 * writes the host secrets file and known_hosts together (journaled, all or nothing), builds the
 * extra-files tree in a private 0700 folder, runs nixos-anywhere and removes the folder; once it
 * succeeded, commits the two files (`commit: true`, see commitInstallFiles) so the first deploy
 * ships them.
 *
 * @param password the new admin password, or undefined to keep the stored hash
 * @param onEvent progress lines for the person (never a secret)
 * @throws HomelabError (1) when nixos-anywhere fails (its exit code in the message)
 */
export async function performInstall(
  prepared: PreparedInstall,
  options: {password?: string; interactive: boolean; env: NodeJS.ProcessEnv; onEvent?: (line: string) => void; commit: boolean},
): Promise<InstallOutcome> {
  const say = options.onEvent ?? (() => {})
  const hostKey = await generateEd25519(`root@${prepared.host.name}`)
  const deployKey = prepared.needsDeployKey ? await generateEd25519(`homelab deploy key of ${prepared.host.name}`) : undefined
  const values: HostSecretValues = {}
  if (options.password !== undefined) values[ADMIN_PASSWORD_HASH_SECRET] = await hashPassword(options.password)
  if (deployKey) values[DEPLOY_KEY_SECRET] = deployKey.privateKey
  const secretsText = withHostSecrets(prepared.secrets, values)
  const knownHostsBefore = await fs.readFile(prepared.knownHosts.file, 'utf8').catch(() => null)
  const pinned = pinInstalledHostKey(knownHostsBefore ?? '', prepared.knownHosts.names, prepared.knownHosts.pinName, hostKey.blob)
  const changes: FileChange[] = [{after: pinned.text, before: knownHostsBefore, path: prepared.knownHosts.file}]
  if (secretsText !== null) changes.push({after: secretsText, before: prepared.secrets.text, path: prepared.secrets.abs})
  await applyChanges(changes, {command: `host install ${prepared.host.name}`, root: prepared.homelab.root})
  say(`pinned the new host key ${hostKey.fingerprint} of ${prepared.host.name} in ${path.relative(prepared.homelab.root, prepared.knownHosts.file)}`)
  if (secretsText !== null) say(`stored ${Object.keys(values).join(' and ')} in ${HOST_SECRETS_FILE}`)

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-install-'))
  try {
    await fs.chmod(workDir, 0o700)
    const plan = planOf(prepared, workDir)
    const identityText = `# homelab host install: the age identity of ${prepared.host.name}'s sops-nix\n# public key: ${prepared.secrets.identity.recipient}\n${prepared.secrets.identity.identity}\n`
    // Only etc/nixos (flake.nix, flake.lock, the hardware report) is the build flake's `path:`
    // input, so key.txt and the host key never enter the Nix store.
    const bootstrap = await fs.readFile(path.join(prepared.homelab.root, prepared.filesDir, 'flake.nix'))
    const contents = new Map<string, string | Buffer>([
      [HOST_AGE_KEY_PATH, identityText],
      [HOST_SSH_KEY_PATH, hostKey.privateKey],
      [`${HOST_SSH_KEY_PATH}.pub`, `${hostKey.publicKey}\n`],
      [`${HOST_FLAKE_DIR}/flake.nix`, bootstrap],
    ])
    if (prepared.hasFlakeLock) contents.set(`${HOST_FLAKE_DIR}/flake.lock`, await fs.readFile(path.join(prepared.homelab.root, prepared.filesDir, 'flake.lock')))
    if (prepared.hardwareConfig === 'nixos-facter') contents.set(`${HOST_FLAKE_DIR}/hardware-configuration.nix`, FACTER_HARDWARE_CONFIGURATION)
    await writeExtraFiles(plan, contents)
    await fs.mkdir(plan.buildFlakeDir, {mode: 0o700})
    await fs.writeFile(path.join(plan.buildFlakeDir, 'flake.nix'), buildFlakeText(path.join(plan.extraFilesDir, HOST_FLAKE_DIR), prepared.homelabUrl, prepared.host.flakeInput))
    say(`running ${plan.commandLine}`)
    const {code, interrupted} = await runNixosAnywhere(plan.argv, {env: options.env, interactive: options.interactive})
    if (interrupted)
      throw new HomelabError(`interrupted by ${interrupted}: nixos-anywhere was ended while installing ${prepared.host.name}; ${prepared.disk} on ${prepared.target} may be partly written, run homelab host install ${prepared.host.name} again`, {
        exitCode: signalExitCode(interrupted),
      })
    if (code !== 0)
      throw new HomelabError(`nixos-anywhere failed (exit ${code}) installing ${prepared.host.name} on ${prepared.target}; its output is above. ${prepared.disk} may be partly written: fix the cause and run homelab host install ${prepared.host.name} again`)
    const changed = changes.map((c) => c.path)
    const what = ['pin its SSH host key', ...Object.keys(values).map((v) => `store ${v}`)].join(', ')
    const commit = options.commit ? await commitInstallFiles(prepared.homelab.root, changed, `Install ${prepared.host.name}: ${what}`, options.env) : undefined
    return {
      changedFiles: changed.map((f) => path.relative(prepared.homelab.root, f)),
      commit,
      deployKeyPublic: deployKey?.publicKey,
      hostKeyFingerprint: hostKey.fingerprint,
      passwordHash: options.password === undefined ? 'kept' : 'set',
      plan,
      replacedKnownHostsLines: pinned.removed,
    }
  } finally {
    await fs.rm(workDir, {force: true, recursive: true})
  }
}

/** Writes the extra-files tree: folders 0755 (tar applies them to the host's /etc, /var), files with their planned modes. */
async function writeExtraFiles(plan: InstallPlan, contents: Map<string, string | Buffer>): Promise<void> {
  await fs.mkdir(plan.extraFilesDir, {mode: 0o755})
  await fs.chmod(plan.extraFilesDir, 0o755)
  for (const file of plan.extraFiles) {
    const dir = path.dirname(file.path)
    let sofar = plan.extraFilesDir
    for (const part of dir.split('/')) {
      sofar = path.join(sofar, part)
      // eslint-disable-next-line no-await-in-loop
      await fs.mkdir(sofar, {mode: 0o755}).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
    }

    const content = contents.get(file.path)
    if (content === undefined) continue // written by nixos-anywhere
    const abs = path.join(plan.extraFilesDir, file.path)
    // eslint-disable-next-line no-await-in-loop
    await fs.writeFile(abs, content, {flag: 'wx', mode: file.mode})
    // eslint-disable-next-line no-await-in-loop
    await fs.chmod(abs, file.mode)
  }
}
