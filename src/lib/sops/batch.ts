import path from 'node:path'

import {type AgeIdentity, loadIdentities, type LoadIdentitiesOptions} from '../age/identities.js'
import {type CreationRule, loadSopsConfig, matchCreationRule, type SopsConfig, unusedCreationRules} from './creation-rules.js'
import {listRepoFiles} from '../validate/repo-files.js'
import {listSopsFiles} from './repo.js'

/** One SOPS file a batch command works on. */
export interface SopsTarget {
  /** The name to show and report: as given on the command line, or relative to the homelab root. */
  file: string
  /** Its absolute path. */
  path: string
}

/** Options for {@link sopsBatch}. */
export interface SopsBatchOptions extends LoadIdentitiesOptions {
  /** The files named on the command line (relative to `cwd`); none means every SOPS file of the homelab. */
  files: readonly string[]
  /** The folder the given files are relative to. */
  cwd: string
  /** The homelab root, asked for only when no file is given (it may throw "not a homelab"). */
  homelabRoot: () => Promise<string>
  /** With no file given, keep only the files a creation rule of the root's `.sops.yaml` matches. */
  withCreationRule?: boolean
}

/**
 * What `secrets rotate` and `secrets updatekeys` start from: the operator's age identities
 * ({@link loadIdentities}) and the SOPS files to work on (the given ones, else every SOPS file of
 * the homelab, see {@link listSopsFiles}, optionally only those a creation rule matches).
 *
 * @throws AgeIdentityError from {@link loadIdentities}; SopsConfigError when `withCreationRule`
 *   is set and the homelab's `.sops.yaml` is missing or malformed; whatever `homelabRoot` throws
 */
export async function sopsBatch(options: SopsBatchOptions): Promise<SopsBatch> {
  const identities = await loadIdentities({env: options.env, homeDir: options.homeDir})
  if (options.files.length > 0) return {identities, targets: options.files.map((file) => ({file, path: path.resolve(options.cwd, file)})), unmatched: [], unusedRules: []}
  const root = await options.homelabRoot()
  let files = await listSopsFiles(root)
  let unmatched: string[] = []
  let unusedRules: CreationRule[] = []
  let config: SopsConfig | undefined
  if (options.withCreationRule) {
    const loaded = await loadSopsConfig({dir: root})
    config = loaded
    unmatched = files.filter((rel) => !matchCreationRule(loaded, path.join(root, rel)))
    files = files.filter((rel) => matchCreationRule(loaded, path.join(root, rel)))
    unusedRules = unusedCreationRules(loaded, (await listRepoFiles(root)).map((rel) => path.join(root, rel)))
  }

  return {config, identities, targets: files.map((file) => ({file, path: path.join(root, file)})), unmatched, unusedRules}
}

/** What {@link sopsBatch} found. `unmatched` and `unusedRules` are filled only with `withCreationRule` and no file given. */
export interface SopsBatch {
  identities: AgeIdentity[]
  /** The files to work on. */
  targets: SopsTarget[]
  /** The homelab's `.sops.yaml`, when it was loaded. */
  config?: SopsConfig
  /** SOPS files of the homelab (root-relative) that no creation rule matches: left out of `targets`. */
  unmatched: string[]
  /** Creation rules that decide no file of the repository (a typo in `path_regex`, most often). */
  unusedRules: CreationRule[]
}
