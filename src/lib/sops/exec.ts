import {execFile, spawn} from 'node:child_process'
import {constants as fsConstants, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {HomelabError, UsageError} from '../errors.js'
import {signalExitCode} from '../signal-exit.js'
import type {DecryptedSopsFile} from './files.js'
import {serializePlain} from './serialize.js'

/**
 * `homelab secrets exec-env` / `exec-file`, as getsops/sops 3.10 `cmd/sops/subcommand/exec` has
 * them: the decrypted values reach the child only through its environment (exec-env) or through a
 * FIFO / temporary file in a private folder (exec-file), never through its argv; the child's exit
 * status is passed through (128 + n when signal n ended it); SIGHUP, SIGINT, SIGTERM and SIGQUIT
 * sent to this process are forwarded to the child (sops' `forwardedSignals`).
 *
 * Differences from sops, on purpose: the command is an argv (`-- CMD ARG…`), not one string run
 * by `/bin/sh -c`, so nothing is re-parsed by a shell; `{}` is replaced inside each argument.
 */

/** The signals forwarded to the child (sops exec_unix.go `forwardedSignals`). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT']

/** The placeholder exec-file replaces with the file's path (sops: `{}`). */
export const PATH_PLACEHOLDER = '{}'

/**
 * The environment variables exec-env adds: each top-level key of the (first) document with its
 * value as text (string as is, number/boolean as printed, null as ''), in file order. sops
 * exec-env emits the tree as dotenv, which refuses nested values; so does this.
 *
 * @param decrypted a decrypted SOPS file (src/lib/sops decryptSopsFile)
 * @param shown the file name used in messages
 * @throws HomelabError (exit 1) naming the key when a value is a map or list, or a key cannot be an
 *   environment variable name (empty, or holding `=` or NUL)
 */
export function envFromDecrypted(decrypted: DecryptedSopsFile, shown: string): Record<string, string> {
  const [value] = decrypted.values
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new HomelabError(`${shown}: the document is not a map of keys, so it has no variables for exec-env`, {suggestions: ['use homelab secrets exec-file for this file']})
  const env: Record<string, string> = {}
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === '' || key.includes('=') || key.includes('\0')) throw new HomelabError(`${shown}: key "${key}" cannot be an environment variable name`, {suggestions: ['rename the key, or use homelab secrets exec-file']})
    if (v !== null && typeof v === 'object')
      throw new HomelabError(`${shown}: ${key} is a ${Array.isArray(v) ? 'list' : 'map'}; exec-env sets only plain top-level values`, {
        suggestions: ['use homelab secrets exec-file and read the file, or move the values to the top level'],
      })
    env[key] = v === null || v === undefined ? '' : String(v)
  }

  return env
}

/** The plaintext exec-file writes: the decrypted documents in the file's own format and style. */
export function plaintextOf(decrypted: DecryptedSopsFile): string {
  return serializePlain(decrypted.documents, decrypted.format, decrypted.style)
}

/**
 * The name of the file exec-file hands over: `--filename` when given, else the SOPS file's name
 * without its `.sops` part (`secrets.sops.yaml` → `secrets.yaml`), so tools see the extension.
 * @throws UsageError for a name with a `/`, `.` or `..`
 */
export function exposedFileName(sopsFile: string, filename?: string): string {
  const name = filename ?? path.basename(sopsFile).replace(/\.sops(?=\.|$)/, '')
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw new UsageError(`--filename ${name}: give a plain file name, without /`)
  return name
}

/** How the child ended, as this process should exit: its status, or 128 + n for signal n. */
export interface ChildOutcome {
  exitCode: number
  /** The signal that ended the child, when one did. */
  signal?: NodeJS.Signals
}

/**
 * Runs `command` (argv; `command[0]` looked up on PATH) with stdio inherited and `env` as its whole
 * environment, forwarding {@link FORWARDED_SIGNALS} while it runs. The child stays in this
 * process's process group (a terminal's Ctrl-C reaches it directly), so a SIGINT is forwarded
 * only when stdin is not a terminal.
 *
 * @param options.stdoutToStderr the child's stdout goes to this process's stderr (`--json`: stdout holds one JSON document)
 * @returns the child's exit status, or 128 + n when signal n ended it
 * @throws HomelabError (exit 127, or 126 when not executable) when the command cannot be started
 */
