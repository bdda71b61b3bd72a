import {promises as fs} from 'node:fs'
import path from 'node:path'

import {writeFileAtomic} from '../fs/atomic-write.js'

/**
 * The operator's sops age key file, as sops looks it up (sops `age/keysource.go`):
 * `$SOPS_AGE_KEY_FILE`, else `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
 * `<home>/.config/sops/age/keys.txt`. Returns an absolute path.
 */
export function operatorKeyFile(options: {env: Readonly<Record<string, string | undefined>>; homeDir: string}): string {
  const {env} = options
  if (env.SOPS_AGE_KEY_FILE) return path.resolve(env.SOPS_AGE_KEY_FILE)
  const config = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(options.homeDir, '.config')
  return path.resolve(config, 'sops', 'age', 'keys.txt')
}

/**
 * Appends an age identity to a key file in age-keygen's format (`# created: <RFC 3339>`,
 * `# public key: <recipient>`, the `AGE-SECRET-KEY-1…` line), keeping every identity already
 * there. The file ends up mode 0600 (created so, or narrowed); missing folders are created 0700.
 * Written atomically (the old contents plus the new entry).
 *
 * @param comment an extra `# ...` line naming what the key is for
 * @throws NodeJS.ErrnoException from the file system
 */
export async function appendIdentity(options: {file: string; identity: string; recipient: string; comment?: string; now?: Date}): Promise<void> {
  await fs.mkdir(path.dirname(options.file), {mode: 0o700, recursive: true})
  let existing = ''
  try {
    existing = await fs.readFile(options.file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  const created = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const entry = [
    ...(options.comment ? [`# ${options.comment}`] : []),
    `# created: ${created}`,
    `# public key: ${options.recipient}`,
    options.identity,
    '',
  ].join('\n')
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
  await writeFileAtomic(options.file, existing + separator + entry, {mode: 0o600})
}
