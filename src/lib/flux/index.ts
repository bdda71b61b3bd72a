/**
 * Reading and driving Flux v2 on the host: parse GitRepository (source.toolkit.fluxcd.io/v1),
 * Kustomization (kustomize.toolkit.fluxcd.io/v1) and HelmRelease (helm.toolkit.fluxcd.io/v2)
 * status, decide health, request reconciliation and wait for a commit to converge.
 */
export * from './converge.js'
export * from './duration.js'
export * from './health.js'
export * from './kubectl.js'
export * from './parse.js'
export * from './reconcile.js'
export * from './revision.js'
export * from './types.js'
