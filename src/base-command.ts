import {Command, Flags, type Interfaces} from '@oclif/core'

import {type ConnectionFlagValues, connectionSettings} from './connection-flags.js'
import {type Homelab, loadHomelab} from './lib/config/load.js'
import {HomelabError, UsageError} from './lib/errors.js'
import {signalExitCode} from './lib/signal-exit.js'
import {colors} from './ui/color.js'
import {errorJson, writeErrorLines} from './ui/error.js'
import type {HostConnectionOptions} from './ui/host-connection.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof HomelabCommand)['baseFlags'] & T['flags']>

/** The global `--repo DIR` flag (HOMELAB_REPO). */
const repoFlag = Flags.directory({
  description: 'homelab repository root (default: the nearest folder up from here holding homelab.yaml)',
  env: 'HOMELAB_REPO',
  helpGroup: 'GLOBAL',
})

/**
 * Base of every homelab command: the shared `--repo` flag, loading `homelab.yaml`, the
 * TTY/prompt rules, and the one place errors become a single line plus an exit code.
 */
export abstract class HomelabCommand extends Command {
  /** `--repo`, offered by every command that finds its homelab; one that never does (init, secrets get) sets `baseFlags = {}`. */
  static override baseFlags: {repo?: typeof repoFlag} = {repo: repoFlag}

  /**
   * Refuses an empty `--repo` (`--repo ''`, `--repo=`) before anything runs: it would silently
   * mean the working directory. Checked on the raw argv (up to `--`) so the error is our one line.
   * @throws UsageError (exit 3) naming --repo
   */
  override async init(): Promise<void> {
    await super.init()
    process.on('SIGINT', this.onInterrupt)
    if ('repo' in (this.constructor as typeof HomelabCommand).baseFlags && emptyRepoFlag(this.argv)) {
      this.parsed = true // the arguments were looked at; spares oclif's dev-mode "did not parse" warning
      throw new UsageError('--repo is empty: give the folder holding homelab.yaml (e.g. --repo ~/src/homelab), or leave --repo out to search up from the working directory')
    }
  }

  /**
   * Ctrl-C (SIGINT) while the command waits (a connection, a host, a child): one `Error: interrupted`
   * line (the JSON error document under --json) and exit 130, instead of Node's silent death by
   * signal. Only when nothing else listens: a journaled write, `secrets edit` or `status --watch`
   * handle SIGINT themselves (roll back, then exit 130; stop watching) and this stands aside.
   */
  private readonly onInterrupt = (): void => {
    if (process.listenerCount('SIGINT') > 1) return
    this.exitNow(new HomelabError('interrupted (SIGINT); whatever the command was waiting for was left as it was', {exitCode: signalExitCode('SIGINT')}))
  }

