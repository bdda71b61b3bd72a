/** `homelab deploy` / `homelab rollback` (owner: deploy). */
export {deployHosts, lockHolder, selectHosts} from './deploy.js'
export {DeployLockedError, deployHost, type DeployHostOptions, DeployStepError, HostDeploy} from './deploy-host.js'
export {describeChange, type GitChange, parsePorcelainZ, PreflightError} from './local-git.js'
export * from './nix.js'
export {planHost, type PlannedStep} from './plan.js'
export {preflight, type PreflightResult, publish} from './preflight.js'
export * from './types.js'
