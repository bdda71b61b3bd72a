import {spawn} from 'node:child_process'
import {Duplex} from 'node:stream'
import {StringDecoder} from 'node:string_decoder'

/** How a ProxyCommand ended. */
export interface ProxyExit {
  /** Exit code; null when it was ended by a signal or could not start. */
  code: number | null
  signal: NodeJS.Signals | null
  /** The last non-empty line it wrote on stderr. */
  lastStderrLine?: string
  /** Why it could not start (no /bin/sh), when that is what happened. */
  spawnError?: Error
}

/** A running ProxyCommand whose stdin and stdout carry the SSH connection. */
export interface ProxyProcess {
  /** The command after %-expansion (without the `exec` prefix). */
  command: string
  /** The child's stdout (readable side) and stdin (writable side) as one stream: ssh2's `sock`. */
  sock: Duplex
  /** Settles (never rejects) when the child has exited. */
  exited: Promise<ProxyExit>
  /** True once the child has exited. */
  hasExited(): boolean
  /** Ends the child: SIGTERM now, SIGKILL 2 s later if it is still there. Safe to call twice. */
  kill(): void
}

/**
 * Starts an (already %-expanded) ProxyCommand as OpenSSH does, `sh -c 'exec COMMAND'` (OpenSSH
 * uses `$SHELL`; this always uses /bin/sh so the same line works whatever the login shell),
 * with stdin and stdout piped for SSH and stderr passed to `onStderr` as it arrives (so a
 * `cloudflared access ssh` login URL reaches the person). Never throws: a failure to start shows
 * up as `exited` with `spawnError`.
 */
export function startProxyCommand(command: string, options: {env: NodeJS.ProcessEnv; onStderr?: (text: string) => void}): ProxyProcess {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], {env: options.env, stdio: ['pipe', 'pipe', 'pipe']})
  let exit: ProxyExit | undefined
  let stderrTail = ''
  const decoder = new StringDecoder('utf8')
  child.stderr.on('data', (chunk: Buffer) => {
    const text = decoder.write(chunk)
    stderrTail = (stderrTail + text).slice(-4096)
    options.onStderr?.(text)
  })
  // A write after the child exited (EPIPE) or a read error must not become an unhandled 'error'.
  for (const stream of [child.stdin, child.stdout, child.stderr]) stream.on('error', () => {})
  const lastLine = () =>
    stderrTail
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .at(-1)
  const exited = new Promise<ProxyExit>((resolve) => {
    child.once('error', (error) => {
      exit ??= {code: null, signal: null, spawnError: error}
      resolve(exit)
    })
    // 'close': the exit status AND every stderr byte are in.
    child.once('close', (code, signal) => {
      exit ??= {code, lastStderrLine: lastLine(), signal}
      resolve(exit)
    })
  })
  const sock = Duplex.from({readable: child.stdout, writable: child.stdin})
  sock.on('error', () => {})
  let killTimer: NodeJS.Timeout | undefined
  return {
    command,
    exited,
    hasExited: () => exit !== undefined,
    kill() {
      if (exit !== undefined || child.exitCode !== null || child.signalCode !== null || killTimer) return
      child.kill('SIGTERM')
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000)
      killTimer.unref()
      void exited.then(() => clearTimeout(killTimer))
    },
    sock,
  }
}