  /**
   * Reports `err` as every command does (one `Error:` line, or the JSON error document under
   * --json) and exits with its code at once, from a signal handler where throwing cannot reach oclif.
   */
  protected exitNow(err: HomelabError): never {
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(errorJson(err), null, 2)}\n`)
    else writeErrorLines(err)
    process.exit(err.exitCode)
  }

  /** Removes the {@link onInterrupt} listener when the command ends (many commands may run in one process, e.g. tests). */
  override async finally(err: Error | undefined): Promise<unknown> {
    process.removeListener('SIGINT', this.onInterrupt)
    return super.finally(err)
  }

  /**
   * True for commands that write files of the repository: before anything else they undo (or
   * finish) a change a killed run left half done ({@link recoverInterruptedChange}).
   */
  static journaled = false

  /**
   * Loads the homelab of `--repo` or of the working directory; for a {@link HomelabCommand.journaled}
   * command, first recovers an interrupted change of that repository (one line on stderr).
   * @throws ConfigError from loading; TransactionError when another live homelab process is writing it
   */
  protected async homelab(repo: string | undefined): Promise<Homelab> {
    const homelab = await loadHomelab({cwd: process.cwd(), repo})
    if ((this.constructor as typeof HomelabCommand).journaled) await this.recoverJournal(homelab.root)
    return homelab
  }

  /**
   * Undoes (or finishes) the change a killed run left in `root` (its `.homelab-state/journal.json`)
   * and says so in one line on stderr; nothing when there is none. Runs once per command.
   * @throws TransactionError when another live homelab process holds the journal, or it is unreadable
   */
  protected async recoverJournal(root: string): Promise<void> {
    if (this.recovered.has(root)) return
    this.recovered.add(root)
    const {JOURNAL_FILE, recoverInterruptedChange} = await import('./lib/fs/transaction.js')
    const done = await recoverInterruptedChange(root)
    if (!done) return
    const what = done.action === 'rolled back' ? `rolled back the interrupted \`${done.command}\` (started ${done.createdAt}, ${done.files} file${done.files === 1 ? '' : 's'}): every file is as before it` : `finished the cleanup of the interrupted \`${done.command}\` (started ${done.createdAt}), which had written every file`
    this.warn(`recovered from ${JOURNAL_FILE}: ${what}${done.problems.length > 0 ? `; ${done.problems.join('; ')}` : ''}`)
  }

  private recovered = new Set<string>()

  /**
   * For commands that may work on files outside any homelab (`secrets rotate FILE…`): the root of
   * the homelab of `--repo` or the working directory, after recovering its interrupted change
   * ({@link recoverJournal}); undefined when there is no loadable homelab.
   * @throws TransactionError as {@link recoverJournal}
   */
  protected async optionalHomelabRoot(repo: string | undefined): Promise<string | undefined> {
    let root: string | undefined
    try {
      root = (await loadHomelab({cwd: process.cwd(), repo})).root
    } catch {
      return undefined
    }

    await this.recoverJournal(root)
    return root
  }

  /** True when the person can answer prompts: stdin and stderr are TTYs, not CI, not --json. */
  protected canPrompt(): boolean {
    return Boolean(process.stdin.isTTY && process.stderr.isTTY) && !process.env.CI && !this.jsonEnabled()
  }

  /**
   * What opening a host connection (ui/host-connection.ts openHostConnection) takes from this
   * command: whether prompts are possible, the connection flags (src/connection-flags.ts), and
   * stderr for `connecting to HOST…` unless --json.
   */
  protected hostConnectionOptions(flags: ConnectionFlagValues): HostConnectionOptions {
    return {canPrompt: this.canPrompt(), progress: this.jsonEnabled() ? undefined : process.stderr, settings: connectionSettings(flags)}
  }

  /**
   * Returns `value` when given; otherwise asks with `ask` when a person is there, else fails
   * naming the flag (never waits on a prompt nobody can answer).
   */
  protected async valueOrPrompt<T>(value: T | undefined, flag: string, ask: () => Promise<T>): Promise<T> {
    if (value !== undefined) return value
    if (!this.canPrompt()) throw new UsageError(`--${flag} is required when not running in a terminal`)
    return ask()
  }

  /**
   * Every error of a command ends here. oclif's parse errors (unknown flag, missing or unexpected
   * argument, bad value: exit 3 via `oclif.exitCodes` in package.json) keep oclif's own short
   * rendering plus its --help hint; under --json they become one JSON error document instead.
   * Everything else goes through {@link toHomelabError}.
   */
  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    const isOclifError = !(err instanceof HomelabError) && (err.oclif !== undefined || (err as {code?: string}).code === 'EEXIT')
    if (isOclifError) {
      // A parse error: one `Error:` line plus the `→ see homelab COMMAND --help` hint (exit 3), and
      // under --json a small JSON usage error, not oclif's default dump of the whole config with exit 1.
      if ((err as {code?: string}).code !== 'EEXIT' && err.oclif?.exit !== undefined) {
        this.parsed = true // the arguments were looked at; spares oclif's dev-mode "did not parse" warning
        return this.fail(parseErrorAsUsageError(err.message, `${this.config.bin} ${this.id?.replaceAll(':', ' ') ?? ''}`.trim()))
      }

      // An exit (this.exit) passes through.
      return super.catch(err)
    }

    return this.fail(toHomelabError(err))
  }

  /**
   * Renders a HomelabError: the JSON error object under --json; otherwise `Error: <message>` as
   * one unwrapped line on stderr (oclif would hard-wrap it at 80 columns when stderr is not a
   * TTY) and each suggestion on its own line; then exits with the error's code.
   */
  private async fail(err: HomelabError): Promise<unknown> {
    if (this.jsonEnabled()) return super.catch(err)
    writeErrorLines(err)
    this.exit(err.exitCode)
  }

  /**
   * Every `--json` success document gets `schemaVersion: 1` first (issue 17: one contract; the
   * shapes are the JSON Schemas in schemas/<command id with - for spaces>.schema.json).
   */
  protected override toSuccessJson(result: unknown): unknown {
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return result
    return {schemaVersion: 1, ...result}
  }

  /** The `--json` error document (schemas/error.schema.json): {@link errorJson} of the error as a HomelabError. */
  protected override toErrorJson(err: unknown): unknown {
    return errorJson(toHomelabError(err instanceof Error ? err : new Error(String(err))))
  }

  /** Prints `Warning: <text>` as one unwrapped line on stderr (oclif's own warn wraps at 80 columns off a TTY). */
  override warn(input: string | Error): string | Error {
    const c = colors(process.stderr)
    process.stderr.write(`${c.yellow('Warning:')} ${typeof input === 'string' ? input : input.message}\n`)
    return input
  }
}

