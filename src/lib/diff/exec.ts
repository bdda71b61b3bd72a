/**
 * The few processes `homelab diff`'s cluster side runs (git, tar, kubectl), on node:child_process:
 * the cluster side needs no more, and execa's ~100 modules were a noticeable part of a diff's
 * start-up (bench/diff).
 */
import {spawn} from 'node:child_process'

/** How a process ended: its exit code (-1 when it could not start or was killed) and its output as text. */
export interface ProcessResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** What {@link run} takes. */
export interface RunOptions {
  cwd?: string
  /** Kills the process after this many ms (SIGTERM); its result then has exit code -1. */
  timeout?: number
  /** Bytes written to stdin, then closed (default: stdin is /dev/null). */
  input?: Buffer
}

/**
 * Runs `file` with `args` (no shell) and collects stdout and stderr as UTF-8.
 * @returns the result; never rejects (a process that cannot start has exit code -1 and the reason in stderr)
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const child = spawn(file, args, {cwd: options.cwd, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'], timeout: options.timeout})
  const result = collect(child, true)
  if (options.input) child.stdin!.end(options.input)
  return result
}

/** Waits for a child to end, collecting its stderr and (with `capture`) its stdout. Never rejects. */
function collect(child: ReturnType<typeof spawn>, capture: boolean): Promise<ProcessResult> {
  return new Promise<ProcessResult>((resolve) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    if (capture) child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    let failed: Error | undefined
    child.on('error', (error) => {
      failed = error
    })
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8')
      resolve({exitCode: failed || code === null ? -1 : code, stderr: failed ? `${stderr}${failed.message}` : stderr, stdout: Buffer.concat(out).toString('utf8')})
    })
  })
}

/**
 * Runs `from` with its stdout piped into `into`'s stdin (`from | into`), both without a shell; the
 * OS pipe is shared, as a shell does.
 * @returns both results (`from`'s stdout is empty: it went to `into`)
 */
export async function pipe(from: {file: string; args: readonly string[]; cwd?: string}, into: {file: string; args: readonly string[]; cwd?: string}): Promise<[ProcessResult, ProcessResult]> {
  const a = spawn(from.file, from.args, {cwd: from.cwd, stdio: ['ignore', 'pipe', 'pipe']})
  // The pipe itself is handed to `into` (the data never passes through this process).
  const b = spawn(into.file, into.args, {cwd: into.cwd, stdio: [a.stdout!, 'pipe', 'pipe']})
  // `into` has its own copy of the read end (spawn duplicated it); ours is closed.
  a.stdout!.destroy()
  return Promise.all([collect(a, false), collect(b, true)])
}
