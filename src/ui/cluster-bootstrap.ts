import type {BootstrapStep, DeployKeyReport} from '../lib/cluster/bootstrap/index.js'
import type {ChalkInstance as Colors} from 'chalk'

const STEP_NAMES: Record<BootstrapStep['step'], string> = {'deploy-key': 'deploy key', flux: 'Flux', 'sops-age': 'sops-age', sync: 'sync objects'}

/** One line per finished step: `✓ Flux: created — Flux v2.7.3 installed (…) (12.3s)`; unchanged steps dim. */
export function renderStep(step: BootstrapStep, c: Colors): string {
  const took = `${(step.ms / 1000).toFixed(1)}s`
  const mark = step.result === 'unchanged' ? c.dim('=') : c.green('✓')
  const text = `${mark} ${STEP_NAMES[step.step]}: ${step.result}, ${step.detail} (${took})`
  return step.result === 'unchanged' ? c.dim(text) : text
}

/**
 * The deploy key lines: the public key always (it is public), and when the key is new to the
 * Secret, where to add it on the forge (read-only) before Flux can fetch.
 */
export function renderDeployKey(key: DeployKeyReport, changed: boolean, page: string, c: Colors): string {
  const lines = [`Deploy key (public): ${key.publicKey}`]
  if (changed && key.source !== 'kept') lines.push(c.yellow(`Add it to the repository as a read-only deploy key: ${page}. Flux fetches once it is there.`))
  else lines.push(c.dim(`(already in the cluster; it must be a deploy key at ${page})`))
  return lines.join('\n')
}
