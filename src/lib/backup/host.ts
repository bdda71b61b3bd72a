import type {Homelab} from '../config/load.js'
import type {HostConfig} from '../config/schema.js'
import {UsageError} from '../errors.js'
import {pickHost} from '../config/hosts.js'

/**
 * What the backup code needs of a connection to the host: the `exec`/`sudo` pair of the SSH
 * transport's HostConnection (src/lib/ssh, contracts.md), so any HostConnection fits, and tests
 * may pass a connection that runs commands locally.
 */
export interface HostExecOptions {
  stdin?: string
  onStdout?(line: string): void
  onStderr?(line: string): void
  timeoutMs?: number
}

/** Exit code and output of a command on the host. */
export interface HostExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface BackupHost {
  /** Runs a shell command line on the host as the login user. */
  exec(command: string, options?: HostExecOptions): Promise<HostExecResult>
  /** The same as root through `sudo`. */
  sudo(command: string, options?: HostExecOptions): Promise<HostExecResult>
}

/** Quotes one word for a POSIX shell: `'…'`, with `'` written as `'\''`. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/**
 * `systemd-escape --path PATH` (systemd `unit_name_path_escape`): strips surrounding slashes,
 * turns `/` into `-`, writes other bytes outside [A-Za-z0-9:_.] and a leading `.` as `\xNN`;
 * the root is `-`. Used for the instance of kopia-backup-source@.service.
 */
export function systemdEscapePath(pathName: string): string {
  const trimmed = pathName.replace(/\/+/g, '/').replace(/^\/|\/$/g, '')
  if (trimmed === '') return '-'
  let out = ''
  for (const [i, ch] of [...Buffer.from(trimmed, 'utf8')].entries()) {
    const c = String.fromCharCode(ch)
    if (c === '/') out += '-'
    else if ((/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) && ch < 128) out += c
    else out += `\\x${ch.toString(16).padStart(2, '0')}`
  }

  return out
}