/** One sentence per file-system error code a person can meet (a wrong --repo, a folder given as a file). */
const ERRNO_SENTENCES: Record<string, string> = {
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'is not a folder',
  EPERM: 'operation not permitted',
}

/** Maps any thrown value to a HomelabError: ours as they are, Ctrl-C on a prompt, file system errors, the rest. */
function toHomelabError(err: Error): HomelabError {
  if (err instanceof HomelabError) return err
  if (err.name === 'ExitPromptError' || err.name === 'AbortPromptError') return new HomelabError('cancelled', {exitCode: 130})
  const errno = err as NodeJS.ErrnoException
  if (errno.code && errno.path) {
    const sentence = ERRNO_SENTENCES[errno.code]
    // A message that already names the path (e.g. atomic-write's, about the target of a temp file) is kept.
    const message = err.message.startsWith(`${errno.path}: `) ? err.message : sentence ? `${errno.path}: ${sentence}` : err.message
    return new HomelabError(message, {
      cause: err,
      suggestions: errno.code === 'ENOENT' || errno.code === 'ENOTDIR' ? ['check the path (and --repo, which names the folder holding homelab.yaml)'] : [],
    })
  }

  return new HomelabError(`unexpected error: ${err.message}`, {
    cause: err,
    suggestions: [process.env.DEBUG ? (err.stack ?? '') : 'set DEBUG=homelab* to see where it came from'],
  })
}

/**
 * An oclif parse error as a one-line usage error (exit 3) for --json: the message's lines joined (oclif
 * splits "Parsing --port" from its reason, and lists missing arguments on lines of their own),
 * without oclif's "See more help with --help", which becomes the suggestion `see <command> --help`.
 */
export function parseErrorAsUsageError(message: string, command: string): UsageError {
  const line = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'See more help with --help')
    .join(' ')
    .replaceAll(/\s+/g, ' ')
  return new UsageError(line, {suggestions: [`see ${command} --help`]})
}

/** True when the raw arguments give `--repo` an empty (or blank) value, before any `--`. */
export function emptyRepoFlag(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') return false
    if (arg === '--repo' && i + 1 < argv.length && argv[i + 1].trim() === '') return true
    if (arg.startsWith('--repo=') && arg.slice('--repo='.length).trim() === '') return true
  }

  return false
}
