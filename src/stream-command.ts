import type {HostConnection} from './lib/ssh/index.js'

/**
 * For the streaming commands (`homelab logs`, `homelab host logs`, `homelab host exec`): runs
 * `command` on the host with runStreaming (src/lib/diagnose/run.ts), its stdout lines to this
 * process's stdout and its stderr lines to stderr,
 * (or, with `collect`, into its arrays: for --json) until it exits or the person presses Ctrl-C (SIGINT) or sends SIGTERM/SIGHUP: then the remote
 * process group is ended before this returns.
 * @returns the remote exit status, or 128+signal (130 for Ctrl-C) when interrupted
 * @throws SudoPasswordError (sudo), the transport's errors
 */
export async function streamOnHost(connection: HostConnection, command: string, options: {sudo: boolean; collect?: {stdout: string[]; stderr: string[]}}): Promise<number> {
  const {runStreaming} = await import('./lib/diagnose/run.js')
  const controller = new AbortController()
  let signalNumber = 0
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((name) => {
    const handler = () => {
      signalNumber = {SIGHUP: 1, SIGINT: 2, SIGTERM: 15}[name]
      controller.abort()
    }

    process.on(name, handler)
    return [name, handler] as const
  })
  try {
    const result = await runStreaming(connection, command, {
      onStderr: (line) => (options.collect ? options.collect.stderr.push(line) : process.stderr.write(`${line}\n`)),
      onStdout: (line) => (options.collect ? options.collect.stdout.push(line) : process.stdout.write(`${line}\n`)),
      signal: controller.signal,
      sudo: options.sudo,
    })
    return result.interrupted ? 128 + signalNumber : result.exitCode
  } finally {
    for (const [name, handler] of handlers) process.removeListener(name, handler)
  }
}
