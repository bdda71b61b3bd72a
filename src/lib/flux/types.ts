import type {Revision} from './revision.js'

/** The Flux kinds the CLI reads. */
export type FluxKind = 'GitRepository' | 'HelmRelease' | 'Kustomization'

/** Fully qualified resource names for `kubectl get` of each kind (group from the Flux APIs). */
export const FLUX_RESOURCES: Readonly<Record<FluxKind, string>> = {
  GitRepository: 'gitrepositories.source.toolkit.fluxcd.io',
  HelmRelease: 'helmreleases.helm.toolkit.fluxcd.io',
  Kustomization: 'kustomizations.kustomize.toolkit.fluxcd.io',
}

/** The annotation `flux reconcile` sets (fluxcd/pkg `apis/meta`: ReconcileRequestAnnotation). */
export const RECONCILE_REQUEST_ANNOTATION = 'reconcile.fluxcd.io/requestedAt'

/**
 * A status condition (Kubernetes `metav1.Condition`). Decide on `status`, never on `reason`:
 * reasons changed across Flux versions (old objects say `GitOperationSucceed`).
 */
export interface FluxCondition {
  type: string
  status: 'False' | 'True' | 'Unknown'
  reason: string
  message: string
  /** RFC 3339 time the status last changed; undefined when absent. */
  lastTransitionTime?: string
  observedGeneration?: number
}

/** A reference to another object (`dependsOn`, `sourceRef`); namespace defaults to the referrer's. */
export interface FluxObjectRef {
  kind?: string
  name: string
  namespace: string
}

/** What every Flux object shares. */
export interface FluxObjectBase {
  kind: FluxKind
  apiVersion: string
  namespace: string
  name: string
  /** `metadata.generation`; undefined when absent. */
  generation?: number
  /** `spec.suspend` (absent = false). */
  suspended: boolean
  conditions: FluxCondition[]
  /** `status.observedGeneration`. */
  observedGeneration?: number
  /** `status.lastHandledReconcileAt` (fluxcd/pkg meta.ReconcileRequestStatus): the last requestedAt value the controller acted on. */
  lastHandledReconcileAt?: string
  /** `metadata.annotations["reconcile.fluxcd.io/requestedAt"]`. */
  requestedAt?: string
  /** `spec.dependsOn`. */
  dependsOn: FluxObjectRef[]
}

/** GitRepository `source.toolkit.fluxcd.io/v1` (source-controller `api/v1/gitrepository_types.go`). */
export interface GitRepositoryObject extends FluxObjectBase {
  kind: 'GitRepository'
  url: string
  /** `spec.ref` as given: branch, tag, semver, name, commit. */
  ref: {branch?: string; commit?: string; name?: string; semver?: string; tag?: string}
  /** `status.artifact`: what the source serves now; undefined before the first successful fetch. */
  artifact?: {revision: Revision; digest?: string; lastUpdateTime?: string; size?: number}
}

/** Kustomization `kustomize.toolkit.fluxcd.io/v1` (kustomize-controller `api/v1/kustomization_types.go`). */
export interface KustomizationObject extends FluxObjectBase {
  kind: 'Kustomization'
  /** `spec.path` in the source. */
  path: string
  sourceRef: FluxObjectRef
  /** `status.lastAppliedRevision`: the source revision last applied successfully. */
  lastAppliedRevision?: Revision
  /** `status.lastAttemptedRevision`: the source revision of the last attempt. */
  lastAttemptedRevision?: Revision
}

/** One entry of HelmRelease v2 `status.history` (helm-controller `api/v2/snapshot_types.go` Snapshot). */
export interface HelmReleaseSnapshot {
  version: number
  status: string
  chartName: string
  chartVersion: string
  /** RFC 3339. */
  lastDeployed?: string
  /** RFC 3339. */
  firstDeployed?: string
}

/** HelmRelease `helm.toolkit.fluxcd.io/v2` (helm-controller `api/v2/helmrelease_types.go`). */
export interface HelmReleaseObject extends FluxObjectBase {
  kind: 'HelmRelease'
  /** `spec.chart.spec.chart`, or the `spec.chartRef` name. */
  chart?: string
  sourceRef?: FluxObjectRef
  /** `status.history[0]` after sorting by version (the latest release); undefined before the first install. */
  latest?: HelmReleaseSnapshot
  /** `status.lastAttemptedRevision` (a chart version, e.g. `1.2.3`). */
  lastAttemptedRevision?: string
}

export type FluxObject = GitRepositoryObject | HelmReleaseObject | KustomizationObject

/** A Kubernetes Node as far as `status` cares. */
export interface NodeObject {
  name: string
  /** The node's Ready condition status; `Unknown` when the kubelet stopped reporting. */
  ready: 'False' | 'True' | 'Unknown'
  message: string
  /** `status.nodeInfo.kubeletVersion`, e.g. `v1.33.5+k3s1`. */
  kubeletVersion?: string
  /** The Ready condition's reason, e.g. `KubeletReady`, `KubeletNotReady`, `NodeStatusUnknown`. */
  reason?: string
  /** RFC 3339 time the Ready condition last changed (`lastTransitionTime`). */
  since?: string
  /** From the `node-role.kubernetes.io/<role>` labels, sorted (as kubectl's ROLES column); [] for none. */
  roles?: string[]
}

/** Everything one `kubectl get … -A -o json` call returned, by kind. */
export interface FluxState {
  gitRepositories: GitRepositoryObject[]
  kustomizations: KustomizationObject[]
  helmReleases: HelmReleaseObject[]
  nodes: NodeObject[]
}

/** `<Kind>/<namespace>/<name>`: a stable key for one object. */
export function objectKey(obj: {kind: string; namespace: string; name: string}): string {
  return `${obj.kind}/${obj.namespace}/${obj.name}`
}
