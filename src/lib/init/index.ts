export {createHomelab, type CreateHomelabOptions, type InitResult} from './create.js'
export {appendIdentity, type AppendIdentityResult, inspectKeyFile, type KeyFileTarget, operatorKeyFile} from './key-file.js'
export {planHomelabFiles, type PlannedFile} from './plan.js'
export {checkInitValue, defaultGitUrl, INIT_FLAGS, type InitValues, validateInitValues} from './values.js'
