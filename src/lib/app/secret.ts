import path from 'node:path'

import {UsageError} from '../errors.js'

/**
 * The app's SOPS Secret, through the SOPS engine (`src/lib/sops/`): the creation rule check made
 * before anything is written, and the in-memory encryption for the all-or-nothing writer.
 */

/**
 * Fails unless a creation rule of the homelab's `.sops.yaml` matches `file`.
 * @param root repository root (absolute); `file` is repo-relative
 * @throws UsageError "no creation rule in .sops.yaml matches <file>" (one line)
 */
export async function checkSecretRule(options: {root: string; file: string}): Promise<void> {
  const {loadSopsConfig, matchCreationRule, creationRulePath} = await import('../sops/index.js')
  const config = await loadSopsConfig({dir: options.root})
  const abs = path.join(options.root, options.file)
  if (!matchCreationRule(config, abs))
    throw new UsageError(`no creation rule in ${path.relative(options.root, config.file) || '.sops.yaml'} matches ${creationRulePath(config, abs)}; cannot encrypt the app's Secret`, {
      suggestions: ['add a creation rule whose path_regex matches the apps folder (see .sops.yaml), or drop --secret'],
    })
}

/**
 * Encrypts the plaintext Secret YAML in memory with the creation rule matching `file` and returns
 * the SOPS file text (nothing is written; the plaintext never touches the disk).
 * @throws SopsConfigError / SopsError from the engine (`encryptDocumentText`; messages never include a value)
 */
export async function encryptSecret(options: {root: string; file: string; plaintext: string}): Promise<string> {
  const {encryptDocumentText} = await import('../sops/index.js')
  return encryptDocumentText({configDir: options.root, file: path.join(options.root, options.file), plaintext: options.plaintext})
}
