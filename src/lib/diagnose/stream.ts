import type {RemoteProcess} from '../ssh/index.js'
import {shellQuote} from '../ssh/shell.js'

/**
 * What {@link startWatched} needs of a host connection: the SSH transport's HostConnection
 * (src/lib/ssh) fits.
 */
export interface StreamHost {
  spawn(command: string, options?: {onStdout?(line: string): void; onStderr?(line: string): void}): Promise<RemoteProcess>
  spawnSudo(command: string, options?: {onStdout?(line: string): void; onStderr?(line: string): void}): Promise<RemoteProcess>
}

/**
 * Wraps a remote shell command so that it ends when our side goes away: the command runs in a
 * process group of its own (`setsid`, util-linux, on every NixOS system), and a watcher reads the
 * channel's stdin until it ends, then sends SIGTERM to that whole group (`kill -TERM -PGID`: dash's kill takes no `--`). The channel's stdin ends
 * when we close it (Ctrl-C here), when the SSH connection drops, or when this process is killed
 * (sshd closes the session), so nothing keeps running on the host, whatever the command spawned
 * (`k3s kubectl logs -f`, `journalctl -f`, a pipeline). The wrapper exits with the command's
 * status (143 when the watcher ended it).
 *
 * The command gets no stdin (`</dev/null`): a background job's stdin is /dev/null in a
 * non-interactive POSIX shell anyway; the watcher gets the real one through fd 3.
 *
 * @param command a POSIX shell command line, built with shellQuote (never raw user text)
 * @returns one `sh` command line
 */
export function watchedScript(command: string): string {
  return [
    'exec 3<&0',
    `setsid sh -c ${shellQuote(command)} </dev/null & p=$!`,
    '( while read -r _ <&3; do :; done; kill -TERM -$p 2>/dev/null ) >/dev/null 2>&1 & w=$!',
    'exec 3<&-',
    'wait $p; s=$?',
    'kill $w 2>/dev/null',
    'exit $s',
  ].join('\n')
}

/** A command running on the host through {@link startWatched}. */
export interface WatchedProcess {
  /** Ends the remote command (closes its stdin: the watcher kills its process group), then waits for its exit. */
  stop(): Promise<number>
  /** The exit status: the command's own, 143 when stopped, 255 when the connection was lost. */
  exited: Promise<number>
}

/**
 * Starts `command` on the host inside {@link watchedScript}, as the login user or (`sudo`) as
 * root with the connection's sudo password handling, streaming its output line by line.
 * @throws SudoPasswordError (sudo) and the transport's errors from opening the channel
 */
export async function startWatched(host: StreamHost, command: string, options: {sudo: boolean; onStdout(line: string): void; onStderr(line: string): void}): Promise<WatchedProcess> {
  const script = watchedScript(command)
  const callbacks = {onStderr: options.onStderr, onStdout: options.onStdout}
  // Through sudo the script runs as root under `sh -c`; otherwise the login shell runs it as is.
  const proc = options.sudo ? await host.spawnSudo(script, callbacks) : await host.spawn(`sh -c ${shellQuote(script)}`, callbacks)
  const exited = proc.exited.then(
    (r) => r.exitCode,
    () => 255,
  )
  return {
    exited,
    async stop() {
      proc.end()
      return exited
    },
  }
}
