export {CHECKS, buildContext, type ValidateOptions, type ValidateReport, validateRepo} from './run.js'
export {CHECK_IDS, type CheckId, type CheckResult, type CheckStatus, type Finding, type Severity} from './finding.js'
