import {Command, Flags, type Interfaces} from '@oclif/core'

import {type Homelab, loadHomelab} from './lib/config/load.js'
import {HomelabError, UsageError} from './lib/errors.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof HomelabCommand)['baseFlags'] & T['flags']>

/**
 * Base of every homelab command: the shared `--repo` flag, loading `homelab.yaml`, the
 * TTY/prompt rules, and the one place errors become a single line plus an exit code.
 */
export abstract class HomelabCommand extends Command {
  static override baseFlags = {
    repo: Flags.directory({
      description: 'homelab repository root (default: the nearest folder up from here holding homelab.yaml)',
      env: 'HOMELAB_REPO',
      helpGroup: 'GLOBAL',
    }),
  }

  /** Loads the homelab of `--repo` or of the working directory. */
  protected async homelab(repo: string | undefined): Promise<Homelab> {
    return loadHomelab({cwd: process.cwd(), repo})
  }

  /** True when the person can answer prompts: stdin and stderr are TTYs, not CI, not --json. */
  protected canPrompt(): boolean {
    return Boolean(process.stdin.isTTY && process.stderr.isTTY) && !process.env.CI && !this.jsonEnabled()
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

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own errors (bad flag, missing argument) already print one line.
    if (!(err instanceof HomelabError) && (err.oclif || (err as {code?: string}).code === 'EEXIT')) return super.catch(err)
    return this.fail(toHomelabError(err))
  }

  /** Renders a HomelabError: JSON error object under --json, else one line plus suggestions; sets the exit code. */
  private async fail(err: HomelabError): Promise<unknown> {
    if (this.jsonEnabled()) return super.catch(err)
    this.error(err.message, {exit: err.exitCode, suggestions: err.suggestions.length > 0 ? err.suggestions : undefined})
  }
}

/** Maps any thrown value to a HomelabError: ours as they are, Ctrl-C on a prompt, file system errors, the rest. */
function toHomelabError(err: Error): HomelabError {
  if (err instanceof HomelabError) return err
  if (err.name === 'ExitPromptError' || err.name === 'AbortPromptError') return new HomelabError('cancelled', {exitCode: 130})
  const errno = err as NodeJS.ErrnoException
  if (errno.code && errno.path) return new HomelabError(err.message, {cause: err})
  return new HomelabError(`unexpected error: ${err.message}`, {
    cause: err,
    suggestions: [process.env.DEBUG ? (err.stack ?? '') : 'set DEBUG=homelab* to see where it came from'],
  })
}
