import {HomelabError} from '../errors.js'
import {parseRevision} from './revision.js'
import {
  type FluxCondition,
  type FluxObjectBase,
  type FluxObjectRef,
  type FluxState,
  type GitRepositoryObject,
  type HelmReleaseObject,
  type HelmReleaseSnapshot,
  type KustomizationObject,
  type NodeObject,
  RECONCILE_REQUEST_ANNOTATION,
} from './types.js'

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const obj = (v: unknown): Json => (isObject(v) ? v : {})
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

/**
 * Parses the output of `kubectl get <kinds> -A -o json` (a `v1/List`, a single object, or an
 * array of objects, e.g. YAML documents) into typed Flux objects and Nodes. Other kinds are
 * ignored; missing status fields stay undefined (objects never reconciled have no status).
 *
 * Shapes: source-controller `api/v1/gitrepository_types.go`, kustomize-controller
 * `api/v1/kustomization_types.go`, helm-controller `api/v2/helmrelease_types.go` and
 * `snapshot_types.go`, Kubernetes `core/v1` Node.
 *
 * @param input JSON text or the already parsed value
 * @throws HomelabError when `input` is text that is not JSON
 */
export function parseFluxState(input: unknown): FluxState {
  let value = input
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input)
    } catch {
      throw new HomelabError(`kubectl returned output that is not JSON: ${input.slice(0, 80).split('\n')[0]}`)
    }
  }

  const items = Array.isArray(value) ? value : isObject(value) && Array.isArray(value.items) ? value.items : [value]
  const state: FluxState = {gitRepositories: [], helmReleases: [], kustomizations: [], nodes: []}
  for (const item of items) {
    if (!isObject(item)) continue
    const apiVersion = str(item.apiVersion) ?? ''
    const group = apiVersion.split('/')[0]
    switch (item.kind) {
      case 'GitRepository': {
        if (group === 'source.toolkit.fluxcd.io') state.gitRepositories.push(parseGitRepository(item))
        break
      }

      case 'HelmRelease': {
        if (group === 'helm.toolkit.fluxcd.io') state.helmReleases.push(parseHelmRelease(item))
        break
      }

      case 'Kustomization': {
        if (group === 'kustomize.toolkit.fluxcd.io') state.kustomizations.push(parseKustomization(item))
        break
      }

      case 'Node': {
        state.nodes.push(parseNode(item))
        break
      }

      default:
    }
  }

  return state
}

/** Parses `status.conditions[]`; entries without a type are dropped, a bad status becomes `Unknown`. */
export function parseConditions(value: unknown): FluxCondition[] {
  const out: FluxCondition[] = []
  for (const raw of arr(value)) {
    const c = obj(raw)
    const type = str(c.type)
    if (!type) continue
    const status = c.status === 'True' || c.status === 'False' ? c.status : 'Unknown'
    out.push({
      lastTransitionTime: str(c.lastTransitionTime),
      message: typeof c.message === 'string' ? c.message : '',
      observedGeneration: num(c.observedGeneration),
      reason: str(c.reason) ?? '',
      status,
      type,
    })
  }

  return out
}

function parseRefs(value: unknown, defaultNamespace: string): FluxObjectRef[] {
  return arr(value)
    .map((raw) => obj(raw))
    .filter((r) => str(r.name))
    .map((r) => ({kind: str(r.kind), name: str(r.name)!, namespace: str(r.namespace) ?? defaultNamespace}))
}

function base(item: Json): Omit<FluxObjectBase, 'kind'> {
  const metadata = obj(item.metadata)
  const spec = obj(item.spec)
  const status = obj(item.status)
  const namespace = str(metadata.namespace) ?? 'default'
  return {
    apiVersion: str(item.apiVersion) ?? '',
    conditions: parseConditions(status.conditions),
    dependsOn: parseRefs(spec.dependsOn, namespace),
    generation: num(metadata.generation),
    lastHandledReconcileAt: str(status.lastHandledReconcileAt),
    name: str(metadata.name) ?? '',
    namespace,
    observedGeneration: num(status.observedGeneration),
    requestedAt: str(obj(metadata.annotations)[RECONCILE_REQUEST_ANNOTATION]),
    suspended: spec.suspend === true,
  }
}

