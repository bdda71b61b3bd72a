/** Gathering `homelab status`: Flux, host and drift facts over one SSH connection. */
export * from './gather.js'
export * from './host-facts.js'
export * from './local-git.js'
export * from './types.js'
