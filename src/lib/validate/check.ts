import type {ValidateContext, KubeObject} from './context.js'
import type {CheckId, Finding} from './finding.js'

/** What a check returns before the runner adds its id, title, status and timing. */
export interface CheckOutcome {
  findings: Finding[]
  /** Why (part of) the check did not run, e.g. "kubectl not found"; absent when it all ran. */
  skipped?: string
}

/** One of the nine checks: an id, a one-line title, and the function that runs it. */
export interface Check {
  id: CheckId
  title: string
  run(context: ValidateContext): Promise<CheckOutcome>
}

/** How findings name an object: `Deployment immich/immich`, `Namespace cloudflared`, `object (document 2)`. */
export function describeObject(object: KubeObject): string {
  const kind = object.kind ?? 'object'
  if (!object.name) return `${kind} (document ${object.index + 1})`
  return object.namespace ? `${kind} ${object.namespace}/${object.name}` : `${kind} ${object.name}`
}

/** True for a Flux object of `group` (e.g. `kustomize.toolkit.fluxcd.io`) and `kind`. */
export function isFlux(object: KubeObject, group: string, kind: string): boolean {
  return object.kind === kind && (object.apiVersion ?? '').startsWith(`${group}/`)
}

/** True for a core (`v1`) object of `kind`. */
export function isCore(object: KubeObject, kind: string): boolean {
  return object.kind === kind && object.apiVersion === 'v1'
}