export async function runChild(command: readonly string[], env: NodeJS.ProcessEnv, options: {stdoutToStderr?: boolean} = {}): Promise<ChildOutcome> {
  const child = spawn(command[0], command.slice(1), {env, stdio: ['inherit', options.stdoutToStderr ? process.stderr : 'inherit', 'inherit']})
  const handlers = FORWARDED_SIGNALS.map((signal) => {
    const handler = () => {
      if (signal === 'SIGINT' && process.stdin.isTTY) return
      try {
        child.kill(signal)
      } catch {} // already gone
    }

    process.on(signal, handler)
    return [signal, handler] as const
  })
  try {
    return await new Promise<ChildOutcome>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new HomelabError(`cannot run ${command[0]}: ${error.code === 'ENOENT' ? 'no such command on PATH' : (error.code ?? error.message)}`, {
            exitCode: error.code === 'ENOENT' ? 127 : 126,
          }),
        ),
      )
      child.once('exit', (code, signal) => resolve(signal ? {exitCode: signalExitCode(signal), signal} : {exitCode: code ?? 1}))
    })
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler)
  }
}

/**
 * exec-env: runs `command` with the variables of {@link envFromDecrypted} added to `baseEnv`
 * (or, with `pristine`, as the whole environment, like sops `--pristine`).
 */
export async function execWithEnv(options: {command: readonly string[]; variables: Record<string, string>; baseEnv: NodeJS.ProcessEnv; pristine?: boolean; stdoutToStderr?: boolean}): Promise<ChildOutcome> {
  const env = {...(options.pristine ? {} : options.baseEnv), ...options.variables}
  return runChild(options.command, env, {stdoutToStderr: options.stdoutToStderr})
}

/**
 * exec-file: creates a private folder (mode 0700) under the system temp dir, puts `plaintext` there
 * as a FIFO (default; mode 0600; written once, as the child opens it) or, with `fifo: false`, as a
 * regular file (mode 0600), replaces `{}` in every argument with its path, runs the command, and
 * removes the folder afterwards whatever happened (also when the child never opened the FIFO).
 *
 * @param options.onDir called with the private folder's path once it exists (tests)
 * @throws UsageError when no argument holds `{}`; HomelabError when the child cannot be started
 */
export async function execWithFile(options: {
  command: readonly string[]
  plaintext: string
  fileName: string
  fifo: boolean
  env: NodeJS.ProcessEnv
  stdoutToStderr?: boolean
  onDir?: (dir: string) => void
}): Promise<ChildOutcome> {
  if (!options.command.some((a) => a.includes(PATH_PLACEHOLDER)))
    throw new UsageError(`the command has no ${PATH_PLACEHOLDER} for the decrypted file's path`, {suggestions: ['e.g. homelab secrets exec-file FILE -- cat {}']})
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-exec-'))
  let writer: Promise<void> | undefined
  let written = false
  try {
    await fs.chmod(dir, 0o700)
    options.onDir?.(dir)
    const file = path.join(dir, options.fileName)
    if (options.fifo) {
      await promisify(execFile)('mkfifo', ['-m', '600', '--', file])
      // Opening a FIFO for writing blocks until a reader opens it: done in the background.
      writer = (async () => {
        const handle = await fs.open(file, fsConstants.O_WRONLY)
        try {
          await handle.writeFile(options.plaintext)
          written = true
        } finally {
          await handle.close()
        }
      })().catch(() => {}) // the reader went away early (EPIPE), or the folder is being removed
    } else {
      await fs.writeFile(file, options.plaintext, {flag: 'wx', mode: 0o600})
    }

    const command = options.command.map((a) => a.replaceAll(PATH_PLACEHOLDER, file))
    const outcome = await runChild(command, options.env, {stdoutToStderr: options.stdoutToStderr})
    if (writer && !written) {
      // The child never read the FIFO (to the end): open it for reading so the pending open for
      // writing returns, then close it so the write fails with EPIPE and the writer ends.
      const reader = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(() => undefined)
      await reader?.close()
      await writer
    }

    return outcome
  } finally {
    await fs.rm(dir, {force: true, recursive: true})
  }
}
