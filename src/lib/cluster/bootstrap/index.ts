/**
 * `homelab cluster bootstrap`: Flux installed on the k3s server with the host's own `flux`, its
 * deploy key and the sops-age Secret made on the host, the committed sync objects applied.
 */
export * from './bootstrap.js'
export * from './git-url.js'
export * from './scripts.js'
export * from './source.js'
export * from './deploy-key-file.js'
