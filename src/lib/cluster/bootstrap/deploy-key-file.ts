import {promises as fs} from 'node:fs'
import path from 'node:path'

import {UsageError} from '../../errors.js'
import {specialKind} from '../../fs/read-regular.js'

/**
 * Reads `--deploy-key-file`: an unencrypted OpenSSH (or PEM) private key, which Flux's
 * source-controller uses as `identity` without a passphrase. Checked here with ssh2's key parser
 * so a wrong file fails before anything is sent; the text is then sent to the host on stdin only.
 *
 * @returns the key text (ending in a newline)
 * @throws UsageError (exit 3) naming the file when it is missing, not a regular file, not a
 *   private key, or encrypted
 */
export async function readDeployKeyFile(file: string, cwd: string): Promise<string> {
  const abs = path.resolve(cwd, file)
  let text: string
  try {
    const kind = specialKind(await fs.stat(abs))
    if (kind) throw new UsageError(`--deploy-key-file ${file}: is ${kind}, not a key file`)
    text = await fs.readFile(abs, 'utf8')
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(`--deploy-key-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`)
  }

  // ssh2 is CommonJS: Node's ESM loader does not see its named export utils; use the default.
  const ssh2 = await import('ssh2')
  const {utils} = (ssh2 as unknown as {default?: typeof ssh2}).default ?? ssh2
  const parsed = utils.parseKey(text)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(key.message)
    throw new UsageError(`--deploy-key-file ${file}: ${encrypted ? 'the key is encrypted; Flux needs a key without a passphrase' : 'not an SSH private key'}`, {
      suggestions: encrypted ? [`make an unencrypted copy: cp ${file} k && ssh-keygen -p -N '' -f k`] : ['ssh-keygen -t ed25519 -N "" -f flux-deploy-key makes one'],
    })
  }

  if (!key.isPrivateKey()) throw new UsageError(`--deploy-key-file ${file}: a public key; give the private half`)
  return text.endsWith('\n') ? text : `${text}\n`
}
