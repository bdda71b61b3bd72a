import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'

import {assertKeyFileOutsideGitWorkTree} from '../age/key-file-location.js'
import {HomelabError, UsageError} from '../errors.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {appendIdentity, type AppendIdentityResult, inspectKeyFile, octal, operatorKeyFile} from './key-file.js'
import {DEFAULT_BRANCH, planHomelabFiles, type PlannedFile} from './plan.js'
import {plannedSecrets} from './secrets.js'
import {type InitValues, validateInitValues} from './values.js'

/** Options of {@link createHomelab}. */
export interface CreateHomelabOptions {
  /** Folder of the new homelab: created when missing, refused when not empty. */
  dir: string
  values: InitValues
  /** Root of the CLI's own repository, whose templates and host module are copied. */
  sourceRoot: string
  /** Environment for the key file lookup (SOPS_AGE_KEY_FILE, XDG_CONFIG_HOME) and git. */
  env: Readonly<Record<string, string | undefined>>
  /** The operator's home folder (fallback of the key file lookup). */
  homeDir: string
  /** Clock for the key file's `# created:` line. */
  now?: Date
}

/** What `homelab init` did (also its `--json` output). */
export interface InitResult {
  /** Absolute path of the new repository. */
  dir: string
  /** The new homelab's age recipient (in .sops.yaml). */
  recipient: string
  /** Absolute path of the key file the identity was appended to (mode 0600). */
  keyFile: string
  /** The file really written when `keyFile` is a symbolic link (its final target); absent otherwise. */
  keyFileTarget?: string
  /** The key file's former mode as 4 octal digits (e.g. `0644`) when it was narrowed to 0600; absent otherwise. */
  keyFileModeWas?: string
  /** Every file written, repository-relative, sorted. */
  files: string[]
  /** The branch `git init` created. */
  branch: string
  /** False when no SSH public key was given or found: nixos/configuration.nix then asks for one. */
  sshKeyFound: boolean
}

/**
 * Creates a new homelab repository in `dir`: every file of {@link planHomelabFiles}, the two SOPS
 * files encrypted to a new age identity (age-encryption `generateX25519Identity`), `git init`
 * on branch main, and finally the identity appended to the operator's sops key file (never
 * inside the repository). Nothing is left behind on failure: the files written are removed and
 * the key file is only touched last.
 *
 * @throws UsageError when `dir` is not empty (or is a file), a value is invalid, or the key file
 *   would be inside the new repository or inside any other git work tree (checked before anything
 *   is generated or written)
 * @throws HomelabError when a source file is missing, git fails, or the file system refuses
 */
export async function createHomelab(options: CreateHomelabOptions): Promise<InitResult> {
  const values = validateInitValues(options.values)
  const dir = path.resolve(options.dir)
  const existed = existsSync(dir)
  if (existed) {
    const stat = await fs.stat(dir)
    if (!stat.isDirectory()) throw new UsageError(`${options.dir} is a file; homelab init needs an empty or new folder`)
    const entries = await fs.readdir(dir)
    if (entries.length > 0)
      throw new UsageError(`${options.dir} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}); homelab init only fills an empty or new folder`, {
        suggestions: ['pass a new folder: homelab init ~/src/my-homelab'],
      })
  }

  const keyFile = operatorKeyFile({env: options.env, homeDir: options.homeDir})
  if (keyFile === dir || keyFile.startsWith(`${dir}${path.sep}`))
    throw new UsageError(`the sops key file ${keyFile} would be inside the new repository ${dir}`, {
      suggestions: ['point SOPS_AGE_KEY_FILE (or XDG_CONFIG_HOME) outside the repository'],
    })
  await assertKeyFileOutsideGitWorkTree(keyFile, options.env)
  await inspectKeyFile(keyFile)

  const {generateX25519Identity, identityToRecipient} = await import('age-encryption')
  const identity = await generateX25519Identity()
  const recipient = await identityToRecipient(identity)
  const files = await planHomelabFiles({recipient, sourceRoot: options.sourceRoot, values})
  const sopsConfig = files.find((f) => f.path === '.sops.yaml')
  if (!sopsConfig) throw new HomelabError('templates/homelab has no .sops.yaml')
  for (const secret of plannedSecrets(values.cluster))
    files.push({content: await encryptForNewRepo(dir, secret.path, secret.plaintext, sopsConfig.content), path: secret.path})

  let appended: AppendIdentityResult | undefined
  try {
    await writeFiles(dir, files)
    await gitInit(dir, options.env)
    appended = await appendIdentity({comment: `homelab ${values.hostName} (homelab init, ${dir})`, file: keyFile, identity, now: options.now, recipient})
  } catch (error) {
    await removeWritten(dir, existed)
    if (error instanceof HomelabError) throw error
    throw new HomelabError(`homelab init failed, nothing was kept: ${(error as Error).message}`, {cause: error})
  }

  return {
    branch: DEFAULT_BRANCH,
    dir,
    files: files.map((f) => f.path).sort(),
    keyFile,
    ...(appended && appended.target !== keyFile ? {keyFileTarget: appended.target} : {}),
    ...(appended?.narrowedFrom === undefined ? {} : {keyFileModeWas: octal(appended.narrowedFrom)}),
    recipient,
    sshKeyFound: values.sshPubKey !== undefined,
  }
}

/** Encrypts one plaintext YAML file with the creation rules of the new repository's .sops.yaml. */
async function encryptForNewRepo(dir: string, rel: string, plaintext: string, sopsYaml: string): Promise<string> {
  const sops = await import('../sops/index.js')
  const config = sops.parseSopsConfig(sopsYaml, path.join(dir, '.sops.yaml'))
  return sops.encryptDocumentText({config, file: path.join(dir, rel), plaintext})
}

async function writeFiles(dir: string, files: PlannedFile[]): Promise<void> {
  await fs.mkdir(dir, {recursive: true})
  for (const file of files) {
    const abs = path.join(dir, file.path)
    await fs.mkdir(path.dirname(abs), {recursive: true})
    await writeFileAtomic(abs, file.content, {mode: file.mode ?? 0o644})
  }
}

/** `git init` on the default branch (git >= 2.28 for --initial-branch). */
async function gitInit(dir: string, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const {execa} = await import('execa')
  const result = await execa('git', ['init', '--quiet', `--initial-branch=${DEFAULT_BRANCH}`], {cwd: dir, env: {...env}, extendEnv: false, reject: false})
  if (result.failed)
    throw new HomelabError(`git init in ${dir} failed: ${String(result.stderr || result.message).split('\n')[0]}`, {
      suggestions: ['install git (>= 2.28) and run homelab init again'],
    })
}

/** Removes what createHomelab wrote: the whole folder when it created it, else its contents. */
async function removeWritten(dir: string, existed: boolean): Promise<void> {
  if (!existed) {
    await fs.rm(dir, {force: true, recursive: true})
    return
  }

  for (const entry of await fs.readdir(dir).catch(() => [])) await fs.rm(path.join(dir, entry), {force: true, recursive: true})
}