function parseGitRepository(item: Json): GitRepositoryObject {
  const spec = obj(item.spec)
  const ref = obj(spec.ref)
  const artifact = obj(obj(item.status).artifact)
  const revision = str(artifact.revision)
  return {
    ...base(item),
    artifact: revision
      ? {digest: str(artifact.digest), lastUpdateTime: str(artifact.lastUpdateTime), revision: parseRevision(revision), size: num(artifact.size)}
      : undefined,
    kind: 'GitRepository',
    ref: {branch: str(ref.branch), commit: str(ref.commit), name: str(ref.name), semver: str(ref.semver), tag: str(ref.tag)},
    url: str(spec.url) ?? '',
  }
}

function parseKustomization(item: Json): KustomizationObject {
  const b = base(item)
  const spec = obj(item.spec)
  const status = obj(item.status)
  const sourceRef = obj(spec.sourceRef)
  const applied = str(status.lastAppliedRevision)
  const attempted = str(status.lastAttemptedRevision)
  return {
    ...b,
    kind: 'Kustomization',
    lastAppliedRevision: applied ? parseRevision(applied) : undefined,
    lastAttemptedRevision: attempted ? parseRevision(attempted) : undefined,
    path: str(spec.path) ?? '',
    sourceRef: {kind: str(sourceRef.kind), name: str(sourceRef.name) ?? '', namespace: str(sourceRef.namespace) ?? b.namespace},
  }
}

function parseSnapshot(raw: unknown): HelmReleaseSnapshot | undefined {
  const s = obj(raw)
  const version = num(s.version)
  if (version === undefined) return undefined
  return {
    chartName: str(s.chartName) ?? '',
    chartVersion: str(s.chartVersion) ?? '',
    firstDeployed: str(s.firstDeployed),
    lastDeployed: str(s.lastDeployed),
    status: str(s.status) ?? '',
    version,
  }
}

function parseHelmRelease(item: Json): HelmReleaseObject {
  const b = base(item)
  const spec = obj(item.spec)
  const status = obj(item.status)
  const chartSpec = obj(obj(spec.chart).spec)
  const chartRef = obj(spec.chartRef)
  const source = isObject(chartSpec.sourceRef) ? chartSpec.sourceRef : isObject(spec.chartRef) ? chartRef : undefined
  // Snapshots.Latest(): highest version first (helm-controller api/v2/snapshot_types.go).
  const history = arr(status.history)
    .map((s) => parseSnapshot(s))
    .filter((s): s is HelmReleaseSnapshot => s !== undefined)
    .sort((x, y) => y.version - x.version)
  return {
    ...b,
    chart: str(chartSpec.chart) ?? str(chartRef.name),
    kind: 'HelmRelease',
    lastAttemptedRevision: str(status.lastAttemptedRevision),
    latest: history[0],
    sourceRef: source
      ? {kind: str(source.kind), name: str(source.name) ?? '', namespace: str(source.namespace) ?? b.namespace}
      : undefined,
  }
}

function parseNode(item: Json): NodeObject {
  const status = obj(item.status)
  const ready = parseConditions(status.conditions).find((c) => c.type === 'Ready')
  return {
    kubeletVersion: str(obj(status.nodeInfo).kubeletVersion),
    message: ready?.message ?? 'no Ready condition reported',
    name: str(obj(item.metadata).name) ?? '',
    ready: ready?.status ?? 'Unknown',
    reason: ready?.reason ?? '',
    roles: nodeRoles(obj(obj(item.metadata).labels)),
    since: ready?.lastTransitionTime,
  }
}

/**
 * A Node's roles as `kubectl get nodes` shows them (ROLES): the `<role>` of every
 * `node-role.kubernetes.io/<role>` label, and the value of `kubernetes.io/role`, sorted; k3s
 * labels a server `control-plane` and `master` (and `etcd` with embedded etcd), an agent none.
 */
export function nodeRoles(labels: Record<string, unknown>): string[] {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith('node-role.kubernetes.io/') && key.length > 'node-role.kubernetes.io/'.length) roles.add(key.slice('node-role.kubernetes.io/'.length))
    else if (key === 'kubernetes.io/role' && typeof value === 'string' && value !== '') roles.add(value)
  }

  return [...roles].sort()
}
