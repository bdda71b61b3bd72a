import type {Homelab} from '../lib/config/load.js'
import type {HostConfig} from '../lib/config/schema.js'
import {HomelabError} from '../lib/errors.js'
import type {ConvergenceItem} from '../lib/flux/converge.js'
import type {RemoteRunner} from '../lib/flux/kubectl.js'
import type {ConnectHostOptions} from '../lib/ssh/index.js'
import {colors} from './color.js'
import {convergencePending, renderPending} from './status.js'

/**
 * `deploy --wait` in the deploy result (`flux` in `homelab deploy --json`): whether the cluster
 * converged on the pushed commit, after how long (ms), each object's last state, and why not.
 */
export interface FluxWaitResult {
  converged: boolean
  commit: string
  elapsedMs: number
  items: ConvergenceItem[]
  /** Why it did not converge (a failed Kustomization, a timeout, the host unreachable). */
  message?: string
}

/**
 * Waits after a deploy (or `cluster bootstrap`) until Flux runs `commit` (src/lib/flux
 * `waitForConvergence`) over `connection` or a new connection to `host` (a k3s server), showing the pending objects live on stderr when `live`.
 * Never throws for a failure to converge or to connect: the result says so (converged false).
 */
export async function waitForFlux(options: {
  homelab: Homelab
  host: HostConfig
  commit: string
  timeoutMs: number
  env: NodeJS.ProcessEnv
  live: boolean
  callbacks: Pick<ConnectHostOptions, 'askHostKey' | 'askPassphrase' | 'askSudoPassword'>
  /** --connect-timeout, seconds (default ConnectTimeout from ~/.ssh/config, else 20). */
  connectTimeoutSeconds?: number
  /** An open connection to `host` to wait over (left open); without it a new one is opened and closed. */
  connection?: RemoteRunner
}): Promise<FluxWaitResult> {
  const [{connectHost}, {ConvergenceError, waitForConvergence}] = await Promise.all([import('../lib/ssh/index.js'), import('../lib/flux/converge.js')])
  const c = colors(process.stderr)
  const started = Date.now()
  let items: ConvergenceItem[] = []
  let drawn = 0
  let opened: Awaited<ReturnType<typeof connectHost>> | undefined
  try {
    const connection =
      options.connection ??
      (opened = await connectHost({...options.callbacks, connectTimeoutSeconds: options.connectTimeoutSeconds, env: options.env, homelab: options.homelab, host: options.host}))
    const result = await waitForConvergence({
      commit: options.commit,
      connection,
      onProgress(progress) {
        items = progress.items
        if (!options.live) return
        const pending = convergencePending(progress.items)
        const text = pending.length === 0 ? '' : `Flux: ${renderPending(pending, progress.elapsedMs, c)}`
        const clear = process.stderr.isTTY && drawn > 0 ? `\u001B[${drawn}F\u001B[J` : ''
        if (text) process.stderr.write(`${clear}${text}\n`)
        drawn = text ? text.split('\n').length : 0
      },
      timeoutMs: options.timeoutMs,
    })
    return {commit: options.commit, converged: true, elapsedMs: result.elapsedMs, items: result.items}
  } catch (error) {
    if (!(error instanceof HomelabError)) throw error
    return {
      commit: options.commit,
      converged: false,
      elapsedMs: Date.now() - started,
      items: error instanceof ConvergenceError ? error.items : items,
      message: error.message,
    }
  } finally {
    await opened?.close()
  }
}

/** One line for the deploy report: converged after N s, or why not. */
export function renderFluxWait(result: FluxWaitResult): string {
  const c = colors()
  const took = `${(result.elapsedMs / 1000).toFixed(1)}s`
  if (result.converged) return `${c.green('✓')} Flux applied ${result.commit.slice(0, 7)}: every Kustomization Ready at it (${took})`
  return `${c.red('✗')} Flux: ${result.message} (${took})`
}
