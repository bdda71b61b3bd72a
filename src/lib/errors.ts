/**
 * The one error family of the CLI. Library code throws these; the base command
 * (`src/base-command.ts`) turns them into a single clear line, the suggestions, and the
 * exit code, also under `--json`.
 *
 * Exit codes (the README's table):
 * - 0 ok;
 * - 1 failure, degraded state or findings (the default of this class);
 * - 2 a host cannot be reached: DNS, TCP, SSH handshake, host key unknown or changed,
 *   authentication, a lost connection ({@link HostUnreachableError}; also the R2 endpoint);
 * - 3 usage error ({@link UsageError}): oclif's parse errors (unknown flag, missing or unexpected
 *   argument, bad value: `oclif.exitCodes` in package.json) and unknown commands or topics
 *   (`src/hooks/command-not-found.ts`) as well as ours (a flag missing without a TTY, a bad value,
 *   a refused location such as a key file inside a git work tree, a declined confirmation);
 * - 128+n cancelled by signal n: 130 for Ctrl-C at a prompt, 130/143/129 when SIGINT/SIGTERM/SIGHUP
 *   interrupt `secrets edit` or a journaled write (`src/lib/fs/transaction.ts`; the
 *   numbers in `src/lib/signal-exit.ts`).
 */
export class HomelabError extends Error {
  /** Process exit code this error maps to. oclif reads `exitCode` under `--json`. */
  readonly exitCode: number
  /** What the person can do next, one line each. */
  readonly suggestions: string[]

  constructor(message: string, options: {exitCode?: number; suggestions?: string[]; cause?: unknown} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.exitCode = options.exitCode ?? 1
    this.suggestions = options.suggestions ?? []
  }
}

/** Bad input from the person (a flag, an argument, a missing flag without a TTY, a refused file location). Exit 3. */
export class UsageError extends HomelabError {
  constructor(message: string, options: {suggestions?: string[]} = {}) {
    super(message, {exitCode: 3, ...options})
  }
}

/** A file the CLI reads is missing, unparsable or fails its schema; the message names file:line and key. */
export class ConfigError extends HomelabError {}

/** A host cannot be reached (DNS, TCP, SSH handshake, host key, authentication, a lost connection). Exit 2. */
export class HostUnreachableError extends HomelabError {
  constructor(message: string, options: {suggestions?: string[]; cause?: unknown} = {}) {
    super(message, {exitCode: 2, ...options})
  }
}

/** True for errors the base command renders as one line (ours, and Node's system errors that name a path). */
export function isHomelabError(err: unknown): err is HomelabError {
  return err instanceof HomelabError
}
