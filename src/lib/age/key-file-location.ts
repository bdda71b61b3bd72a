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
 * @param file absolute or relative path of the key file about to be written
 * @throws UsageError (exit 3) naming the file, the setting and the work tree
 */
export async function assertKeyFileOutsideGitWorkTree(file: string, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const abs = path.resolve(file)
  const workTree = await gitWorkTreeOf(path.dirname(abs))
  if (workTree === undefined) return
  const setting = env.SOPS_AGE_KEY_FILE
    ? `SOPS_AGE_KEY_FILE=${abs}`
    : env.XDG_CONFIG_HOME
      ? `the sops key file ${abs} (from XDG_CONFIG_HOME)`
      : `the sops key file ${abs} (from HOME)`
  throw new UsageError(`${setting} is inside the git work tree ${workTree}; a new private key is never written where it could be committed`, {
    suggestions: [
      env.SOPS_AGE_KEY_FILE
        ? 'point SOPS_AGE_KEY_FILE at a file outside any repository, e.g. ~/.config/sops/age/keys.txt (copy into it any identity you still need)'
        : 'set SOPS_AGE_KEY_FILE to a file outside any repository (copy into it any identity you still need)',
    ],
  })
}
