import {promises as fs} from 'node:fs'
import path from 'node:path'

import {UsageError} from '../errors.js'

/**
 * The git work tree holding `dir`, or undefined: walks up from `dir` (its nearest existing
 * ancestor, symlinks resolved) looking for a `.git` folder or file (a linked work tree or a
 * submodule has a `.git` file). Returns the absolute path of the work tree's top folder.
 * A repository found only through GIT_DIR, or a bare one, is not a work tree here.
 */
export async function gitWorkTreeOf(dir: string): Promise<string | undefined> {
  let current = path.resolve(dir)
  // The folder may not exist yet (the key file's folders are created when it is written).
  for (;;) {
    try {
      current = await fs.realpath(current)
      break
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return undefined
      current = parent
    }
  }

  for (;;) {
    try {
      await fs.lstat(path.join(current, '.git'))
      return current
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return undefined
      current = parent
    }
  }
}

/**
 * Refuses to let a private age key be written to `file` when it lies inside a git work tree,
 * where it could be committed and pushed (as with SOPS_AGE_KEY_FILE pointing at the committed
 * demo key). Call it before anything is generated or written. `env` names the setting that chose
 * the file in the message: SOPS_AGE_KEY_FILE when set, else XDG_CONFIG_HOME, else HOME.
 *
 * When `file` is a symbolic link, its final target is checked (that is the file written).
 *
 * @param file absolute or relative path of the key file about to be written
 * @throws UsageError (exit 3) naming the file, the setting and the work tree; or a link loop
 */
export async function assertKeyFileOutsideGitWorkTree(file: string, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const given = path.resolve(file)
  // The key goes where a symlink points: check the real file's folder, not the link's.
  const abs = await keyFileTarget(given)
  const workTree = await gitWorkTreeOf(path.dirname(abs))
  if (workTree === undefined) return
  const link = abs === given ? '' : ` (a link to ${abs})`
  const setting = env.SOPS_AGE_KEY_FILE
    ? `SOPS_AGE_KEY_FILE=${given}${link}`
    : env.XDG_CONFIG_HOME
      ? `the sops key file ${given}${link} (from XDG_CONFIG_HOME)`
      : `the sops key file ${given}${link} (from HOME)`
  throw new UsageError(`${setting} is inside the git work tree ${workTree}; a new private key is never written where it could be committed`, {
    suggestions: [
      env.SOPS_AGE_KEY_FILE
        ? 'point SOPS_AGE_KEY_FILE at a file outside any repository, e.g. ~/.config/sops/age/keys.txt (copy into it any identity you still need)'
        : 'set SOPS_AGE_KEY_FILE to a file outside any repository (copy into it any identity you still need)',
    ],
  })
}

/**
 * The file a write to `file` really lands in: `file` itself (absolute) unless it is a symbolic
 * link, then the link's final target (followed link by link, relative targets resolved from the
 * link's folder, as the kernel does). The target need not exist (a dangling link gives the path
 * it points at). Folders above are not resolved.
 *
 * @throws UsageError naming `file` after 40 links (a loop, the kernel's ELOOP limit);
 *   NodeJS.ErrnoException from lstat/readlink other than ENOENT
 */
export async function keyFileTarget(file: string): Promise<string> {
  let current = path.resolve(file)
  for (let hops = 0; hops <= 40; hops++) {
    let stat
    try {
      stat = await fs.lstat(current)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return current
      throw error
    }

    if (!stat.isSymbolicLink()) return current
    current = path.resolve(path.dirname(current), await fs.readlink(current))
  }

  throw new UsageError(`the sops key file ${path.resolve(file)} is a loop of symbolic links`, {suggestions: ['point SOPS_AGE_KEY_FILE at a regular file']})
}
