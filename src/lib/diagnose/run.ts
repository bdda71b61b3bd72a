import {K3S_KUBECONFIG} from '../flux/kubectl.js'
import {startWatched, type StreamHost} from './stream.js'

/** What {@link runStreaming} reports. */
export interface StreamingResult {
  /** The remote command's exit status (143 when it was stopped, 255 when the connection was lost). */
  exitCode: number
  /** True when `signal` aborted it (Ctrl-C): the remote process group was ended. */
  interrupted: boolean
}

/**
 * Runs `command` on the host inside the watcher of {@link startWatched}, streaming its lines to
 * `onStdout`/`onStderr`, until it exits or `signal` aborts; on abort the remote command (its
 * whole process group) is ended before this returns.
 * @throws SudoPasswordError (sudo), the transport's errors from opening the channel
 */
export async function runStreaming(host: StreamHost, command: string, options: {sudo: boolean; signal?: AbortSignal; onStdout(line: string): void; onStderr(line: string): void}): Promise<StreamingResult> {
  const proc = await startWatched(host, command, options)
  let interrupted = false
  const onAbort = () => {
    interrupted = true
    void proc.stop()
  }

  if (options.signal?.aborted) onAbort()
  else options.signal?.addEventListener('abort', onAbort, {once: true})
  try {
    return {exitCode: await proc.exited, interrupted}
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * Whether `k3s kubectl` must run through sudo on this host: true when the login user cannot read
 * k3s's kubeconfig (root-only by default), decided by one `test -r`.
 */
export async function kubectlNeedsSudo(host: {exec(command: string): Promise<{exitCode: number}>}): Promise<boolean> {
  return (await host.exec(`test -r ${K3S_KUBECONFIG}`)).exitCode !== 0
}
